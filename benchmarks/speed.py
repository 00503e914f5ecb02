"""How fast hrtrack runs on this machine, against the machine's own matrix-multiply throughput.

    python -m benchmarks.speed [--json OUT.json] [--device cpu|cuda] [--quick] [--explore]
        [--threads N] [--presets hrnet_w32 pose_resnet_50] [--batches 1 8] [--repeat 5]
        [--compile] [--peak-tflops T] [--no-extra]

Sections (the JSON has one key each):

* ``matmul_gflops``: fp32 throughput of a large square matrix multiply (best of several runs
  and sizes; on CPU the better of torch/MKL and numpy/OpenBLAS), the reference;
* ``pose``: for each preset and batch size, ms per crop and achieved GFLOP/s (true multiply-adds
  x 2 / time, transposed convolutions at their input size, see :mod:`pose.complexity`) of the
  plain module (eval, default memory format, ``torch.no_grad``), of hrtrack's optimised path
  (:func:`pose.inference.optimize_for_inference`: BN folded, channels-last, inference mode) and,
  when ``onnx`` and ``onnxruntime`` are installed, of the exported network run by onnxruntime;
  each with its fraction of the matmul throughput and its speed-up over the plain module. The
  best of those matmuls is timed again in turns with the paths of each preset and batch, and
  ``fraction_of_matmul`` compares a path with the matmul of those same rounds (both measured
  while the machine runs at the same speed); ``fraction_of_startup_matmul`` with
  ``matmul_gflops``.
  ``--explore`` adds single-step variants for the first preset at the largest batch
  (channels-last only, folding only, ``torch.compile``), to see what each step brings;
* ``crops``: ms per frame to crop and normalise 20 persons with each crop method (see
  :mod:`pose.transforms`) and to decode their heatmaps;
* ``pipeline``, ``tracker_us_per_frame_20_people``, ``memory``: the video app on a real video
  (frames/s, ms per stage, the fraction of wall time outside the networks), the tracker's cost
  per frame, and peak memory of a long run against a short one (see :data:`EXTRA_SECTIONS`);
* ``allocator`` (with ``--explore``): the optimised path of the first preset at the largest
  batch and at batch 40 (a frame of 20 people and their mirrored copies) in fresh processes,
  with and without :func:`pose.allocator.retain_freed_memory`, taken in turns: ms per forward
  and page faults per forward;
* on CUDA (``--device cuda``), ``pose`` also has the GPU engines: ``optimised_fp16`` (the eager
  path with fp16 weights), ``cudagraph_fp32`` / ``cudagraph_fp16`` / ``cudagraph_bf16`` (the
  CUDA-graph engine, :class:`pose.inference.GraphedPoseNetwork`, replaying a graph of exactly
  the batch size) and, with ``--compile``, ``cudagraph_fp16_compiled`` (``torch.compile`` then
  captured); every row has ``crops_per_second``, ``tflops`` and ``fraction_of_peak`` against
  ``peak_tflops`` (the chip's dense fp16 tensor-core peak: 989.4 TFLOP/s for an H100/H200 SXM,
  or ``--peak-tflops``), and ``matmul_fp16_tflops`` is a measured 8192^3 fp16 matrix product;
  ``crops`` times the grid crop and the decoding on the GPU;
* ``acceptance``: the speed targets, checked from the numbers present. The 85%-of-matmul and
  1.2x targets are checked on the row of the engine the apps use by default on this device
  (``default_engine``, :func:`pose.inference.default_engine`: onnxruntime on CPU when
  installed), and reported for PyTorch's optimised path as well. On CUDA the checks are
  :func:`gpu_acceptance`'s: HRNet-W32 crops/s at batch 2 and 64, fp16 not slower than fp32.

Like the apps, the benchmark keeps freed memory in the process
(:func:`pose.allocator.retain_freed_memory`, ``--no-retain-memory`` to measure without): the
plain module profits from it too, so the speed-ups over it do not include that gain.

Modules: :mod:`benchmarks.speed_timing` (timing, the reference matmul, the machine),
:mod:`benchmarks.speed_pose` (the ``pose``, ``crops`` and ``allocator`` sections), this one (the
other sections, the targets and the command line).

Timing: each configuration runs twice to warm up, then ``--repeat`` times; the best run is
reported (the least disturbed by other processes), the median is kept in the JSON too, with the
speed-up of medians. The paths of one preset and batch size are timed in turns (matmul, plain,
optimised, onnxruntime, matmul, plain, ...), so that a machine whose speed drifts during the run
(other jobs, a shared host) disturbs their ratios as little as possible.
``machine`` records the CPU, threads and the load average before and after, since other jobs
on the machine lower every figure (multi-threaded torch most: its threads wait for each other at
every operation). On a busy machine ``--threads 1 --clock cpu`` measures per-core throughput by
CPU time, which other processes disturb much less.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch

from pose.allocator import retain_freed_memory
from pose.inference import default_engine, onnxruntime_installed
from pose.safe_output import write_json_atomic

from .shared_data import SHARED_DATA
from .speed_pose import allocator_child, measure_allocator, measure_crops, measure_pose
from .speed_timing import (CLOCKS, fp16_matmul_tflops, machine_info, matmul_gflops, peak_tflops,
                           set_clock)

DEFAULT_PRESETS = ("hrnet_w32", "pose_resnet_50")
TARGET_FRACTION_OF_MATMUL = 0.85
TARGET_SPEEDUP = 1.2
ALLOCATOR_CROWD_BATCH = 40  # 20 people and their mirrored copies in one forward



# --- The pipeline, tracker and memory sections ------------------------------------------------
# Each takes the parsed arguments and returns what goes under its key in the JSON (a dict, or
# for the tracker a number of microseconds), or None when it is not measured (``--quick`` skips
# memory). ``acceptance`` below reads pipeline["fraction_outside_networks"],
# tracker_us_per_frame_20_people and memory["peak_rss_ratio_long_vs_short"].

def measure_pipeline(args: argparse.Namespace) -> Optional[dict]:
    """The video app on a real video (:mod:`benchmarks.pipeline_speed`): frames/s, ms per frame
    of every stage and ``fraction_outside_networks`` (wall time outside the detector and
    pose-network forwards)."""
    from .pipeline_speed import VIDEO, pipeline_figures

    figures = pipeline_figures(SHARED_DATA / VIDEO, 30 if args.quick else 100, "hrnet_w32",
                               None, args.device)
    figures["fraction_outside_networks"] = figures.pop("outside_networks_fraction")
    return figures


def measure_tracker(args: argparse.Namespace) -> Optional[float]:
    """Tracker cost per frame with 20 people, flow excluded, in microseconds."""
    from .tracking import tracker_us_per_frame_20_people

    return tracker_us_per_frame_20_people(frames=200 if args.quick else 1000)


def measure_memory(args: argparse.Namespace) -> Optional[dict]:
    """Peak RSS of a run over 39 frames of the real video and of one over 390 (each in its own
    process); skipped with ``--quick``."""
    if args.quick:
        return None
    from .pipeline_speed import VIDEO, memory_figures

    m = memory_figures(SHARED_DATA / VIDEO, 39, "hrnet_w32", None, args.device)
    return {"frames_short": m["short_frames"], "frames_long": m["long_frames"],
            "peak_rss_mb_short": m["short_peak_rss_mb"], "peak_rss_mb_long": m["long_peak_rss_mb"],
            "peak_rss_ratio_long_vs_short": m["long_over_short"]}


EXTRA_SECTIONS: Dict[str, Callable[[argparse.Namespace], object]] = {
    "pipeline": measure_pipeline,
    "tracker_us_per_frame_20_people": measure_tracker,
    "memory": measure_memory,
}


def acceptance(result: dict) -> Dict[str, Optional[bool]]:
    """The speed targets, ``None`` where the figure is missing. The network targets are read
    from the row of ``result["default_engine"]`` (``"onnxruntime"``: the onnxruntime row, else
    the ``optimised`` row) and, for PyTorch's optimised path, from its own row."""
    def row(path: str) -> Optional[dict]:
        return next((r for r in result.get("pose", []) if r["preset"] == "hrnet_w32"
                     and r["batch"] == 8 and r["path"] == path), None)

    def fraction(r: Optional[dict]) -> Optional[bool]:
        return None if r is None else r["fraction_of_matmul"] >= TARGET_FRACTION_OF_MATMUL

    def speedup(r: Optional[dict]) -> Optional[bool]:
        # the speed-up of medians: with the paths timed in turns it is the steadier ratio (one
        # lucky or unlucky run moves a best-of ratio, not a median)
        return None if r is None else r.get("speedup_vs_plain_median",
                                            r["speedup_vs_plain"]) >= TARGET_SPEEDUP

    engine = result.get("default_engine", "torch")
    default = row("onnxruntime" if engine == "onnxruntime" else "optimised")
    checks: Dict[str, Optional[bool]] = {
        "hrnet_w32_b8_default_engine_ge_85pct_matmul": fraction(default),
        "hrnet_w32_b8_default_engine_ge_1.2x_plain": speedup(default),
        "hrnet_w32_b8_torch_optimised_ge_85pct_matmul": fraction(row("optimised")),
        "hrnet_w32_b8_torch_optimised_ge_1.2x_plain": speedup(row("optimised")),
    }
    pipeline = result.get("pipeline") or {}
    outside = pipeline.get("fraction_outside_networks")
    checks["pipeline_outside_networks_le_15pct"] = None if outside is None else outside <= 0.15
    tracker = result.get("tracker_us_per_frame_20_people")
    checks["tracker_lt_1000us_20_people"] = None if tracker is None else tracker < 1000
    ratio = (result.get("memory") or {}).get("peak_rss_ratio_long_vs_short")
    checks["memory_long_within_10pct"] = None if ratio is None else ratio <= 1.10
    return checks


