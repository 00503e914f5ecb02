"""Loading pose-network checkpoints in every format users have.

Accepted files (all loaded onto the CPU first, whatever device they were saved from):

* official HRNet / SimpleBaseline repositories: a plain ``state_dict``; or one wrapped as
  ``{"state_dict": ...}`` (training checkpoints); or with ``module.`` prefixes (DataParallel);
* mmpose 0.x: ``{"meta": ..., "state_dict": {"backbone.*", "keypoint_head.*"}}``;
* mmpose 1.x: ``{"meta": ..., "state_dict": {"backbone.*", "head.*"}}``;
* any of these without ``num_batches_tracked`` buffers.

Files are read by :func:`pose.checkpoint_reader.read_checkpoint`, which runs no code from them
(a file that would is refused).

A checkpoint that does not fit the model (other architecture, width, depth or joint count) is
refused with :class:`CheckpointError` naming the offending keys and shapes; nothing is loaded
partially. Sources may be local paths, URLs (downloaded once into ``<torch hub dir>/checkpoints``
with a SHA-256 prefix check, :mod:`pose.downloads`) or names from :mod:`pose.zoo`.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple, Union

import torch
from torch import nn

from . import zoo
from .checkpoint_reader import CheckpointError, read_checkpoint
from .downloads import fetch_to_cache
from .errors import MissingFileError, MissingWeightsError

StateDict = Dict[str, torch.Tensor]


_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")


@dataclass
class LoadedWeights:
    """What :func:`load_checkpoint` loaded.

    Attributes:
        path: local file the weights came from.
        format: ``"official"``, ``"official-wrapped"``, ``"dataparallel"``, ``"mmpose-0.x"``
            or ``"mmpose-1.x"``.
        meta: the checkpoint's ``meta`` dict (mmpose), else empty.
        published: the :class:`pose.zoo.PublishedWeights` when loaded by zoo name or known URL.
    """

    path: Path
    format: str
    meta: dict = field(default_factory=dict)
    published: Optional["zoo.PublishedWeights"] = None


def resolve_checkpoint(source: Union[str, os.PathLike], progress: bool = True
                       ) -> Tuple[Path, Optional["zoo.PublishedWeights"]]:
    """Turns a zoo name, URL or path into a local file (downloading if needed).

    Returns:
        ``(path, published)``; ``published`` is None for sources unknown to the zoo.
    """
    text = os.fspath(source)
    entry = zoo.get_published(text) if zoo.is_published(text) else zoo.find_by_url(text)
    if entry is not None:
        if entry.url is None:
            raise MissingWeightsError(
                f"{entry.name} ({entry.filename}) has no direct download link: the official "
                f"repository hosts it at {entry.page}. Download {entry.filename} from there and "
                "pass its local path.")
        return fetch_to_cache(entry.url, entry.sha256, progress), entry
    if "://" in text:
        return fetch_to_cache(text, progress=progress), None
    path = Path(text).expanduser()
    if not path.is_file():
        hint = ("" if path.suffix else
                f" It is not a checkpoint name either; known names: "
                f"{', '.join(zoo.list_published())}.")
        raise MissingFileError(f"checkpoint file not found: {path}.{hint}")
    return path, None


def normalize_state_dict(obj: object) -> Tuple[StateDict, str, dict]:
    """Unwraps a loaded checkpoint and renames its keys to this project's (= official) names.

    Returns:
        ``(state_dict, format, meta)`` where format is one of the names in
        :class:`LoadedWeights`.
    """
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"expected a dict of tensors, found {type(obj).__name__}")
    meta = obj.get("meta", {}) if isinstance(obj.get("meta"), dict) else {}
    wrapped = False
    for key in _WRAPPER_KEYS:
        if isinstance(obj.get(key), Mapping):
            obj, wrapped = obj[key], True
            break
    state = OrderedDict((k, v) for k, v in obj.items() if isinstance(v, torch.Tensor))
    if not state:
        raise CheckpointError("the checkpoint holds no tensors (keys: "
                              f"{', '.join(list(obj)[:8])})")
    fmt = "official-wrapped" if wrapped else "official"
    if all(k.startswith("module.") for k in state):
        state = OrderedDict((k[len("module."):], v) for k, v in state.items())
        fmt = "dataparallel"
    if any(k.startswith("backbone.") for k in state):
        renamed, fmt = OrderedDict(), "mmpose-0.x"
        for key, value in state.items():
            for prefix in ("backbone.", "keypoint_head.", "head."):
                if key.startswith(prefix):
                    if prefix == "head.":
                        fmt = "mmpose-1.x"
                    key = key[len(prefix):]
                    break
            renamed[key] = value
        state = renamed
    return state, fmt, meta


def identify_state_dict(state: Mapping[str, torch.Tensor]
                        ) -> Tuple[Optional[str], Optional[int], Optional[int]]:
    """``(preset family, width or depth, num_joints)`` of the network a normalised state dict
    belongs to; None for what cannot be told."""
    final = state.get("final_layer.weight")
    joints = int(final.shape[0]) if final is not None else None
    branch = state.get("stage2.0.branches.0.0.conv1.weight")
    if branch is not None:
        return "hrnet", int(branch.shape[0]), joints
    if "deconv_layers.0.weight" in state:
        blocks = len({k.split(".")[1] for k in state if k.startswith("layer3.")})
        bottleneck = any(k.startswith("layer1.0.conv3") for k in state)
        by_blocks = {(True, 6): 50, (True, 23): 101, (True, 36): 152, (False, 2): 18,
                     (False, 6): 34}
        return "pose_resnet", by_blocks.get((bottleneck, blocks)), joints
    return None, None, joints


def describe_state_dict(state: Mapping[str, torch.Tensor]) -> str:
    """A human description of the network a (normalised) state dict belongs to."""
    family, arch, joints = identify_state_dict(state)
    joints_text = f", {joints} joints" if joints is not None else ""
    if family == "hrnet":
        return f"HRNet-W{arch}{joints_text}"
    if family == "pose_resnet":
        return f"SimpleBaseline ResNet-{arch or '?'}{joints_text}"
    return "an unknown network (neither HRNet nor SimpleBaseline keys)"


def _suggestion(state: Mapping[str, torch.Tensor]) -> str:
    family, arch, joints = identify_state_dict(state)
    if family is None or arch is None:
        return "Pick the checkpoint made for this model."
    name = f"hrnet_w{arch}" if family == "hrnet" else f"pose_resnet_{arch}"
    joints_arg = f", num_joints={joints}" if joints is not None else ""
    return f"The model that fits it is build_model({name!r}{joints_arg})."


def fit_state_dict(expected: Mapping[str, torch.Tensor], state: Mapping[str, object]
                   ) -> Tuple[StateDict, List[str]]:
    """Compares a checkpoint's state dict with a model's (``model.state_dict()``).

    Returns:
        ``(state, problems)``: ``state`` with the model's BatchNorm ``num_batches_tracked``
        counters added where the file has none (they do not affect inference), and one sentence
        per kind of mismatch (tensors of another shape, weights first; model keys missing from
        the file; file keys not in the model; entries that are not tensors). No problems: the
        state loads with ``strict=True``.
    """
    state = OrderedDict(state)
    for key, value in expected.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value.clone()
    not_tensors = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected and k not in not_tensors]
    wrong_shape = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in expected.items()
                   if isinstance(state.get(k), torch.Tensor) and state[k].shape != v.shape]
    wrong_shape.sort(key=lambda item: not item[0].endswith("weight"))  # weights first

    def listing(items, limit=6):
        text = "; ".join(items[:limit])
        return text + (f"; ... ({len(items) - limit} more)" if len(items) > limit else "")

    problems = []
    if wrong_shape:
        problems.append(f"{len(wrong_shape)} tensors differ in shape (checkpoint vs model): " +
                        listing([f"{k} {c} vs {m}" for k, c, m in wrong_shape]) + ".")
    if missing:
        problems.append(f"{len(missing)} model keys are missing from the checkpoint: " +
                        listing(missing) + ".")
    if unexpected:
        problems.append(f"{len(unexpected)} checkpoint keys are not in the model: " +
                        listing(unexpected) + ".")
    if not_tensors:
        problems.append(f"{len(not_tensors)} entries are not tensors: " + listing(not_tensors)
                        + ".")
    return state, problems


def _check_fit(model: nn.Module, state: StateDict, path: Path) -> StateDict:
    """Returns the state dict to load, or raises naming the file and every mismatch (one
    line)."""
    expected = model.state_dict()
    state, problems = fit_state_dict(expected, state)
    if not problems:
        return state
    raise CheckpointError(" ".join(
        [f"{path} does not fit the model: it is {describe_state_dict(state)}, "
         f"the model is {describe_state_dict(expected)}."] + problems + [_suggestion(state)]))


def load_checkpoint(model: nn.Module, source: Union[str, os.PathLike],
                    progress: bool = True) -> LoadedWeights:
    """Loads weights into ``model`` in place, refusing anything that does not fit exactly.

    Args:
        model: a network from :func:`pose.build_model` (any device).
        source: local path, http(s)/file URL, or a checkpoint name from :mod:`pose.zoo`.
        progress: show a download progress bar.

    Raises:
        FileNotFoundError: the path does not exist.
        MissingWeightsError: a URL could not be downloaded or failed its hash check.
        CheckpointError: unreadable file, or keys/shapes that do not match the model.
        UnsafeCheckpointError: a file that would run code when unpickled (see
            :mod:`pose.checkpoint_reader`).
    """
    path, entry = resolve_checkpoint(source, progress)
    obj = read_checkpoint(path)
    try:
        state, fmt, meta = normalize_state_dict(obj)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    model.load_state_dict(_check_fit(model, state, path), strict=True)
    return LoadedWeights(path=path, format=fmt, meta=meta, published=entry)


def input_color(model: object) -> str:
    """The channel order (``"rgb"`` or ``"bgr"``) a network's weights expect: that of the
    published checkpoint loaded into it (official SimpleBaseline files: BGR), else the model's
    own ``color`` attribute (ONNX runners), else ``"rgb"``."""
    entry = getattr(getattr(model, "loaded_weights", None), "published", None)
    return entry.color if entry is not None else getattr(model, "color", "rgb")
