"""The GPU inference engine (CUDA graphs per batch-size bucket, fp16), its choice by the apps,
and the per-frame stages on the device.

The padding, chunking, engine choice and the fp16 tolerance check run on the CPU too; the tests
whose names contain ``cuda`` need a CUDA GPU (``benchmarks/gpu_check.sh`` runs them there) and
skip elsewhere. They read only the shared videos, the YOLOX ONNX file and the reference HRNet
checkpoint.
"""
import functools

import numpy as np
import pytest
import torch

import pose
from helpers import shared_path
from pose.cuda_graphs import BucketedGraphs, plan_batches
from pose.inference import (GraphedPoseNetwork, InferenceModel, optimize_for_inference,
                            resolve_engine)

WEIGHTS = "reference/hrnet_small_w8_256x192_official.pth"
DETECTOR = "data/detectors/yolox_nano_8xb8-300e_humanart-40f6f0d0.onnx"
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
FP16_TOLERANCE = 0.005  # of the heatmaps' largest magnitude


def small_network():
    torch.manual_seed(0)
    return pose.build_model("hrnet_w4", input_size=(64, 64), num_modules=(1, 1, 1),
                            num_blocks=1).eval()


def test_batches_are_cut_into_the_largest_bucket_then_padded_to_the_next():
    assert plan_batches(70, (8, 16, 64)) == [(64, 64), (6, 8)]
    assert plan_batches(16, (16, 8, 64)) == [(16, 16)]
    assert plan_batches(17, (8, 16, 64)) == [(17, 64)]
    assert plan_batches(130, (1, 64)) == [(64, 64), (64, 64), (2, 64)]
    assert plan_batches(0, (1, 2)) == []


def test_bucketed_runs_give_each_row_its_own_result():
    seen = []

    def fn(x):  # row-wise, and records the batch sizes it is run with
        seen.append(len(x))
        return x.sum(dim=(1, 2)) * 2

    runner = BucketedGraphs(fn, (3, 4), dtype=torch.float32, device="cpu", buckets=(2, 8))
    assert not runner.capture
    big = torch.randn(11, 3, 4)
    torch.testing.assert_close(runner(big), big.sum(dim=(1, 2)) * 2)
    assert seen == [8, 8]  # 8, then 3 padded to 8
    small = torch.randn(1, 3, 4, dtype=torch.float64)  # leftover rows of the last batch stay
    torch.testing.assert_close(runner(small), small.float().sum(dim=(1, 2)) * 2)
    assert seen[-1] == 2 and runner.captured == (2, 8)
    assert runner(torch.zeros(0, 3, 4)).shape == (0,)
    with pytest.raises(ValueError, match=r"\[N, 3, 4\]"):
        runner(torch.zeros(2, 4, 3))
    with pytest.raises(ValueError, match="CUDA"):
        BucketedGraphs(fn, (3, 4), dtype=torch.float32, device="cpu", capture=True)
    with pytest.raises(ValueError, match="buckets"):
        BucketedGraphs(fn, (3, 4), dtype=torch.float32, device="cpu", buckets=(0, 4))


