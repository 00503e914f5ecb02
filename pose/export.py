"""ONNX export of the pose networks, checked against PyTorch with onnxruntime.

    python -m pose.export PRESET_OR_CHECKPOINT --output model.onnx [--weights W]
        [--batch dynamic|N] [--opset 18] [--exporter auto|dynamo|torchscript] [--no-fold]
        [--tolerance 1e-3]

``PRESET_OR_CHECKPOINT`` is a preset (``hrnet_w32``; ``--weights`` then names a checkpoint, path
or URL, else the weights are random) or a published checkpoint name (``hrnet_w32_coco_256x192``).
The graph has input ``input`` ``[N, 3, H, W]`` (normalised float32, the checkpoint's channel
order) and output ``heatmaps`` ``[N, J, H/4, W/4]``; ``N`` is symbolic with ``--batch dynamic``.
The preset (name, input size, joints, layout) and the channel order are stored in the file's
metadata, from which :class:`pose.onnx_runtime.OnnxPoseModel` rebuilds them. BatchNorm is folded
before export (:mod:`pose.fuse`). The CLI then runs the file with onnxruntime on a batch of 2
and prints the largest difference from the PyTorch eval model; it exits with status 1 if that is
above ``--tolerance`` times the largest heatmap value.

Needs the ``onnx`` package (``pip install onnx``); the check needs ``onnxruntime``. With
``onnxscript`` installed the ``torch.export``-based exporter is used (``--exporter auto``), else
PyTorch's older TorchScript-based one; both give the same graph semantics.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import importlib.util
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import torch
from torch import nn

from . import zoo
from .checkpoints import input_color
from .errors import BadInputError, MissingPackageError, report_errors
from .fuse import fold_batchnorm
from .onnx_session import execution_providers, open_session
from .registry import build_model, get_preset, pretrained
from .safe_output import atomic_path, check_outputs

METADATA_KEY = "hrtrack.pose"  # JSON: preset fields + "color"
INPUT_NAME, OUTPUT_NAME = "input", "heatmaps"


def model_metadata(model: nn.Module, color: Optional[str] = None) -> Dict[str, object]:
    """What a runner needs besides the graph: the preset's fields and the channel order."""
    fields = dataclasses.asdict(model.preset)
    fields["color"] = input_color(model) if color is None else color
    return fields


def resolve_exporter(exporter: str) -> str:
    """``"auto"`` -> ``"dynamo"`` when ``onnxscript`` is installed, else ``"torchscript"``;
    other names unchanged."""
    if exporter == "auto":
        return "dynamo" if importlib.util.find_spec("onnxscript") else "torchscript"
    return exporter


def _torch_export(network: nn.Module, example: torch.Tensor, path: Path, dynamic: bool,
                  opset: int, exporter: str) -> None:
    exporter = resolve_exporter(exporter)
    if exporter == "dynamo":
        shapes = ({0: torch.export.Dim("batch")},) if dynamic else None
        # external_data=False: the weights inside the file (no "<path>.data" beside it; pose
        # networks are far below protobuf's 2 GB limit)
        torch.onnx.export(network, (example,), str(path), input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], dynamic_shapes=shapes,
                          opset_version=opset, dynamo=True, verbose=False,
                          external_data=False)
    elif exporter == "torchscript":
        axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic else None
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            torch.onnx.export(network, (example,), str(path), input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME], dynamic_axes=axes,
                              opset_version=opset, dynamo=False)
    else:
        raise ValueError(f"exporter must be 'auto', 'dynamo' or 'torchscript', got {exporter!r}")


