"""Timing for the speed benchmarks (:mod:`benchmarks.speed`): best and median of repeated runs,
runs of several functions taken in turns, the matrix-multiply throughput they are compared with,
and what machine they ran on.

Times are taken by :data:`clock`: wall time, or (:func:`set_clock` ``("cpu")``) the process's CPU
time, which other processes on a busy machine disturb much less. CUDA work is synchronised
before each reading.
"""
from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]  # set by --clock


def set_clock(name: str) -> None:
    """Times from now on by ``name`` in :data:`CLOCKS` (``"wall"`` or ``"cpu"``)."""
    global clock
    clock = CLOCKS[name]


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


PEAK_TFLOPS = {"H100": 989.4, "H200": 989.4}  # dense fp16/bf16 tensor cores, SXM datasheets


def peak_tflops(device: torch.device) -> Optional[float]:
    """The dense fp16 peak of a known GPU (by name), else None."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def fp16_matmul_tflops(device: torch.device, n: int = 8192, repeat: int = 10) -> float:
    """Measured fp16 ``n x n`` matrix-product TFLOP/s on a GPU (best of ``repeat``)."""
    a = torch.randn(n, n, device=device, dtype=torch.float16)
    b = torch.randn(n, n, device=device, dtype=torch.float16)
    t = time_call(lambda: a @ b, device, repeat, warmup=3)["best"]
    return round(2 * n ** 3 / t / 1e12, 1)


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
