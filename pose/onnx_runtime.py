"""Running an exported pose network (:mod:`pose.export`) with onnxruntime.

>>> net = OnnxPoseModel("hrnet_w32.onnx")            # preset and colour from the file
>>> estimator = pose.TopDownEstimator(net)           # same API as with a torch network
>>> net = OnnxPoseModel.from_torch(pose.build_model("hrnet_w32"))   # export, then load
>>> net = OnnxPoseModel.from_torch(model, cache=True)  # exported once per weights, then reused

On a 2-core CPU onnxruntime ran HRNet-W32 and SimpleBaseline-50 faster than PyTorch's
optimised path, and suffered less from other busy processes (see ``benchmarks/speed.py``).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import List, Optional, Sequence, Union

import numpy as np
import torch

from .export import INPUT_NAME, METADATA_KEY, export_onnx, model_metadata, resolve_exporter
from .onnx_session import execution_providers, open_session
from .registry import ModelPreset
from .safe_output import atomic_path


# export_onnx's arguments for cached files (part of their digest)
_CACHED_EXPORT = {"batch": "dynamic", "opset": 18, "fold_bn": True}


def onnx_cache_dir() -> Path:
    """Where :meth:`OnnxPoseModel.from_torch` keeps exported networks (``cache=True``):
    ``$HRTRACK_ONNX_CACHE`` if set, else ``<torch.hub.get_dir()>/hrtrack-onnx``."""
    folder = os.environ.get("HRTRACK_ONNX_CACHE")
    return Path(folder) if folder else Path(torch.hub.get_dir()) / "hrtrack-onnx"


def _source_files(model: torch.nn.Module) -> List[Path]:
    """The files of hrtrack's code that shape the exported graph: every module defining a
    layer class of ``model`` (torch's own are covered by its version), BN folding and export."""
    from . import export, fuse

    names = {type(m).__module__ for m in model.modules()} | {fuse.__name__, export.__name__}
    files = {getattr(sys.modules.get(name), "__file__", None) for name in names
             if not name.startswith("torch.")}
    return sorted(Path(f) for f in files if f)


def export_digest(model: torch.nn.Module, exporter: str) -> str:
    """SHA-256 (hex) of everything the file :meth:`OnnxPoseModel.from_torch` exports depends
    on: the preset and channel order, every parameter and buffer (names, dtypes, shapes,
    values), the export settings and exporter, the torch, onnx and onnxscript versions, and the
    source of the network's layer classes, BN folding and export. Equal digests give
    interchangeable files."""
    import onnx

    digest = hashlib.sha256()
    header = {"metadata": model_metadata(model), "exporter": resolve_exporter(exporter),
              "settings": _CACHED_EXPORT, "torch": torch.__version__, "onnx": onnx.__version__,
              "onnxscript": _version("onnxscript")}
    digest.update(json.dumps(header, sort_keys=True, default=str).encode())
    for path in _source_files(model):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()


def _version(package: str) -> Optional[str]:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


class OnnxPoseModel:
    """A module-like callable: ``model(x [N, 3, H, W] float tensor)`` -> heatmaps
    ``[N, J, H/4, W/4]`` float32 CPU tensor, computed by an onnxruntime session.

    Args:
        path: ``.onnx`` file written by :func:`pose.export.export_onnx`.
        threads: intra-op threads (default: onnxruntime's, one per core).
        spin: let idle worker threads spin (slightly lower latency, but they take CPU from other
            threads of the pipeline, such as video decoding or a torch network).
        providers: onnxruntime execution providers; default: CUDA if available, then CPU
            (:func:`pose.onnx_session.execution_providers`).
        preset: the network's preset; default: from the file's metadata.

    Attributes: ``preset``, ``color`` (channel order the network expects), ``session``.
    """

    def __init__(self, path: Union[str, os.PathLike], *, threads: Optional[int] = None,
                 spin: bool = False, providers: Optional[Sequence[str]] = None,
                 preset: Optional[ModelPreset] = None) -> None:
        if providers is None:
            providers = execution_providers()
        self.session = open_session(path, providers, threads=threads, spin=spin)
        meta = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        fields = json.loads(meta) if meta else {}
        self.color = fields.pop("color", "rgb")
        if preset is None:
            if not fields:
                raise ValueError(f"{path} has no {METADATA_KEY!r} metadata: pass preset=...")
            fields["input_size"] = tuple(fields["input_size"])
            preset = ModelPreset(**fields)
        self.preset = preset

    @classmethod
    def from_torch(cls, model: torch.nn.Module, path: Optional[Union[str, os.PathLike]] = None,
                   *, exporter: str = "auto", cache: bool = False,
                   **kwargs) -> "OnnxPoseModel":
        """Exports the torch network ``model`` (:func:`pose.export.export_onnx`, dynamic batch)
        and runs it; ``kwargs`` go to the constructor.

        The file goes to ``path``; else, with ``cache``, to :func:`onnx_cache_dir` under the
        name ``<preset>-<digest>.onnx`` (:func:`export_digest`), where later calls with the
        same weights and code find it and skip the export (seconds for HRNet-W32); else (or
        when the cache folder cannot be written, with a warning) to a temporary file, removed
        once loaded. Files are written under a temporary name and renamed, so an interrupted
        export leaves nothing half-written behind; an unreadable cached file is exported
        again."""
        if path is not None:
            return cls(_export_atomic(model, Path(path), exporter), **kwargs)
        if cache:
            exporter = resolve_exporter(exporter)
            target = onnx_cache_dir() / (f"{model.preset.name}-"
                                         f"{export_digest(model, exporter)[:20]}.onnx")
            if target.exists():
                try:
                    return cls(target, **kwargs)
                except _unreadable_file_errors():  # damaged by something else: export again
                    pass
            try:
                return cls(_export_atomic(model, target, exporter), **kwargs)
            except OSError as error:
                warnings.warn(f"cannot write the ONNX cache {target.parent} ({error}): "
                              "exporting to a temporary file (set HRTRACK_ONNX_CACHE to a "
                              "writable folder to keep exports)")
        with tempfile.TemporaryDirectory() as tmp:
            return cls(export_onnx(model, Path(tmp) / "pose.onnx", exporter=exporter), **kwargs)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``x [N, 3, H, W]`` float (any device) -> ``[N, J, H/4, W/4]`` float32 CPU tensor."""
        array = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        (out,) = self.session.run(None, {INPUT_NAME: array})
        return torch.from_numpy(out)

    def eval(self) -> "OnnxPoseModel":
        return self


def _export_atomic(model: torch.nn.Module, target: Path, exporter: str) -> Path:
    """:func:`pose.export.export_onnx` (with :data:`_CACHED_EXPORT`) to a temporary file
    beside ``target``, then renamed."""
    with atomic_path(target) as temporary:
        export_onnx(model, temporary, exporter=exporter, **_CACHED_EXPORT)
    return target


def _unreadable_file_errors() -> tuple:
    """What onnxruntime raises for a file that is not a readable ONNX graph, and the
    ``ValueError`` of a file without hrtrack's metadata."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    return (state.Fail, state.InvalidProtobuf, state.InvalidGraph, state.NoSuchFile, ValueError)
