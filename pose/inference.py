"""The optimised inference path of the pose networks.

:func:`optimize_for_inference` turns a pose network into an inference-only copy: BatchNorm folded
into the convolutions (:mod:`pose.fuse`), weights and activations in channels-last memory format
(on CPU oneDNN then runs the convolutions without reordering activations to its blocked layout),
forward passes under ``torch.inference_mode``, and optionally ``torch.compile`` and fp16/bf16
autocast. The original module is left untouched. On 2-core CPUs this gives HRNet-W32 1.2-1.4x
the plain module's throughput (``benchmarks/speed.py``; more with ``compile``).
The code is device-agnostic: the same calls serve CUDA (where fp16 autocast pays) and CPU.
"""
from __future__ import annotations

import contextlib
import copy
import importlib.util
import warnings
from typing import Any, Dict, Optional, Union

import torch
from torch import nn

from .fuse import fold_batchnorm

_KEPT_ATTRIBUTES = ("preset", "checkpoint")
ENGINES = ("torch", "onnxruntime")


def onnxruntime_installed() -> bool:
    """Whether ``onnx`` (for the export) and ``onnxruntime`` can be found."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))


def default_engine(device: Union[str, torch.device]) -> str:
    """The engine the apps run pose networks with on ``device`` unless told otherwise:
    ``"onnxruntime"`` on CPU when ``onnx`` and ``onnxruntime`` are installed (on the 2-core
    CPU of README's "Speed" it ran HRNet-W32 faster than PyTorch's optimised path, whose
    oneDNN convolutions reach less of the machine's matmul throughput), else ``"torch"``
    (this module's optimised path; on CUDA with cuDNN)."""
    if torch.device(device).type != "cpu":
        return "torch"
    return "onnxruntime" if onnxruntime_installed() else "torch"


def resolve_engine(choice: str, device: Union[str, torch.device]) -> str:
    """``"auto"`` -> :func:`default_engine` of ``device``; ``"torch"`` / ``"onnxruntime"`` as
    they are."""
    if choice == "auto":
        return default_engine(device)
    if choice not in ENGINES:
        raise ValueError(f"engine must be 'auto' or one of {ENGINES}, got {choice!r}")
    return choice


class InferenceModel(nn.Module):
    """An inference-only pose network: ``forward(x [N, 3, H, W] float)`` -> heatmaps
    ``[N, J, H/4, W/4]`` float32 in contiguous (NCHW) memory, computed under
    ``torch.inference_mode`` (and autocast to ``dtype`` if given) on the module's device.

    Build it with :func:`optimize_for_inference`; ``preset`` and ``checkpoint`` of the original
    network are kept as attributes.
    """

    def __init__(self, module: nn.Module, channels_last: bool = True,
                 dtype: Optional[torch.dtype] = None, compiled: Optional[object] = None) -> None:
        super().__init__()
        self.module = module
        self.channels_last = channels_last
        self.dtype = dtype
        # the torch.compile wrapper of self.module, kept out of the submodules (and state_dict)
        object.__setattr__(self, "_compiled", compiled)

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def _autocast(self, device: torch.device):
        if self.dtype is None or self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        device = self.device
        with torch.inference_mode():
            x = x.to(device, torch.float32, non_blocking=True)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            run = self._compiled if self._compiled is not None else self.module
            with self._autocast(device):
                out = run(x)
            return out.float().contiguous()


def optimize_for_inference(model: nn.Module, *, fold_bn: bool = True, channels_last: bool = True,
                           compile: Union[bool, str, Dict[str, Any]] = False,
                           dtype: Optional[torch.dtype] = None,
                           device: Optional[Union[str, torch.device]] = None) -> InferenceModel:
    """An optimised inference copy of the pose network ``model`` (which stays as it is).

    Args:
        model: an ``nn.Module`` mapping ``[N, 3, H, W]`` to heatmaps.
        fold_bn: fold BatchNorm into the preceding convolutions (exact up to float rounding);
            a network that ``torch.fx`` cannot trace is left unfolded, with a warning.
        channels_last: keep weights and activations in channels-last (NHWC) memory format.
        compile: ``torch.compile`` the network: ``True``, a mode name such as
            ``"max-autotune"``, or a dict of ``torch.compile`` keyword arguments. On CPU its
            inductor backend needs a C++ compiler; the first forwards of new batch sizes compile
            (minutes for HRNet-W32 on 2 cores).
        dtype: autocast dtype, e.g. ``torch.float16`` or ``torch.bfloat16`` on CUDA
            (``torch.bfloat16`` also runs on CPU, fast only on CPUs with bf16 instructions);
            ``None`` keeps float32. Outputs are float32 either way.
        device: where the copy lives; default: where ``model`` is.
    Returns:
        an :class:`InferenceModel`.
    """
    if dtype is not None and dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(f"dtype must be float32, float16 or bfloat16, got {dtype}")
    module = None
    if fold_bn:
        try:
            module = fold_batchnorm(model)
        except Exception as error:  # torch.fx cannot trace every custom forward
            warnings.warn(f"BatchNorm not folded: tracing the network failed ({error})")
    if module is None:
        module = copy.deepcopy(model).eval()
    if device is not None:
        module = module.to(device)
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    compiled = None
    if compile:
        options = (compile if isinstance(compile, dict)
                   else {"mode": compile} if isinstance(compile, str) else {})
        compiled = torch.compile(module, **options)
    wrapper = InferenceModel(module, channels_last=channels_last, dtype=dtype, compiled=compiled)
    for name in _KEPT_ATTRIBUTES:
        if hasattr(model, name):
            setattr(wrapper, name, getattr(model, name))
    return wrapper.eval()
