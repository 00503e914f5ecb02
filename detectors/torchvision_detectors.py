"""torchvision's COCO detectors as person detectors.

Published weights come from torchvision's weights API (downloaded once into the torch hub cache,
with its hash check); a local state-dict file or ``"random"`` (untrained, for tests and speed
measurements) can be given instead. Frames of different sizes are batched in one call; the models
resize and normalise internally and return boxes in frame pixels.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torchvision.models.detection as tvd

from pose.checkpoint_reader import CheckpointError, read_checkpoint
from pose.checkpoints import fit_state_dict

from .base import Detector, as_boxes

PERSON_LABEL = 1  # COCO category id of "person" (torchvision's 91-entry label space)

# name -> (constructor, weights enum, number of classes)
MODELS: Dict[str, Tuple] = {
    "fasterrcnn_resnet50_fpn": (tvd.fasterrcnn_resnet50_fpn,
                                tvd.FasterRCNN_ResNet50_FPN_Weights, 91),
    "fasterrcnn_resnet50_fpn_v2": (tvd.fasterrcnn_resnet50_fpn_v2,
                                   tvd.FasterRCNN_ResNet50_FPN_V2_Weights, 91),
    "fasterrcnn_mobilenet_v3_large_fpn": (tvd.fasterrcnn_mobilenet_v3_large_fpn,
                                          tvd.FasterRCNN_MobileNet_V3_Large_FPN_Weights, 91),
    "retinanet_resnet50_fpn": (tvd.retinanet_resnet50_fpn,
                               tvd.RetinaNet_ResNet50_FPN_Weights, 91),
    "retinanet_resnet50_fpn_v2": (tvd.retinanet_resnet50_fpn_v2,
                                  tvd.RetinaNet_ResNet50_FPN_V2_Weights, 91),
    "fcos_resnet50_fpn": (tvd.fcos_resnet50_fpn, tvd.FCOS_ResNet50_FPN_Weights, 91),
    "ssdlite320_mobilenet_v3_large": (tvd.ssdlite320_mobilenet_v3_large,
                                      tvd.SSDLite320_MobileNet_V3_Large_Weights, 91),
    "keypointrcnn_resnet50_fpn": (tvd.keypointrcnn_resnet50_fpn,
                                  tvd.KeypointRCNN_ResNet50_FPN_Weights, 2),
}


def _state_dict_from_file(path: str) -> dict:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"detector weights not found: {path}")
    state = read_checkpoint(path)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # torchvision reference-training checkpoints
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict, found {type(state).__name__}")
    return state


def load_torchvision_detector(name: str, weights: Optional[str] = "default",
                              **model_kwargs) -> torch.nn.Module:
    """Builds detector ``name`` with ``weights``: ``"default"`` (torchvision's published COCO
    weights, downloaded once), ``"random"``, or a local state-dict path. ``model_kwargs`` go to
    the torchvision constructor (e.g. ``min_size``/``max_size`` of its internal resize)."""
    if name not in MODELS:
        raise KeyError(f"unknown torchvision detector {name!r}; known: {', '.join(MODELS)}")
    build, weights_enum, num_classes = MODELS[name]
    model = build(weights=None, weights_backbone=None, num_classes=num_classes, **model_kwargs)
    if weights in (None, "default"):
        from pose.downloads import fetch_to_cache

        url = weights_enum.DEFAULT.url
        state = read_checkpoint(fetch_to_cache(url))
    elif weights == "random":
        return model.eval()
    else:
        state = _state_dict_from_file(str(weights))
    state, problems = fit_state_dict(model.state_dict(), state)
    if problems:
        raise CheckpointError(f"{weights}: the weights do not fit {name}: " + " ".join(problems))
    model.load_state_dict(state, strict=True)
    return model.eval()


class TorchvisionDetector(Detector):
    """A torchvision detector keeping only persons.

    Args:
        name: one of :data:`MODELS`.
        weights: ``"default"``, ``"random"`` or a state-dict path.
        device: ``"cpu"``, ``"cuda"``...
        score_threshold: minimum person score.
        batch_size: frames per forward pass.
        half: run under fp16 autocast (convolutions and matrix products in fp16, the rest as
            torchvision chooses); default: on CUDA. Boxes come back as float32 either way.
        **model_kwargs: torchvision constructor options (``min_size``, ``max_size``...).
    """

    def __init__(self, name: str, weights: Optional[str] = "default", device: str = "cpu",
                 score_threshold: float = 0.5, batch_size: int = 4,
                 half: Optional[bool] = None, **model_kwargs) -> None:
        super().__init__(score_threshold)
        self.name = name
        self.device = torch.device(device)
        self.model = load_torchvision_detector(name, weights, **model_kwargs).to(self.device)
        self.batch_size = batch_size
        self.half = self.device.type == "cuda" if half is None else bool(half)
        if self.half and self.device.type != "cuda":
            raise ValueError("half=True (fp16 autocast) needs a CUDA device")

    @torch.inference_mode()
    def _detect(self, frames: List[np.ndarray]) -> List[np.ndarray]:
        results = []
        for start in range(0, len(frames), self.batch_size):
            batch = [torch.from_numpy(f).to(self.device).permute(2, 0, 1).float().div(255)
                     for f in frames[start:start + self.batch_size]]
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.half):
                outputs = self.model(batch)
            for out in outputs:
                person = out["labels"] == PERSON_LABEL
                results.append(as_boxes(out["boxes"][person].float().cpu().numpy(),
                                        out["scores"][person].float().cpu().numpy(),
                                        self.score_threshold))
        return results