TARGET_CROPS_PER_SECOND = {2: 600, 64: 8000}  # HRNet-W32 256x192, fp16, one H200
FP16_TIMING_SLACK = 1.02  # "not slower": within the 2% two timings of one path differ by


def gpu_acceptance(result: dict) -> Dict[str, Optional[bool]]:
    """The GPU targets, ``None`` where the figure is missing: HRNet-W32 crops/s at batch 2 and
    64 for the CUDA-graph engine (and its compiled variant), and fp16 not slower than fp32 (best
    runs, within :data:`FP16_TIMING_SLACK`) for the graphed and the eager path at every batch
    size measured."""
    rows = [r for r in result.get("pose", []) if r["preset"] == "hrnet_w32"]

    def row(path: str, batch: int) -> Optional[dict]:
        return next((r for r in rows if r["batch"] == batch and r["path"] == path), None)

    checks: Dict[str, Optional[bool]] = {}
    for batch, target in TARGET_CROPS_PER_SECOND.items():
        for path in ("cudagraph_fp16", "cudagraph_fp16_compiled"):
            r = row(path, batch)
            checks[f"hrnet_w32_b{batch}_{path}_ge_{target}_crops_per_s"] = \
                None if r is None else r["crops_per_second"] >= target
    for batch in sorted({r["batch"] for r in rows}):
        for fp16, fp32 in (("cudagraph_fp16", "cudagraph_fp32"), ("optimised_fp16", "optimised")):
            a, b = row(fp16, batch), row(fp32, batch)
            checks[f"hrnet_w32_b{batch}_{fp16}_not_slower_than_fp32"] = \
                None if a is None or b is None \
                else a["ms_per_crop"] <= b["ms_per_crop"] * FP16_TIMING_SLACK
    return checks


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--allocator-child"]:
        return allocator_child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--quick", action="store_true",
                        help="fewer repeats, one matmul size, no onnxruntime")
    parser.add_argument("--explore", action="store_true",
                        help="also time single optimisation steps and torch.compile")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--presets", nargs="+", default=list(DEFAULT_PRESETS))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--repeat", type=int, help="timed runs per configuration "
                        "(default 5, --quick 3)")
    parser.add_argument("--no-onnx", action="store_true", help="skip the onnxruntime rows")
    parser.add_argument("--compile", action="store_true",
                        help="CUDA: also the torch.compile'd CUDA-graph engine (compiles once "
                             "per batch size, a minute or more each)")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the GPU's dense fp16 peak for fraction_of_peak (default: known "
                             "for H100/H200: 989.4)")
    parser.add_argument("--no-extra", action="store_true",
                        help="skip the pipeline, tracker and memory sections")
    parser.add_argument("--no-retain-memory", action="store_true",
                        help="leave glibc's malloc as it is (by default freed memory stays in "
                        "the process, as in the apps: pose.allocator)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="'cpu' times by the process's CPU time: with --threads 1 it "
                        "discounts time lost to other processes on a busy machine (CPU only)")
    args = parser.parse_args(argv)
    if args.clock == "cpu" and not args.device.startswith("cpu"):
        parser.error("--clock cpu needs --device cpu")
    set_clock(args.clock)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    repeat = args.repeat or (3 if args.quick else 20 if device.type == "cuda" else 5)
    retained = False if args.no_retain_memory else retain_freed_memory()
    result: dict = {"machine": machine_info(device), "clock": args.clock,
                    "retain_freed_memory": retained}
    print(f"{result['machine']['cpu']}, {result['machine']['cores']} cores, "
          f"{torch.get_num_threads()} torch threads, device {device}, load average "
          f"{result['machine']['load_average_start'][0]:.2f}")

    mm = matmul_gflops(device, sizes=(2048,) if args.quick else (2048, 4096))
    result["matmul_gflops"] = mm["gflops"]
    result["matmul"] = mm
    sizes = ", ".join(f"{k} {v}" for k, v in mm.items() if k not in ("gflops", "best"))
    print(f"matmul_gflops {mm['gflops']:.1f} ({sizes})")

    peak = args.peak_tflops or peak_tflops(device)
    if device.type == "cuda":
        result["peak_tflops"] = peak
        result["matmul_fp16_tflops"] = fp16_matmul_tflops(device)
        print(f"peak (dense fp16) {peak} TFLOP/s used for fraction_of_peak; measured fp16 "
              f"matmul {result['matmul_fp16_tflops']} TFLOP/s")

    use_onnx = not (args.quick or args.no_onnx) and device.type == "cpu"
    if use_onnx:
        use_onnx = onnxruntime_installed()
    # the engine the apps run pose networks with here (the acceptance rows)
    result["default_engine"] = default_engine(device)
    if result["default_engine"] == "onnxruntime" and not use_onnx:
        print("note: the onnxruntime rows are skipped (--quick / --no-onnx), so the checks on "
              "the default engine (onnxruntime) report None")
    print(f"\n{'preset':16s} {'input':>8s} {'batch':>5s} {'path':24s} {'ms/crop':>10s} "
          f"{'crops/s':>9s} {'GFLOP/s':>8s} {'of peak':>7s} {'of matmul':>9s} {'(matmul)':>8s} "
          f"{'vs plain':>8s} {'(median)':>8s}")
    with tempfile.TemporaryDirectory() as tmp:
        result["pose"] = measure_pose(args.presets, args.batches, device, repeat, mm,
                                      explore=args.explore, compile=args.compile, peak=peak,
                                      onnx_dir=Path(tmp) if use_onnx else None)
    if args.explore and device.type == "cpu":
        result["allocator"] = []
        for batch in sorted({max(args.batches), ALLOCATOR_CROWD_BATCH}):
            result["allocator"].append(measure_allocator(args.presets[0], batch, repeat))
            print("allocator:", ", ".join(f"{k} {v}" for k, v in result["allocator"][-1].items()),
                  flush=True)
    result["crops"] = measure_crops(min(repeat, 5), device=device)
    print("\ncrops and decoding, ms per frame:", ", ".join(
        f"{k} {v}" for k, v in result["crops"].items()))
    for key, section in ({} if args.no_extra else EXTRA_SECTIONS).items():
        result[key] = section(args)
        if result[key] is not None:
            print(f"{key}: {result[key]}")
    result["acceptance"] = gpu_acceptance(result) if device.type == "cuda" \
        else acceptance(result)
    result["machine"]["load_average_end"] = list(os.getloadavg())
    print("\nacceptance:", ", ".join(f"{k} {v}" for k, v in result["acceptance"].items()))
    print(f"load average at end {result['machine']['load_average_end'][0]:.2f}")
    if args.json:
        write_json_atomic(result, args.json, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
