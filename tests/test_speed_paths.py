"""The optimised inference path against the plain network, and the speed benchmark's checks."""
import subprocess
import sys

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


def test_benchmark_acceptance_reads_the_issue_targets_from_the_json_sections():
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
    from benchmarks.speed import time_interleaved

    calls = []
    times = time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                             torch.device("cpu"), repeat=3, warmup=1)
    assert calls == ["a", "b"] + ["a", "b"] * 3  # warm-up of each, then the timed runs in turns
    assert set(times) == {"a", "b"}
    assert all(0 <= t["best"] <= t["median"] for t in times.values())


def test_the_reference_matmul_can_be_timed_again_by_name():
    from benchmarks.speed import matmul_function, matmul_gflops

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
