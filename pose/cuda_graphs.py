"""Fixed-shape networks replayed as CUDA graphs, batch sizes rounded up to a few buckets.

A pose network is hundreds of small kernels. Launched one by one from Python, an HRNet-W32
forward pass costs about 26 ms on an H200 whatever the batch size: the GPU waits for the CPU.
Captured once as a CUDA graph, the same kernels replay with one launch. A graph has fixed
shapes, so :class:`BucketedGraphs` keeps one graph per batch size of a short list (the
buckets), pads a batch with spare rows up to the smallest bucket that holds it, and cuts a batch
larger than the largest bucket into chunks. Each bucket is captured the first time it is needed
(or all at once by :meth:`BucketedGraphs.prepare`).

Without CUDA (``capture=False``) the padding and chunking run the same way, eagerly: the CPU
tests check them there.

The rows of a batch must be independent of each other (inference networks with BatchNorm in
eval mode or folded are): the spare rows hold whatever the last batch left there and their
outputs are dropped.
"""
from __future__ import annotations

import threading
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch

DEFAULT_BUCKETS = (1, 2, 4, 8, 16, 24, 32, 40, 48, 64)


def plan_batches(n: int, buckets: Sequence[int]) -> List[Tuple[int, int]]:
    """How a batch of ``n`` rows runs: ``(rows, bucket)`` per chunk, in order. Chunks of the
    largest bucket first, then the remaining rows padded up to the smallest bucket holding
    them. ``plan_batches(70, (8, 16, 64)) == [(64, 64), (6, 8)]``."""
    buckets = sorted(buckets)
    largest = buckets[-1]
    plan = []
    while n > largest:
        plan.append((largest, largest))
        n -= largest
    if n > 0:
        plan.append((n, next(b for b in buckets if b >= n)))
    return plan


class BucketedGraphs:
    """Runs ``fn`` (``[B, *sample_shape]`` -> a tensor with B rows first) on batches of any
    size through one CUDA graph per bucket.

    Args:
        fn: the computation; it must be capturable (no host synchronisation, no shape-dependent
            Python control flow) and must not keep references to its input.
        sample_shape: the shape of one row, e.g. ``(3, 256, 192)``.
        dtype: the input dtype the graphs are captured with (inputs are converted to it).
        device: where the graphs run.
        buckets: the batch sizes that get a graph.
        capture: capture CUDA graphs (default: when ``device`` is CUDA); False runs ``fn``
            eagerly on the padded batches.
        memory_format: of the static input (``torch.channels_last`` for channels-last
            networks).
        warmup_runs: eager runs on a side stream before each capture (cuDNN picks its
            algorithms and lazily created state is made there, not in the graph).

    Calls are serialised by a lock (the static buffers are shared); outputs are fresh tensors
    (copies out of the graph's memory).
    """

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], sample_shape: Sequence[int],
                 *, dtype: torch.dtype, device: Union[str, torch.device],
                 buckets: Sequence[int] = DEFAULT_BUCKETS, capture: Optional[bool] = None,
                 memory_format: torch.memory_format = torch.contiguous_format,
                 warmup_runs: int = 2) -> None:
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        if capture is None:
            capture = self.device.type == "cuda"
        if capture and self.device.type != "cuda":
            raise ValueError(f"CUDA graphs need a CUDA device, got {self.device}")
        buckets = tuple(sorted({int(b) for b in buckets}))
        if not buckets or buckets[0] < 1:
            raise ValueError(f"buckets must be positive batch sizes, got {buckets}")
        self.fn = fn
        self.sample_shape = tuple(int(s) for s in sample_shape)
        self.dtype = dtype
        self.buckets = buckets
        self.capture = capture
        self.memory_format = memory_format
        self.warmup_runs = warmup_runs
        # bucket -> (graph or None, static input, static output or None)
        self._entries: Dict[int, Tuple[Optional["torch.cuda.CUDAGraph"], torch.Tensor,
                                       Optional[torch.Tensor]]] = {}
        self._pool = None
        self._lock = threading.Lock()

    @property
    def captured(self) -> Tuple[int, ...]:
        """The buckets prepared so far."""
        return tuple(sorted(self._entries))

    def prepare(self, buckets: Optional[Sequence[int]] = None) -> None:
        """Captures the graphs of ``buckets`` (default: all) now rather than on first use."""
        with self._lock:
            for bucket in buckets or self.buckets:
                if bucket not in self.buckets:
                    raise ValueError(f"{bucket} is not one of the buckets {self.buckets}")
                self._entry(bucket)

    def _entry(self, bucket: int):
        entry = self._entries.get(bucket)
        if entry is not None:
            return entry
        static_in = torch.zeros((bucket, *self.sample_shape), dtype=self.dtype,
                                device=self.device)
        if static_in.dim() == 4:
            static_in = static_in.contiguous(memory_format=self.memory_format)
        if not self.capture:
            entry = (None, static_in, None)
        else:
            benchmark = torch.backends.cudnn.benchmark
            torch.backends.cudnn.benchmark = True  # the fastest algorithms, tried in warm-up
            try:
                entry = self._capture(static_in)
            finally:
                torch.backends.cudnn.benchmark = benchmark
        self._entries[bucket] = entry
        return entry

    def _capture(self, static_in: torch.Tensor):
        """Warm-up runs, then the graph of ``fn`` on ``static_in``."""
        with torch.inference_mode(), torch.cuda.device(self.device):
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                for _ in range(self.warmup_runs):
                    self.fn(static_in)
            torch.cuda.current_stream(self.device).wait_stream(side)
            if self._pool is None:  # one memory pool for all buckets: they never overlap
                self._pool = torch.cuda.graph_pool_handle()
            graph = torch.cuda.CUDAGraph()
            # thread_local: another thread (the detector running ahead) may use the GPU while
            # this one captures
            with torch.cuda.graph(graph, pool=self._pool, capture_error_mode="thread_local"):
                static_out = self.fn(static_in)
        return graph, static_in, static_out

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``fn`` of ``x`` ``[N, *sample_shape]`` (any device and dtype): ``[N, ...]`` on
        :attr:`device`."""
        if tuple(x.shape[1:]) != self.sample_shape:
            raise ValueError(f"expected inputs [N, {', '.join(map(str, self.sample_shape))}], "
                             f"got {list(x.shape)}")
        outputs = []
        with self._lock, torch.inference_mode():
            plan = plan_batches(len(x), self.buckets) or [(0, self.buckets[0])]
            start = 0
            for rows, bucket in plan:
                graph, static_in, static_out = self._entry(bucket)
                static_in[:rows].copy_(x[start:start + rows], non_blocking=True)
                if graph is None:
                    out = self.fn(static_in)
                else:
                    graph.replay()
                    out = static_out
                outputs.append(out[:rows].clone())
                start += rows
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs)
