"""The pose-network and crop sections of the speed benchmark (:mod:`benchmarks.speed`): every
inference path of each preset and batch size timed in turns with the reference matmul, the crop
and decoding costs per frame, and the allocator comparison in fresh processes.
"""
from __future__ import annotations

import copy
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from pose import build_model
from pose.allocator import retain_freed_memory
from pose.complexity import count_complexity
from pose.decode import heatmaps_to_keypoints
from pose.estimator import prepare_crops
from pose.fuse import fold_batchnorm
from pose.inference import optimize_for_inference
from pose.transforms import CROP_METHODS, box_to_center_scale

from .speed_timing import matmul_function, time_call, time_interleaved


def _gpu_runners(plain: torch.nn.Module, batch: int, compile: bool):
    """The CUDA engines of ``plain`` for batch size ``batch`` (see the module doc)."""
    cl = torch.channels_last
    yield "optimised_fp16", optimize_for_inference(plain, dtype=torch.float16), cl
    for name, dtype in (("cudagraph_fp32", None), ("cudagraph_fp16", torch.float16),
                        ("cudagraph_bf16", torch.bfloat16)):
        yield name, optimize_for_inference(plain, dtype=dtype, cuda_graphs=True,
                                           buckets=(batch,)), cl
    if compile:
        yield "cudagraph_fp16_compiled", optimize_for_inference(
            plain, dtype=torch.float16, cuda_graphs=True, compile=True, buckets=(batch,)), cl


def _runners(model: torch.nn.Module, device: torch.device, explore: bool,
             onnx_dir: Optional[Path], batch: int = 1, compile: bool = False):
    """``(path name, callable x -> heatmaps, input memory format)`` for every measured path."""
    plain = model.to(device).eval()

    def run_plain(x):
        with torch.no_grad():
            return plain(x)

    yield "plain", run_plain, torch.contiguous_format
    if explore:
        cl_only = copy.deepcopy(plain).to(memory_format=torch.channels_last)

        def run_cl(x):
            with torch.inference_mode():
                return cl_only(x)

        yield "channels_last_only", run_cl, torch.channels_last
        folded = fold_batchnorm(plain)

        def run_folded(x):
            with torch.inference_mode():
                return folded(x)

        yield "fold_bn_only", run_folded, torch.contiguous_format
    fast = optimize_for_inference(plain)
    yield "optimised", fast, torch.channels_last
    if device.type == "cuda":
        yield from _gpu_runners(plain, batch, compile)
    if explore:
        yield "optimised_compiled", optimize_for_inference(plain, compile=True), \
            torch.channels_last
    if onnx_dir is not None and device.type == "cpu":
        from pose.export import export_onnx
        from pose.onnx_runtime import OnnxPoseModel

        path = onnx_dir / f"{model.preset.name}.onnx"
        if not path.exists():
            export_onnx(plain.cpu(), path, exporter="torchscript")
            plain.to(device)
        yield "onnxruntime", OnnxPoseModel(path, threads=torch.get_num_threads()), \
            torch.contiguous_format


def measure_pose(presets: Sequence[str], batches: Sequence[int], device: torch.device,
                 repeat: int, matmul: Dict[str, float], explore: bool = False,
                 onnx_dir: Optional[Path] = None, compile: bool = False,
                 peak: Optional[float] = None) -> List[dict]:
    """One row per (preset, batch, path) with ms per crop and GFLOP/s; see the module doc.

    The best matmul of ``matmul`` (:func:`matmul_gflops`) is timed in the same turns as the
    paths: ``fraction_of_matmul`` compares each path's best run with the matmul's best run of
    the same rounds (``matmul_gflops_same_rounds``), so that both are measured while the machine
    runs at the same speed; ``fraction_of_startup_matmul`` compares with ``matmul["gflops"]``."""
    reference, reference_flops = matmul_function(matmul["best"], device)
    rows = []
    for p_index, name in enumerate(presets):
        model = build_model(name).eval()
        macs = count_complexity(model, model.preset.input_size, official=False).multiply_adds
        for batch in batches:
            last = p_index == 0 and batch == max(batches)
            x = torch.randn(batch, 3, *model.preset.input_size, generator=torch.Generator()
                            .manual_seed(0)).to(device)
            runners = [(path, run, x.contiguous(memory_format=memory_format))
                       for path, run, memory_format in _runners(model, device, explore and last,
                                                                onnx_dir, batch, compile)]
            functions = {path: (lambda run=run, xin=xin: run(xin)) for path, run, xin in runners}
            times = time_interleaved({"matmul": reference, **functions}, device, repeat)
            same_rounds = reference_flops / times["matmul"]["best"] / 1e9
            plain = times["plain"]
            for path, _, _ in runners:
                t = times[path]
                ms = 1000 * t["best"] / batch
                gflops = 2 * macs * batch / t["best"] / 1e9
                row = {"preset": name, "input": "x".join(map(str, model.preset.input_size)),
                       "batch": batch, "path": path, "ms_per_crop": round(ms, 2),
                       "ms_per_crop_median": round(1000 * t["median"] / batch, 2),
                       "gflops": round(gflops, 2),
                       "fraction_of_matmul": round(gflops / same_rounds, 3),
                       "matmul_gflops_same_rounds": round(same_rounds, 2),
                       "fraction_of_startup_matmul": round(gflops / matmul["gflops"], 3),
                       "speedup_vs_plain": round(plain["best"] / t["best"], 2),
                       "speedup_vs_plain_median": round(plain["median"] / t["median"], 2),
                       "true_gmacs_per_crop": round(macs / 1e9, 3),
                       "crops_per_second": round(batch / t["best"], 1),
                       "tflops": round(gflops / 1000, 3)}
                if peak:
                    row["fraction_of_peak"] = round(gflops / 1000 / peak, 4)
                rows.append(row)
                print(f"{name:16s} {row['input']:>8s} {batch:>5d} {path:24s} "
                      f"{row['ms_per_crop']:10.3f} {row['crops_per_second']:9.1f} "
                      f"{row['gflops']:8.1f} "
                      f"{100 * row.get('fraction_of_peak', float('nan')):6.2f}% "
                      f"{100 * row['fraction_of_matmul']:8.1f}% ({same_rounds:5.1f}) "
                      f"{row['speedup_vs_plain']:7.2f}x {row['speedup_vs_plain_median']:7.2f}x",
                      flush=True)
            del runners, functions
            if device.type == "cuda":  # the graphs' memory pools of this batch size
                import gc

                gc.collect()
                torch.cuda.empty_cache()
        del model
    return rows


