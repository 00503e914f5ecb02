"""mmdetection 2.x's published Cascade R-CNN checkpoints: the zoo entries, finding the file
(zoo name, URL or path) and loading it into :class:`~detectors.cascade_rcnn.model.CascadeRCNN`.

mmdet's ``state_dict`` keys are the network's own module names, so loading is one to one: every
tensor must be present with the model's shape (only BatchNorm ``num_batches_tracked`` counters may
be absent). Files are read with :func:`pose.checkpoint_reader.read_checkpoint` (no code from them
runs).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping, Union

from pose.checkpoint_reader import CheckpointError, read_checkpoint
from pose.checkpoints import fit_state_dict
from pose.downloads import fetch_to_cache

from .model import CascadeRCNN, CascadeRCNNConfig


@dataclass(frozen=True)
class PublishedCascadeWeights:
    """Published weights of mmdetection's 2.x model zoo (``configs/cascade_rcnn/metafile.yml``)."""

    name: str
    config: str  # key of CONFIGS
    url: str
    sha256: str  # prefix, as in the file name
    box_ap: float  # COCO val2017 box AP, all 80 classes, as reported by mmdet
    epochs: int


_MMDET = "https://download.openmmlab.com/mmdetection/v2.0/cascade_rcnn/"
MMDET_ZOO: Dict[str, PublishedCascadeWeights] = {e.name: e for e in (
    PublishedCascadeWeights(
             "cascade_rcnn_x101_64x4d_fpn_20e_coco", "x101_64x4d",
             _MMDET + "cascade_rcnn_x101_64x4d_fpn_20e_coco/"
             "cascade_rcnn_x101_64x4d_fpn_20e_coco_20200509_224357-051557b1.pth",
             "051557b1", 44.5, 20),
    PublishedCascadeWeights(
             "cascade_rcnn_x101_64x4d_fpn_1x_coco", "x101_64x4d",
             _MMDET + "cascade_rcnn_x101_64x4d_fpn_1x_coco/"
             "cascade_rcnn_x101_64x4d_fpn_1x_coco_20200515_075702-43ce6a30.pth",
             "43ce6a30", 44.7, 12),
)}
DEFAULT_WEIGHTS = "cascade_rcnn_x101_64x4d_fpn_20e_coco"


def resolve_weights(source: Union[str, os.PathLike], progress: bool = True) -> Path:
    """A local checkpoint file from a :data:`MMDET_ZOO` name, a URL (downloaded once into the
    torch hub cache, SHA-256 prefix checked) or a path."""
    text = os.fspath(source)
    if text in MMDET_ZOO:
        entry = MMDET_ZOO[text]
        return fetch_to_cache(entry.url, entry.sha256, progress)
    if "://" in text:
        known = [e for e in MMDET_ZOO.values() if e.url == text]
        return fetch_to_cache(text, known[0].sha256 if known else None, progress)
    path = Path(text).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {path} (known names: "
                                f"{', '.join(MMDET_ZOO)})")
    return path


def load_mmdet_checkpoint(model: CascadeRCNN, source: Union[str, os.PathLike],
                          progress: bool = True) -> dict:
    """Loads an mmdet 2.x checkpoint (``{"meta": ..., "state_dict": ...}`` or a bare state dict)
    into ``model`` in place; keys are used as they are.

    Everything must match: missing, unexpected or differently shaped tensors raise
    :class:`pose.checkpoints.CheckpointError` naming them, and nothing is loaded. Only absent
    BatchNorm ``num_batches_tracked`` counters are tolerated (they do not affect inference).

    Returns:
        the checkpoint's ``meta`` dict (empty if none).
    """
    path = resolve_weights(source, progress)
    obj = read_checkpoint(path)
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: expected a dict, found {type(obj).__name__}")
    meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
    state = obj["state_dict"] if isinstance(obj.get("state_dict"), Mapping) else obj
    state, problems = fit_state_dict(model.state_dict(), state)
    if problems:
        raise CheckpointError(" ".join([f"{path} does not fit the Cascade R-CNN model "
                                        f"({_describe(model.config)})."] + problems))
    model.load_state_dict(state, strict=True)
    return meta


def _describe(cfg: CascadeRCNNConfig) -> str:
    kind = f"ResNeXt {cfg.groups}x{cfg.base_width}d" if cfg.groups > 1 else "ResNet"
    return (f"{kind}, blocks {cfg.blocks}, base {cfg.base_channels} channels, "
            f"FPN {cfg.fpn_channels}, FC {cfg.fc_channels}, {cfg.num_classes} classes")
