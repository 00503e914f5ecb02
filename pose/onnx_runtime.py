"""Running an exported pose network (:mod:`pose.export`) with onnxruntime.

>>> net = OnnxPoseModel("hrnet_w32.onnx")            # preset and colour from the file
>>> estimator = pose.TopDownEstimator(net)           # same API as with a torch network
>>> net = OnnxPoseModel.from_torch(pose.build_model("hrnet_w32"))   # export, then load

On this 2-core CPU onnxruntime ran HRNet-W32 and SimpleBaseline-50 faster than PyTorch's
optimised path, and suffered less from other busy processes (see ``benchmarks/speed.py``).
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch

from .export import INPUT_NAME, METADATA_KEY, export_onnx
from .registry import ModelPreset


class OnnxPoseModel:
    """A module-like callable: ``model(x [N, 3, H, W] float tensor)`` -> heatmaps
    ``[N, J, H/4, W/4]`` float32 CPU tensor, computed by an onnxruntime session.

    Args:
        path: ``.onnx`` file written by :func:`pose.export.export_onnx`.
        threads: intra-op threads (default: onnxruntime's, one per core).
        spin: let idle worker threads spin (slightly lower latency, but they take CPU from other
            threads of the pipeline, such as video decoding or a torch network).
        providers: onnxruntime execution providers; default: CUDA if available, then CPU.
        preset: the network's preset; default: from the file's metadata.

    Attributes: ``preset``, ``color`` (channel order the network expects), ``session``.
    """

    def __init__(self, path: Union[str, os.PathLike], *, threads: Optional[int] = None,
                 spin: bool = False, providers: Optional[Sequence[str]] = None,
                 preset: Optional[ModelPreset] = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        if providers is None:
            available = ort.get_available_providers()
            providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                         if p in available]
        self.session = ort.InferenceSession(str(path), options, providers=list(providers))
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
                   *, exporter: str = "auto", **kwargs) -> "OnnxPoseModel":
        """Exports the torch network ``model`` (:func:`pose.export.export_onnx`, dynamic batch)
        to ``path`` (default: a temporary file, removed once loaded) and runs it; ``kwargs`` go
        to the constructor."""
        if path is not None:
            return cls(export_onnx(model, path, exporter=exporter), **kwargs)
        with tempfile.TemporaryDirectory() as tmp:
            return cls(export_onnx(model, Path(tmp) / "pose.onnx", exporter=exporter), **kwargs)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        (out,) = self.session.run(None, {INPUT_NAME: array})
        return torch.from_numpy(out)

    def eval(self) -> "OnnxPoseModel":
        return self