def test_graphed_network_pads_and_chunks_to_the_optimised_network_s_heatmaps():
    net = small_network()
    fast = optimize_for_inference(net)
    graphed = GraphedPoseNetwork(fast.module, (64, 64), dtype=None, buckets=(1, 4, 8),
                                 capture=False)
    assert isinstance(graphed, InferenceModel)
    x = torch.randn(19, 3, 64, 64)
    out = graphed(x)
    assert out.dtype == torch.float32 and out.is_contiguous() and out.shape == (19, 17, 16, 16)
    torch.testing.assert_close(out, fast(x), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(graphed(x[:3]), fast(x[:3]), rtol=1e-4, atol=1e-5)
    assert graphed.graphs.captured == (4, 8)
    graphed.warmup()
    assert graphed.graphs.captured == (1, 4, 8)


def test_reduced_precision_stores_the_weights_once_converted():
    net = small_network()
    half = optimize_for_inference(net, dtype=torch.bfloat16)
    assert all(p.dtype == torch.bfloat16 for p in half.parameters())
    assert next(net.parameters()).dtype == torch.float32  # the original stays
    assert half(torch.randn(2, 3, 64, 64)).dtype == torch.float32


def test_the_cudagraph_engine_is_chosen_on_cuda_and_refused_elsewhere():
    assert resolve_engine("auto", "cuda") == "cudagraph"
    assert resolve_engine("auto", "cuda:1") == "cudagraph"
    assert resolve_engine("torch", "cuda") == "torch"
    with pytest.raises(ValueError, match="CUDA GPUs only"):
        resolve_engine("cudagraph", "cpu")
    with pytest.raises(ValueError, match="CUDA"):
        optimize_for_inference(small_network(), cuda_graphs=True)


def test_the_app_refuses_the_gpu_engine_on_cpu_before_loading(tmp_path, capsys):
    from apps import track_video

    video = shared_path("data/videos/mmpose_demo.mp4")
    code = track_video.main([str(video), "--device", "cpu", "--pose-backend", "cudagraph",
                             "--output-json", str(tmp_path / "x.json"), "--no-video",
                             "--pose-model", "hrnet_w8", "--pose-weights",
                             str(tmp_path / "missing.pth")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("error:") == 1 and "cudagraph" in err
    assert "missing.pth" not in err  # refused before the weights were looked at
    assert not (tmp_path / "x.json").exists()


@functools.lru_cache(maxsize=1)
def _real_crops():
    """Network inputs of the persons the ONNX detector finds in frames of the shared videos
    (one person walking; a crowd), with the frames and boxes: ``(frames, boxes, inputs)``."""
    import detectors
    from apps.video_io import VideoReader
    from pose.estimator import prepare_crops

    detector = detectors.build_detector("yolox", weights=str(shared_path(DETECTOR)),
                                        engine="onnxruntime")
    frames, boxes, inputs = [], [], []
    for name, wanted in (("mmpose_body3d_demo.mp4", (0, 120)), ("mmtracking_demo.mp4", (4,))):
        reader = VideoReader(shared_path(f"data/videos/{name}"), end=max(wanted) + 1)
        for index, frame in reader:
            if index in wanted:
                found = detector(frame)
                frames.append(frame)
                boxes.append(found)
                inputs.append(prepare_crops(frame, found, (256, 192)).inputs)
    return frames, boxes, torch.cat(inputs)


def real_crops():
    pytest.importorskip("onnxruntime")
    frames, boxes, inputs = _real_crops()
    return frames, boxes, inputs.clone()


def check_reduced_precision_heatmaps(reference: torch.Tensor, low: torch.Tensor) -> None:
    """The fp16 tolerance of docs/gpu.md: heatmaps within FP16_TOLERANCE of the fp32
    heatmaps' largest magnitude; the argmax the same for at least 95% of the joints, and
    elsewhere a pixel tying with the fp32 maximum within twice that tolerance; where the argmax
    is the same, the decoded keypoints within half a heatmap pixel."""
    from pose.decode import official_coords_torch

    reference, low = reference.float().cpu(), low.float().cpu()
    bound = FP16_TOLERANCE * reference.abs().max().item()
    assert (low - reference).abs().max().item() <= bound
    flat_ref, flat_low = reference.flatten(2), low.flatten(2)
    same = flat_ref.argmax(2) == flat_low.argmax(2)
    assert same.float().mean().item() >= 0.95
    picked = flat_ref.gather(2, flat_low.argmax(2, keepdim=True))[..., 0]
    assert (flat_ref.max(2).values - picked).max().item() <= 2 * bound
    coords_ref, _ = official_coords_torch(reference)
    coords_low, _ = official_coords_torch(low)
    assert (coords_ref - coords_low).abs()[same].max().item() <= 0.5


def test_fp16_heatmaps_stay_within_the_stated_tolerance_of_fp32():
    """The tolerance check of the GPU engine, on the CPU's fp16 convolutions (slow there: eight
    crops), and that heatmaps 1% off fail it."""
    model = pose.build_model("hrnet_w8", weights=str(shared_path(WEIGHTS))).eval()
    _, _, x = real_crops()
    x = x[:8]
    reference = optimize_for_inference(model)(x)
    low = optimize_for_inference(model, dtype=torch.float16)(x)
    check_reduced_precision_heatmaps(reference, low)
    noise = torch.randn(low.shape, generator=torch.Generator().manual_seed(0)).sign()
    with pytest.raises(AssertionError):
        check_reduced_precision_heatmaps(reference, low + 0.01 * reference.abs().max() * noise)


@needs_cuda
def test_cuda_graph_engine_in_fp16_matches_fp32_on_real_crops():
    model = pose.build_model("hrnet_w8", weights=str(shared_path(WEIGHTS))).eval()
    _, _, x = real_crops()
    reference = optimize_for_inference(model)(x)  # float32 on the CPU
    engine = optimize_for_inference(model.cuda(), dtype=torch.float16, cuda_graphs=True)
    assert isinstance(engine, GraphedPoseNetwork)
    out = engine(x)
    assert out.device.type == "cuda" and out.dtype == torch.float32
    check_reduced_precision_heatmaps(reference, out)
    # another bucket (cuDNN may choose other algorithms), the same rows to fp16 precision
    torch.testing.assert_close(engine(x[:5]), out[:5], rtol=0,
                               atol=FP16_TOLERANCE * out.abs().max().item())
    assert 5 < len(x) and set(engine.graphs.captured) >= {8}


@needs_cuda
def test_cuda_graphs_pad_and_chunk_like_eager_fp32():
    model = pose.build_model("hrnet_w8", weights=str(shared_path(WEIGHTS))).eval().cuda()
    eager = optimize_for_inference(model)
    graphed = optimize_for_inference(model, cuda_graphs=True, buckets=(1, 4, 16)).warmup()
    x = torch.randn(37, 3, 256, 192, device="cuda")
    for n in (1, 3, 16, 37):
        expected = eager(x[:n])
        # cuDNN may pick other algorithms (with TF32) per batch size: 0.5% of the range;
        # a row mixed up with another would be off by the whole range
        torch.testing.assert_close(graphed(x[:n]), expected, rtol=0,
                                   atol=5e-3 * expected.abs().max().item())
    assert graphed.graphs.captured == (1, 4, 16)


@needs_cuda
def test_cuda_crops_and_decoding_match_the_cpu_path():
    from pose.decode import heatmaps_to_keypoints
    from pose.estimator import prepare_crops

    frames, boxes, _ = real_crops()
    frame, found = frames[-1], boxes[-1]
    cpu = prepare_crops(frame, found, (256, 192), crop="grid")
    gpu = prepare_crops(frame, found, (256, 192), crop="grid", device="cuda")
    assert gpu.inputs.device.type == "cuda"
    torch.testing.assert_close(gpu.inputs.cpu(), cpu.inputs, rtol=0, atol=1e-3)
    exact = prepare_crops(frame, found, (256, 192))
    assert (gpu.inputs.cpu() - exact.inputs).abs().max() < 0.6 / 255 / 0.224
    rng = np.random.default_rng(0)
    heatmaps = rng.random((len(found), 17, 64, 48)).astype(np.float32)
    heatmaps[0, 0] = 0.5  # ties: the first maximum, on both
    heatmaps[1, :, 5, 7] = 2.0  # maxima beside the border
    heatmaps[2, 3] = -1.0  # no positive maximum
    on_gpu = heatmaps_to_keypoints(torch.from_numpy(heatmaps).cuda(), gpu.center, gpu.scale)
    np.testing.assert_array_equal(on_gpu, heatmaps_to_keypoints(heatmaps, gpu.center,
                                                                gpu.scale))


@needs_cuda
def test_cuda_app_gives_the_cpu_s_people_and_identities(tmp_path):
    import json

    from apps import track_video
    from benchmarks.pipeline_speed import compare_outputs

    pytest.importorskip("onnxruntime")
    video = shared_path("data/videos/mmpose_body3d_demo.mp4")
    outputs = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / f"{device}.json"
        code = track_video.main([str(video), "--end", "12", "--output-json", str(out),
                                 "--no-video", "--quiet", "--device", device, "--min-joints",
                                 "0", "--detector",
                                 "yolox", "--detector-weights", str(shared_path(DETECTOR)),
                                 "--pose-model", "hrnet_w8", "--pose-weights",
                                 str(shared_path(WEIGHTS))])
        assert code == 0
        outputs[device] = out
    agree = compare_outputs(outputs["cpu"], outputs["cuda"])
    assert agree["same_persons"] and agree["same_track_ids"], agree
    assert agree["joint_distance_px_median"] < 1.0, agree
    assert json.loads(outputs["cuda"].read_text())["annotations"]
