"""The optimised inference path of the pose networks, and the choice of engine.

:func:`optimize_for_inference` turns a pose network into an inference-only copy: BatchNorm folded
into the convolutions (:mod:`pose.fuse`), weights and activations in channels-last memory format
(on CPU oneDNN then runs the convolutions without reordering activations to its blocked layout),
forward passes under ``torch.inference_mode``, and optionally ``torch.compile`` and weights and
activations in fp16/bf16. The original module is left untouched. On 2-core CPUs this gives
HRNet-W32 1.2-1.4x the plain module's throughput (``benchmarks/speed.py``; more with
``compile``). With ``cuda_graphs=True`` the copy replays CUDA graphs
(:class:`GraphedPoseNetwork`, :mod:`pose.cuda_graphs`): the GPU engine.

Engines (:data:`ENGINES`, the apps' ``--pose-backend``): ``"torch"`` (this module's eager path,
float32), ``"onnxruntime"`` (:mod:`pose.onnx_runtime`) and ``"cudagraph"`` (fp16, CUDA graphs;
CUDA only). :func:`default_engine` is what ``auto`` picks.
"""
from __future__ import annotations

import copy
import importlib.util
import warnings
from typing import Any, Dict, Optional, Union

import torch
from torch import nn

from .cuda_graphs import DEFAULT_BUCKETS, BucketedGraphs
from .errors import BadInputError
from .fuse import fold_batchnorm

_KEPT_ATTRIBUTES = ("preset", "checkpoint")
ENGINES = ("torch", "onnxruntime", "cudagraph")


def onnxruntime_installed() -> bool:
    """Whether ``onnx`` (for the export) and ``onnxruntime`` can be found."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))


def default_engine(device: Union[str, torch.device]) -> str:
    """The engine the apps run pose networks with on ``device`` unless told otherwise:
    ``"cudagraph"`` on CUDA (fp16 CUDA graphs, :class:`GraphedPoseNetwork`); on CPU
    ``"onnxruntime"`` when ``onnx`` and ``onnxruntime`` are installed (on the 2-core CPU of
    README's "Speed" it ran HRNet-W32 faster than PyTorch's optimised path, whose oneDNN
    convolutions reach less of the machine's matmul throughput), else ``"torch"`` (this
    module's optimised path), which also serves other devices."""
    kind = torch.device(device).type
    if kind == "cuda":
        return "cudagraph"
    if kind != "cpu":
        return "torch"
    return "onnxruntime" if onnxruntime_installed() else "torch"


def resolve_engine(choice: str, device: Union[str, torch.device]) -> str:
    """``"auto"`` -> :func:`default_engine` of ``device``; an engine of :data:`ENGINES` as it
    is, once checked against the device (``"cudagraph"`` needs CUDA)."""
    if choice == "auto":
        return default_engine(device)
    if choice not in ENGINES:
        raise BadInputError(f"engine must be 'auto' or one of {ENGINES}, got {choice!r}")
    if choice == "cudagraph" and torch.device(device).type != "cuda":
        raise BadInputError(f"the cudagraph engine runs on CUDA GPUs only, not on {device}; "
                            "use --pose-backend torch or onnxruntime there (or auto)")
    return choice


class InferenceModel(nn.Module):
    """An inference-only pose network: ``forward(x [N, 3, H, W] float)`` -> heatmaps
    ``[N, J, H/4, W/4]`` float32 in contiguous (NCHW) memory, computed under
    ``torch.inference_mode`` on the module's device, in ``dtype`` when given (the module's
    weights are stored in it; inputs are converted to it).

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            x = x.to(self.device, self.dtype or torch.float32, non_blocking=True)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            run = self._compiled if self._compiled is not None else self.module
            return run(x).float().contiguous()


class GraphedPoseNetwork(InferenceModel):
    """The GPU engine: an :class:`InferenceModel` whose forward passes replay CUDA graphs, one
    per batch-size bucket (:class:`pose.cuda_graphs.BucketedGraphs`; a batch is padded up to
    its bucket, larger ones run in chunks of the largest). Build it with
    ``optimize_for_inference(model, dtype=torch.float16, cuda_graphs=True)``.

    ``forward(x [N, 3, H, W])`` (any device, any float dtype) -> heatmaps ``[N, J, H/4, W/4]``
    float32, contiguous, on the GPU. Graphs are captured on first use of a bucket, or all at
    once by :meth:`warmup` (the apps do that while loading, so the first frames do not wait).
    """

    def __init__(self, module: nn.Module, input_size, *, dtype: Optional[torch.dtype],
                 buckets=DEFAULT_BUCKETS, compiled: Optional[object] = None,
                 capture: Optional[bool] = None) -> None:
        super().__init__(module, channels_last=True, dtype=dtype, compiled=compiled)
        run = compiled if compiled is not None else module

        def heatmaps(x: torch.Tensor) -> torch.Tensor:
            return run(x).float().contiguous()

        self.graphs = BucketedGraphs(heatmaps, (3, *input_size), dtype=dtype or torch.float32,
                                     device=self.device, buckets=buckets, capture=capture,
                                     memory_format=torch.channels_last)

    def warmup(self, buckets=None) -> "GraphedPoseNetwork":
        """Captures the graphs of ``buckets`` (default: all) now."""
        self.graphs.prepare(buckets)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.graphs(x)


def optimize_for_inference(model: nn.Module, *, fold_bn: bool = True, channels_last: bool = True,
                           compile: Union[bool, str, Dict[str, Any]] = False,
                           dtype: Optional[torch.dtype] = None,
                           device: Optional[Union[str, torch.device]] = None,
                           cuda_graphs: bool = False,
                           buckets=DEFAULT_BUCKETS) -> InferenceModel:
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
        dtype: the dtype of weights and activations, e.g. ``torch.float16`` or
            ``torch.bfloat16`` on CUDA (``torch.bfloat16`` also runs on CPU, fast only on CPUs
            with bf16 instructions); ``None`` keeps float32. Outputs are float32 either way.
            (The weights are converted once: autocast would convert them again at every
            forward pass, which made fp16 slower than fp32 on a GPU at small batches.)
        device: where the copy lives; default: where ``model`` is.
        cuda_graphs: return a :class:`GraphedPoseNetwork` (CUDA only; needs
            ``channels_last``), which pads batches up to ``buckets``.
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
    if dtype is not None and dtype != torch.float32:
        module = module.to(dtype)
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    if cuda_graphs:
        where = next(module.parameters()).device
        if where.type != "cuda":
            raise ValueError(f"CUDA graphs need the network on a CUDA device, not {where}")
        if not channels_last:
            raise ValueError("cuda_graphs=True needs channels_last=True")
        if getattr(model, "preset", None) is None:
            raise ValueError("cuda_graphs=True needs a network from pose.build_model (its "
                             "preset gives the input size)")
    compiled = None
    if compile:
        options = (dict(compile) if isinstance(compile, dict)
                   else {"mode": compile} if isinstance(compile, str) else {})
        if cuda_graphs:  # one specialised compilation per bucket, captured as it is
            options.setdefault("dynamic", False)
        compiled = torch.compile(module, **options)
    if cuda_graphs:
        wrapper = GraphedPoseNetwork(module, model.preset.input_size, dtype=dtype,
                                     buckets=buckets, compiled=compiled)
    else:
        wrapper = InferenceModel(module, channels_last=channels_last, dtype=dtype,
                                 compiled=compiled)
    for name in _KEPT_ATTRIBUTES:
        if hasattr(model, name):
            setattr(wrapper, name, getattr(model, name))
    return wrapper.eval()
