"""Keeping freed memory in the process, so that the next forward pass reuses it.

PyTorch's CPU tensors come from ``malloc``. glibc hands large freed blocks back to the kernel
(blocks above its mmap threshold, which starts at 128 kB and rises up to 32 MB as blocks are
freed, and the top of the heap beyond its trim threshold), so the next forward pass gets fresh
pages, which the kernel zeroes at first touch.
For HRNet-W32 that is about 35,000 page faults (140 MB zeroed) per forward at batch 8 and
410,000 (1.6 GB) at batch 40, a frame of 20 people with the flip test; kept memory takes both
to zero and made batch 40 1.15x faster on a 2-core CPU (batch 8: within that machine's noise;
``python -m benchmarks.speed --explore``, section ``allocator``). Preloading jemalloc or
tcmalloc, as PyTorch's CPU tuning guides suggest, has the same effect;
:func:`retain_freed_memory` gets it from glibc itself.

The setting is process-wide and cannot be undone: the process keeps its peak heap (for a video
app, that of its largest frame) instead of returning it between frames. The apps and the
PoseTrack18 runner call it once their models are loaded, the COCO evaluation and the speed
benchmark at start-up; a library user opts in by calling it.
"""
from __future__ import annotations

import ctypes
import platform
import threading

# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_NEVER_TRIM = -1  # mallopt(3): -1 turns trimming off

_lock = threading.Lock()
_applied = False


def retain_freed_memory() -> bool:
    """Tells glibc's ``malloc`` not to serve large blocks by ``mmap`` (a worker thread's
    arena still maps blocks larger than its 64 MB heaps, the main thread's heap takes any size)
    and never to trim its heap, so freed memory stays in the process for the next allocation.

    Returns ``True`` when applied (now or by an earlier call), ``False`` where it does not
    apply (another C library, such as macOS, Windows or musl: they keep their own policies).
    """
    global _applied
    with _lock:
        if _applied:
            return True
        if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
            return False
        try:
            libc = ctypes.CDLL(None)
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            return False
        mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        mallopt.restype = ctypes.c_int
        # mallopt returns 1 on success
        _applied = (mallopt(_M_MMAP_MAX, 0) == 1
                    and mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM) == 1)
        return _applied
