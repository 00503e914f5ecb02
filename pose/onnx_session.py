"""onnxruntime sessions: which execution providers run a graph on which device, and opening one.

Every ONNX graph hrtrack runs (exported pose networks, :mod:`pose.onnx_runtime`; ONNX person
detectors, :mod:`detectors.onnx_yolox`) gets its providers from :func:`execution_providers`:

- ``device=None``: CUDA when onnxruntime has it, then the CPU;
- ``"cpu"``: the CPU only;
- ``"cuda"`` / ``"cuda:N"``: CUDA, then the CPU for operators CUDA lacks; the CPU alone when
  onnxruntime has no CUDA provider (the CPU-only ``onnxruntime`` package).

Needs the ``onnxruntime`` package (``pip install -e ".[onnx]"``); it is imported on first use.
"""
from __future__ import annotations

import os
from typing import List, Optional, Sequence, Union

import torch

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"

Device = Union[str, torch.device, None]


def has_cuda_provider() -> bool:
    """Whether onnxruntime is installed with its CUDA execution provider."""
    try:
        import onnxruntime
    except ImportError:
        return False
    return CUDA in onnxruntime.get_available_providers()


def execution_providers(device: Device = None) -> List[str]:
    """The onnxruntime providers for ``device``, best first (see the module doc)."""
    if device is not None and torch.device(device).type != "cuda":
        return [CPU]
    return [CUDA, CPU] if has_cuda_provider() else [CPU]


def open_session(path: Union[str, os.PathLike], providers: Sequence[str], *,
                 threads: Optional[int] = None, spin: bool = False,
                 quiet: bool = False):
    """An ``onnxruntime.InferenceSession`` of the graph at ``path``.

    Args:
        providers: from :func:`execution_providers` (or an explicit list).
        threads: intra-op threads (default: onnxruntime's, one per core).
        spin: let idle worker threads spin (slightly lower latency, but they take CPU from other
            threads of the pipeline, such as video decoding or another network).
        quiet: show only onnxruntime's errors (not its warnings).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    if quiet:
        options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    return ort.InferenceSession(str(path), options, providers=list(providers))