def measure_crops(repeat: int, persons: int = 20, frame_size: Tuple[int, int] = (1002, 1000),
                  input_size: Tuple[int, int] = (256, 192), seed: int = 0,
                  device: torch.device = torch.device("cpu")) -> dict:
    """Milliseconds per frame of :func:`pose.estimator.prepare_crops` (crop + normalisation)
    with each crop method, and of heatmap decoding, for ``persons`` random boxes in a random
    frame of ``frame_size = (height, width)`` (the shared videos' size); best of
    ``repeat * 10`` runs. On a GPU ``device`` also the grid crop there (frame upload included)
    and the official decoding of heatmaps held there (``..._device``)."""
    rng = np.random.default_rng(seed)
    height, width = frame_size
    frame = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    corner = rng.uniform(0, [width * 0.8, height * 0.6], (persons, 2))
    boxes = np.concatenate([corner, corner + rng.uniform([40, 100], [width * 0.2, height * 0.4],
                                                          (persons, 2))], axis=1)
    cpu = torch.device("cpu")
    result: dict = {"frame": f"{width}x{height}", "persons": persons,
                    "input": "x".join(map(str, input_size))}
    for method in CROP_METHODS:
        t = time_call(lambda: prepare_crops(frame, boxes, input_size, crop=method), cpu,
                      repeat * 10)
        result[f"prepare_ms_{method}"] = round(1000 * t["best"], 3)
    center, scale = box_to_center_scale(boxes, input_size)
    heatmaps = rng.random((persons, 17, input_size[0] // 4, input_size[1] // 4), np.float32)
    for method in ("official", "dark"):
        t = time_call(lambda: heatmaps_to_keypoints(heatmaps, center, scale, method), cpu,
                      repeat * 10)
        result[f"decode_ms_{method}"] = round(1000 * t["best"], 3)
    if device.type != "cpu":
        t = time_call(lambda: prepare_crops(frame, boxes, input_size, crop="grid",
                                            device=device), device, repeat * 10)
        result["prepare_ms_grid_device"] = round(1000 * t["best"], 3)
        on_device = torch.from_numpy(heatmaps).to(device)
        t = time_call(lambda: heatmaps_to_keypoints(on_device, center, scale), device,
                      repeat * 10)
        result["decode_ms_official_device"] = round(1000 * t["best"], 3)
    return result


def allocator_child(argv: List[str]) -> int:
    """In a fresh process: ``retain|default PRESET BATCH REPEAT THREADS``; prints JSON with the
    seconds and page faults of each timed forward of the optimised path."""
    import resource  # POSIX only, as the allocator is

    mode, preset, batch, repeat, threads = argv[0], argv[1], *map(int, argv[2:5])
    torch.set_num_threads(threads)
    if mode == "retain":
        retain_freed_memory()
    model = build_model(preset).eval()
    fast = optimize_for_inference(model)
    x = torch.randn(batch, 3, *model.preset.input_size)
    for _ in range(2):
        fast(x)
    seconds, faults = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        fast(x)
        seconds.append(time.perf_counter() - start)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    print(json.dumps({"seconds": seconds, "faults": faults}))
    return 0


def measure_allocator(preset: str, batch: int, repeat: int, rounds: int = 2) -> dict:
    """The optimised path of ``preset`` at ``batch`` in fresh processes with and without
    :func:`pose.allocator.retain_freed_memory` (``rounds`` processes each, taken in turns):
    best and median ms per forward, median page faults per forward, and the speed-up."""
    runs: Dict[str, Dict[str, List[float]]] = {m: {"seconds": [], "faults": []}
                                               for m in ("default", "retain")}
    for _ in range(rounds):
        for mode in runs:
            done = subprocess.run([sys.executable, "-m", "benchmarks.speed", "--allocator-child",
                                   mode, preset, str(batch), str(repeat),
                                   str(torch.get_num_threads())],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"the allocator run failed: {done.stderr[-2000:]}")
            child = json.loads(done.stdout.strip().splitlines()[-1])
            for key in ("seconds", "faults"):
                runs[mode][key] += child[key]
    result: dict = {"preset": preset, "batch": batch, "processes_each": rounds}
    for mode, r in runs.items():
        result[f"{mode}_ms_best"] = round(1000 * min(r["seconds"]), 1)
        result[f"{mode}_ms_median"] = round(1000 * statistics.median(r["seconds"]), 1)
        result[f"{mode}_page_faults_per_forward"] = int(statistics.median(r["faults"]))
    result["speedup_median"] = round(result["default_ms_median"] / result["retain_ms_median"], 3)
    return result
