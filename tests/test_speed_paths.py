"""The optimised inference path against the plain network, and the speed benchmarks' checks."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import pose
from helpers import shared_path
from pose.inference import InferenceModel, optimize_for_inference
from test_fuse import randomise_batchnorm


def test_optimised_copy_gives_the_reference_heatmaps():
    weights = shared_path("reference/hrnet_small_w8_256x192_official.pth")
    model = pose.build_model("hrnet_w8", weights=str(weights)).eval()
    x = torch.load(shared_path("reference/input_2x3x256x192.pt"), weights_only=True)
    expected = torch.load(shared_path("reference/hrnet_small_w8_256x192_official_output.pt"),
                          weights_only=True)
    fast = optimize_for_inference(model)
    assert isinstance(fast, InferenceModel) and fast.preset is model.preset
    assert fast.module.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert not any(p.requires_grad for p in fast.parameters())
    assert model.bn1.running_var.numel() == 64  # the original keeps its BN layers
    out = fast(x)
    assert out.dtype == torch.float32 and out.is_contiguous()
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-4)
    plain = optimize_for_inference(model, fold_bn=False, channels_last=False)
    torch.testing.assert_close(plain(x[:1]), expected[:1], rtol=0, atol=1e-4)


def test_bf16_autocast_and_compile_options_run():
    net = randomise_batchnorm(pose.build_model("hrnet_w4", input_size=(64, 64),
                                               num_modules=(1, 1, 1), num_blocks=1))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = net(x)
    half = optimize_for_inference(net, dtype=torch.bfloat16)
    out = half(x)
    assert out.dtype == torch.float32
    assert (out - expected).abs().max() < 0.05 * expected.abs().max()  # bf16: 8 mantissa bits
    assert (out - expected).abs().max() > 0  # it did run in reduced precision
    compiled = optimize_for_inference(net, compile={"backend": "eager"})
    torch.testing.assert_close(compiled(x), expected, rtol=1e-4, atol=1e-4)
    assert "_compiled" not in dict(compiled.named_modules())
    with pytest.raises(ValueError, match="dtype"):
        optimize_for_inference(net, dtype=torch.int8)


def test_benchmark_acceptance_reads_the_targets_from_the_json_sections():
    from benchmarks.speed import EXTRA_SECTIONS, acceptance

    assert set(EXTRA_SECTIONS) == {"pipeline", "tracker_us_per_frame_20_people", "memory"}
    rows = [{"preset": "hrnet_w32", "batch": 8, "path": "optimised", "fraction_of_matmul": 0.8,
             "speedup_vs_plain": 1.3, "speedup_vs_plain_median": 1.1},
            {"preset": "hrnet_w32", "batch": 8, "path": "onnxruntime", "fraction_of_matmul": 0.9,
             "speedup_vs_plain": 1.1, "speedup_vs_plain_median": 1.5},
            {"preset": "hrnet_w32", "batch": 1, "path": "optimised", "fraction_of_matmul": 0.99,
             "speedup_vs_plain": 9.0}]
    sections = {"pose": rows, "pipeline": {"fraction_outside_networks": 0.2},
                "tracker_us_per_frame_20_people": 900.0, "memory": None}
    checks = acceptance({**sections, "default_engine": "onnxruntime"})
    assert checks["hrnet_w32_b8_default_engine_ge_85pct_matmul"] is True
    assert checks["hrnet_w32_b8_default_engine_ge_1.2x_plain"] is True  # median, not best
    assert checks["hrnet_w32_b8_torch_optimised_ge_85pct_matmul"] is False  # batch 8 only
    assert checks["hrnet_w32_b8_torch_optimised_ge_1.2x_plain"] is False
    assert checks["pipeline_outside_networks_le_15pct"] is False
    assert checks["tracker_lt_1000us_20_people"] is True
    assert checks["memory_long_within_10pct"] is None
    torch_default = acceptance({**sections, "default_engine": "torch"})
    assert torch_default["hrnet_w32_b8_default_engine_ge_85pct_matmul"] is False
    missing = acceptance({"pose": rows[:1], "default_engine": "onnxruntime"})
    assert missing["hrnet_w32_b8_default_engine_ge_85pct_matmul"] is None


def test_default_engine_is_onnxruntime_on_cpu_when_installed(monkeypatch):
    import importlib.util

    from pose.inference import default_engine

    assert default_engine("cuda") == "cudagraph"
    assert default_engine(torch.device("cuda:1")) == "cudagraph"
    assert default_engine("mps") == "torch"
    real = importlib.util.find_spec
    installed = real("onnx") is not None and real("onnxruntime") is not None
    assert default_engine("cpu") == ("onnxruntime" if installed else "torch")
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    assert default_engine("cpu") == "torch"


class _Untraceable(torch.nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 2, 1)
        self.bn = torch.nn.BatchNorm2d(2)

    def forward(self, x):
        return self.bn(self.conv(x)) if x.sum() > 0 else x[:, :2]


def test_untraceable_networks_run_unfolded_with_a_warning():
    net = randomise_batchnorm(_Untraceable())
    with pytest.warns(UserWarning, match="not folded"):
        fast = optimize_for_inference(net)
    assert isinstance(fast.module.bn, torch.nn.BatchNorm2d)
    x = torch.rand(1, 3, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), net(x))


def test_benchmark_times_the_paths_in_turns():
    from benchmarks.speed_timing import time_interleaved

    calls = []
    times = time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                             torch.device("cpu"), repeat=3, warmup=1)
    assert calls == ["a", "b"] + ["a", "b"] * 3  # warm-up of each, then the timed runs in turns
    assert set(times) == {"a", "b"}
    assert all(0 <= t["best"] <= t["median"] for t in times.values())


def test_the_reference_matmul_can_be_timed_again_by_name():
    from benchmarks.speed_timing import matmul_function, matmul_gflops

    result = matmul_gflops(torch.device("cpu"), sizes=(64,), repeat=1)
    assert result["best"] in ("torch_64", "numpy_64")
    assert result["gflops"] == result[result["best"]]
    for name in ("torch_64", "numpy_64"):
        fn, flops = matmul_function(name, torch.device("cpu"))
        assert flops == 2 * 64 ** 3 and tuple(fn().shape) == (64, 64)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
def test_memory_section_reads_the_child_s_own_peak_not_its_parent_s():
    # a parent holding 1.5 GiB starts the measured child; the parent is itself a child of the
    # test, so the 1.5 GiB never enters (or stays in) the test process
    parent = (
        "import subprocess, sys\n"
        "import numpy as np\n"
        "ballast = np.ones(3 * 2 ** 26)  # 1.5 GiB of float64, every page touched\n"
        "code = 'from benchmarks.pipeline_speed import peak_rss_bytes; print(peak_rss_bytes())'\n"
        "out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,\n"
        "                     check=True)\n"
        "print(ballast.nbytes, out.stdout.strip().splitlines()[-1])\n")
    done = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True,
                          check=True)
    ballast, child_peak = map(int, done.stdout.split())
    assert ballast == 3 * 2 ** 29
    # the child only imported torch; its parent held 1.5 GiB when starting it
    assert 10 * 2 ** 20 < child_peak < 2 ** 30


def test_pipeline_benchmark_loops_short_videos_forth_and_back(tmp_path):
    from apps.video_io import VideoReader
    from benchmarks.pipeline_speed import looped_video

    source = shared_path("data/videos/mmpose_demo.mp4")
    originals = [f.astype(np.int16) for _, f in VideoReader(source)]
    looped = looped_video(source, 3, tmp_path / "looped.mp4")
    order = [int(np.argmin([np.abs(f.astype(np.int16) - o).mean() for o in originals]))
             for _, f in VideoReader(looped)]
    assert order == [0, 1, 2, 3, 4, 3, 2, 1, 0, 1, 2, 3, 4]


def test_pipeline_outputs_are_compared_person_by_person(tmp_path):
    from benchmarks.pipeline_speed import compare_outputs

    def write(name, people):
        data = {"images": [{"id": 0}, {"id": 1}], "annotations": [
            {"image_id": image, "track_id": tid, "bbox": [0, 0, 1, 1],
             "keypoints": [x, 0.0, 0.9, x + 1.0, 0.0, 0.9]} for image, tid, x in people]}
        (tmp_path / name).write_text(json.dumps(data))
        return tmp_path / name

    a = write("a.json", [(0, 0, 10.0), (1, 0, 11.0), (1, 1, 50.0)])
    assert compare_outputs(a, a)["identical"]
    moved = compare_outputs(a, write("b.json", [(0, 0, 10.0), (1, 0, 14.0), (1, 1, 50.0)]))
    assert not moved["identical"] and moved["same_track_ids"]
    assert moved["joint_distance_px_max"] == 3.0 and moved["joint_distance_px_median"] == 0.0
    swapped = compare_outputs(a, write("c.json", [(0, 0, 10.0), (1, 1, 11.0), (1, 0, 50.0)]))
    assert swapped["same_persons"] and not swapped["same_track_ids"]
    assert swapped["track_ids_agreeing"] == pytest.approx(1 / 3)
    fewer = compare_outputs(a, write("d.json", [(0, 0, 10.0), (1, 0, 11.0)]))
    assert not fewer["same_persons"] and not fewer["identical"]


def test_gpu_acceptance_reads_crops_per_second_and_fp16_against_fp32():
    from benchmarks.speed import gpu_acceptance

    def row(path, batch, crops):
        return {"preset": "hrnet_w32", "path": path, "batch": batch,
                "crops_per_second": crops, "ms_per_crop": 1000 / crops}

    rows = [row("cudagraph_fp16", 2, 650), row("cudagraph_fp32", 2, 640),
            row("cudagraph_fp16", 64, 7000), row("cudagraph_fp32", 64, 7500),
            row("optimised_fp16", 2, 50), row("optimised", 2, 76),
            row("cudagraph_fp16_compiled", 64, 9000)]
    checks = gpu_acceptance({"pose": rows})
    assert checks["hrnet_w32_b2_cudagraph_fp16_ge_600_crops_per_s"] is True
    assert checks["hrnet_w32_b64_cudagraph_fp16_ge_8000_crops_per_s"] is False
    assert checks["hrnet_w32_b64_cudagraph_fp16_compiled_ge_8000_crops_per_s"] is True
    assert checks["hrnet_w32_b2_cudagraph_fp16_compiled_ge_600_crops_per_s"] is None
    assert checks["hrnet_w32_b2_cudagraph_fp16_not_slower_than_fp32"] is True
    assert checks["hrnet_w32_b64_cudagraph_fp16_not_slower_than_fp32"] is False
    assert checks["hrnet_w32_b2_optimised_fp16_not_slower_than_fp32"] is False
    assert checks["hrnet_w32_b64_optimised_fp16_not_slower_than_fp32"] is None