def export_onnx(model: nn.Module, path: Union[str, os.PathLike], *,
                batch: Union[str, int] = "dynamic", opset: int = 18, fold_bn: bool = True,
                color: Optional[str] = None, exporter: str = "auto") -> Path:
    """Writes ``model`` (a network from :func:`pose.build_model`) to ``path`` as ONNX.

    Args:
        batch: ``"dynamic"`` (symbolic batch axis) or a fixed batch size.
        opset: ONNX opset version.
        fold_bn: fold BatchNorm into the convolutions first.
        color: channel order to record; default: the loaded checkpoint's, else ``"rgb"``.
        exporter: ``"dynamo"`` (``torch.export``-based, needs ``onnxscript``),
            ``"torchscript"`` (PyTorch's older exporter) or ``"auto"`` (dynamo if available).
    """
    try:
        import onnx
    except ImportError as error:  # the exporter needs it as well
        raise MissingPackageError("ONNX export needs the onnx package: pip install onnx") from error
    path = Path(path)
    network = fold_batchnorm(model) if fold_bn else copy.deepcopy(model)  # model stays as is
    network = network.float().cpu().eval()
    dynamic = batch == "dynamic"
    # batch 2 as the example: torch.export specialises a size-1 axis even when marked dynamic
    example = torch.zeros(2 if dynamic else int(batch), 3, *model.preset.input_size)
    with atomic_path(path) as temporary:  # an existing file survives a failed export
        with torch.no_grad():
            _torch_export(network, example, temporary, dynamic, opset, exporter)
        proto = onnx.load(str(temporary))
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, json.dumps(model_metadata(model, color))
        onnx.save(proto, str(temporary))
    return path


def check_onnx(model: nn.Module, path: Union[str, os.PathLike], batch: int = 2,
               seed: int = 0) -> Tuple[float, float]:
    """Runs ``path`` with onnxruntime and ``model`` (eval, float32) on a random normal batch;
    returns the largest absolute difference and the largest absolute PyTorch output."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 3, *model.preset.input_size, generator=gen)
    with torch.no_grad():
        expected = copy.deepcopy(model).float().cpu().eval()(x)  # model stays as is
    session = open_session(path, execution_providers())
    (actual,) = session.run(None, {INPUT_NAME: x.numpy()})
    actual = torch.from_numpy(actual)
    return float((actual - expected).abs().max()), float(expected.abs().max())


def _load(name: str, weights: Optional[str]) -> nn.Module:
    if zoo.is_published(name):
        if weights is not None:
            raise BadInputError(f"{name} is a published checkpoint: --weights does not apply")
        return pretrained(name)
    return build_model(name, weights=weights)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Export a pose network to ONNX and check it "
                                     "with onnxruntime.")
    parser.add_argument("model", help="preset (hrnet_w32, pose_resnet_50...) or published "
                        "checkpoint name")
    parser.add_argument("--output", "-o", type=Path, required=True, help="the .onnx file")
    parser.add_argument("--weights", help="checkpoint for a preset: zoo name, path or URL "
                        "(default: random weights)")
    parser.add_argument("--batch", default="dynamic", help="'dynamic' or a fixed batch size")
    parser.add_argument("--opset", type=int, default=18)
    parser.add_argument("--exporter", choices=("auto", "dynamo", "torchscript"), default="auto",
                        help="PyTorch exporter (auto: dynamo if onnxscript is installed)")
    parser.add_argument("--no-fold", action="store_true", help="keep BatchNorm layers")
    parser.add_argument("--tolerance", type=float, default=1e-3,
                        help="largest accepted difference, relative to the largest heatmap value")
    parser.add_argument("--no-check", action="store_true", help="skip the onnxruntime check")
    args = parser.parse_args(argv)
    if args.batch != "dynamic" and not args.batch.isdigit():
        parser.error("--batch is 'dynamic' or a positive integer")
    batch = args.batch if args.batch == "dynamic" else int(args.batch)
    return report_errors(lambda: _export(args, batch))


def _export(args: argparse.Namespace, batch: Union[int, str]) -> int:
    """The export (and check) that ``main`` asked for; returns the exit code."""
    weights = [("--weights", args.weights)] if args.weights and os.path.isfile(args.weights) \
        else []
    check_outputs([("--output", args.output)], weights, create_folders=True)
    if not zoo.is_published(args.model):
        get_preset(args.model)  # an unknown name is said before any work
    model = _load(args.model, args.weights).eval()
    path = export_onnx(model, args.output, batch=batch, opset=args.opset,
                       fold_bn=not args.no_fold, exporter=args.exporter)
    h, w = model.preset.input_size
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): input [{batch}, 3, {h}, {w}], "
          f"{model.preset.num_joints} joints, opset {args.opset}")
    if args.no_check:
        return 0
    check_batch = 2 if batch == "dynamic" else batch
    diff, peak = check_onnx(model, path, batch=check_batch)
    ok = diff <= args.tolerance * max(peak, 1.0)
    print(f"onnxruntime vs PyTorch, batch {check_batch}: max |diff| {diff:.3g} "
          f"({'ok' if ok else 'TOO LARGE'}; tolerance {args.tolerance:g} x max(1, {peak:.3g}))")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
