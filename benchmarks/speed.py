"""How fast hrtrack runs on this machine, against the machine's own matrix-multiply throughput.

    python -m benchmarks.speed [--json OUT.json] [--device cpu|cuda] [--quick] [--explore]
        [--threads N] [--presets hrnet_w32 pose_resnet_50] [--batches 1 8] [--repeat 5]

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
* ``acceptance``: the issue's targets, checked from the numbers present. The 85%-of-matmul and
  1.2x targets are checked on the row of the engine the apps use by default on this device
  (``default_engine``, :func:`pose.inference.default_engine`: onnxruntime on CPU when
  installed), and reported for PyTorch's optimised path as well.

Like the apps, the benchmark keeps freed memory in the process
(:func:`pose.allocator.retain_freed_memory`, ``--no-retain-memory`` to measure without): the
plain module profits from it too, so the speed-ups over it do not include that gain.

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
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from pose import build_model
from pose.decode import heatmaps_to_keypoints
from pose.estimator import prepare_crops
from pose.safe_output import write_json_atomic
from pose.complexity import count_complexity
from pose.fuse import fold_batchnorm
from pose.allocator import retain_freed_memory
from pose.inference import default_engine, onnxruntime_installed, optimize_for_inference
from pose.transforms import CROP_METHODS, box_to_center_scale

from .shared_data import SHARED_DATA

DEFAULT_PRESETS = ("hrnet_w32", "pose_resnet_50")
TARGET_FRACTION_OF_MATMUL = 0.85
TARGET_SPEEDUP = 1.2
ALLOCATOR_CROWD_BATCH = 40  # 20 people and their mirrored copies in one forward


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]  # set by --clock


def time_call(fn: Callable[[], object], device: torch.device, repeat: int,
              warmup: int = 1) -> Dict[str, float]:
    """Best and median time in seconds of ``fn()`` over ``repeat`` runs after ``warmup``, by
    :data:`clock` (wall time, or with ``--clock cpu`` the process's CPU time)."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeat):
        start = clock()
        fn()
        _sync(device)
        times.append(clock() - start)
    return {"best": min(times), "median": statistics.median(times)}


def time_interleaved(fns: Dict[str, Callable[[], object]], device: torch.device, repeat: int,
                     warmup: int = 2) -> Dict[str, Dict[str, float]]:
    """:func:`time_call` for several functions at once, their timed runs taken in turns
    (``a b c a b c ...``), so that a machine that slows down or speeds up part-way (other jobs,
    clock changes) affects all of them alike: ratios between them are what it measures best."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    _sync(device)
    times: Dict[str, List[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = clock()
            fn()
            _sync(device)
            times[name].append(clock() - start)
    return {name: {"best": min(t), "median": statistics.median(t)} for name, t in times.items()}


def matmul_gflops(device: torch.device, sizes: Sequence[int] = (2048, 4096),
                  repeat: int = 5) -> Dict[str, float]:
    """fp32 ``n x n`` matrix-multiply GFLOP/s (``2 n^3`` / best time): torch on ``device`` and,
    on CPU, numpy; ``gflops`` is the best of all."""
    result: Dict[str, float] = {}
    for n in sizes:
        a = torch.randn(n, n, device=device)
        b = torch.randn(n, n, device=device)
        out = torch.empty(n, n, device=device)
        t = time_call(lambda: torch.mm(a, b, out=out), device, repeat)["best"]
        result[f"torch_{n}"] = 2 * n ** 3 / t / 1e9
        if device.type == "cpu":
            an, bn = a.numpy(), b.numpy()
            t = time_call(lambda: an @ bn, device, repeat)["best"]
            result[f"numpy_{n}"] = 2 * n ** 3 / t / 1e9
    result = {k: round(v, 2) for k, v in result.items()}
    result["gflops"] = max(result.values())
    result["best"] = max((k for k in result if k != "gflops"), key=result.get)
    return result


def matmul_function(name: str, device: torch.device) -> Tuple[Callable[[], object], float]:
    """``(fn, flops)``: one run of the matmul :func:`matmul_gflops` named ``name``
    (``torch_4096``, ``numpy_2048``, ...) and its floating-point operations."""
    library, n = name.split("_")
    n = int(n)
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    if library == "numpy":
        an, bn = a.numpy(), b.numpy()
        return (lambda: an @ bn), 2.0 * n ** 3
    out = torch.empty(n, n, device=device)
    return (lambda: torch.mm(a, b, out=out)), 2.0 * n ** 3


def _runners(model: torch.nn.Module, device: torch.device, explore: bool,
             onnx_dir: Optional[Path]):
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
        yield "optimised_fp16", optimize_for_inference(plain, dtype=torch.float16), \
            torch.channels_last
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
                 onnx_dir: Optional[Path] = None) -> List[dict]:
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
                                                                onnx_dir)]
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
                       "true_gmacs_per_crop": round(macs / 1e9, 3)}
                rows.append(row)
                print(f"{name:16s} {row['input']:>8s} {batch:>5d} {path:20s} "
                      f"{row['ms_per_crop']:10.1f} {row['gflops']:8.1f} "
                      f"{100 * row['fraction_of_matmul']:8.1f}% ({same_rounds:5.1f}) "
                      f"{row['speedup_vs_plain']:7.2f}x {row['speedup_vs_plain_median']:7.2f}x",
                      flush=True)
            del runners
        del model
    return rows


def measure_crops(repeat: int, persons: int = 20, frame_size: Tuple[int, int] = (1002, 1000),
                  input_size: Tuple[int, int] = (256, 192), seed: int = 0) -> dict:
    """Milliseconds per frame of :func:`pose.estimator.prepare_crops` (crop + normalisation)
    with each crop method, and of heatmap decoding, for ``persons`` random boxes in a random
    frame of ``frame_size = (height, width)`` (the shared videos' size); best of
    ``repeat * 10`` runs."""
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
    return result


def _allocator_child(argv: List[str]) -> int:
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
    """The issue's targets, ``None`` where the figure is missing. The network targets are read
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


def machine_info(device: torch.device) -> dict:
    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "device": str(device), "load_average_start": list(os.getloadavg())}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--allocator-child"]:
        return _allocator_child(argv[1:])
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
    parser.add_argument("--no-retain-memory", action="store_true",
                        help="leave glibc's malloc as it is (by default freed memory stays in "
                        "the process, as in the apps: pose.allocator)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="'cpu' times by the process's CPU time: with --threads 1 it "
                        "discounts time lost to other processes on a busy machine (CPU only)")
    args = parser.parse_args(argv)
    global clock
    if args.clock == "cpu" and not args.device.startswith("cpu"):
        parser.error("--clock cpu needs --device cpu")
    clock = CLOCKS[args.clock]
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    repeat = args.repeat or (3 if args.quick else 5)
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

    use_onnx = not (args.quick or args.no_onnx) and device.type == "cpu"
    if use_onnx:
        use_onnx = onnxruntime_installed()
    # the engine the apps run pose networks with here (the acceptance rows)
    result["default_engine"] = default_engine(device)
    if result["default_engine"] == "onnxruntime" and not use_onnx:
        print("note: the onnxruntime rows are skipped (--quick / --no-onnx), so the checks on "
              "the default engine (onnxruntime) report None")
    print(f"\n{'preset':16s} {'input':>8s} {'batch':>5s} {'path':20s} {'ms/crop':>10s} "
          f"{'GFLOP/s':>8s} {'of matmul':>9s} {'(matmul)':>8s} {'vs plain':>8s} {'(median)':>8s}")
    with tempfile.TemporaryDirectory() as tmp:
        result["pose"] = measure_pose(args.presets, args.batches, device, repeat, mm,
                                      explore=args.explore,
                                      onnx_dir=Path(tmp) if use_onnx else None)
    if args.explore and device.type == "cpu":
        result["allocator"] = []
        for batch in sorted({max(args.batches), ALLOCATOR_CROWD_BATCH}):
            result["allocator"].append(measure_allocator(args.presets[0], batch, repeat))
            print("allocator:", ", ".join(f"{k} {v}" for k, v in result["allocator"][-1].items()),
                  flush=True)
    result["crops"] = measure_crops(repeat)
    print("\ncrops and decoding, ms per frame:", ", ".join(
        f"{k} {v}" for k, v in result["crops"].items()))
    for key, section in EXTRA_SECTIONS.items():
        result[key] = section(args)
        if result[key] is not None:
            print(f"{key}: {result[key]}")
    result["acceptance"] = acceptance(result)
    result["machine"]["load_average_end"] = list(os.getloadavg())
    print("\nacceptance:", ", ".join(f"{k} {v}" for k, v in result["acceptance"].items()))
    print(f"load average at end {result['machine']['load_average_end'][0]:.2f}")
    if args.json:
        write_json_atomic(result, args.json, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
