"""The Cascade R-CNN person detector: mmdet's test-time pre-processing of RGB frames, the network,
and the person boxes of its detections (steps 1, 2 and 7 of :mod:`detectors.cascade_rcnn`)."""
from __future__ import annotations

import math
import os
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from torch import Tensor

from ..base import Detector, as_boxes
from .model import CascadeRCNN, CascadeRCNNConfig
from .weights import DEFAULT_WEIGHTS, load_mmdet_checkpoint

PERSON = 0  # COCO class index of "person" in mmdet's 80-class heads

# ----------------------------------------------------------------------------------------------
# Pre-processing


def resized_size(frame_hw: Tuple[int, int], img_scale: Tuple[int, int]) -> Tuple[int, int]:
    """mmcv ``rescale_size``: ``(height, width)`` of the largest aspect-preserving resize of a
    ``frame_hw`` image that fits ``img_scale`` (long edge <= max, short edge <= min)."""
    h, w = frame_hw
    factor = min(max(img_scale) / max(h, w), min(img_scale) / min(h, w))
    return int(h * float(factor) + 0.5), int(w * float(factor) + 0.5)


def resize_frame(frame: np.ndarray, img_scale: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """mmcv ``imrescale`` (cv2 bilinear) of a uint8 frame to :func:`resized_size`.

    Returns:
        ``(resized uint8 [h', w', 3], scale_factor float32 [4] = (w'/w, h'/h, w'/w, h'/h))``.
    """
    h, w = frame.shape[:2]
    new_h, new_w = resized_size((h, w), img_scale)
    resized = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return resized, np.array([new_w / w, new_h / h] * 2, dtype=np.float32)


def padded_size(frame_hw: Tuple[int, int], config: CascadeRCNNConfig) -> Tuple[int, int]:
    """``(height, width)`` of the network input a frame of ``frame_hw`` pixels becomes."""
    d = config.size_divisor
    return tuple(math.ceil(n / d) * d for n in resized_size(frame_hw, config.img_scale))


def normalize(frame: np.ndarray, config: CascadeRCNNConfig) -> np.ndarray:
    """An RGB uint8 frame ``[H, W, 3]`` -> float32 ``(x - mean) / std``, computed with the very
    operations of mmcv's ``imnormalize`` (float32 image, ``cv2.subtract`` of the float64 mean,
    ``cv2.multiply`` by the float64 ``1 / std``), so the rounding is mmcv's."""
    image = frame.astype(np.float32)
    cv2.subtract(image, np.float64(np.float32(config.mean)).reshape(1, -1), image)
    cv2.multiply(image, 1 / np.float64(np.float32(config.std)).reshape(1, -1), image)
    return image


def preprocess(frames: Sequence[np.ndarray], config: CascadeRCNNConfig,
               device: Union[str, torch.device] = "cpu") -> Tuple[Tensor, Tensor, Tensor]:
    """RGB uint8 frames ``[H_i, W_i, 3]`` -> network inputs as mmdet's test pipeline makes them.

    Returns:
        ``images [B, 3, H, W]`` float32 (normalised, zero-padded to a common multiple of
        ``size_divisor``), ``image_sizes [B, 2]`` long (resized height, width),
        ``scale_factors [B, 4]`` float32 (w, h, w, h).
    """
    resized, factors = zip(*(resize_frame(f, config.img_scale) for f in frames))
    d = config.size_divisor
    height = math.ceil(max(r.shape[0] for r in resized) / d) * d
    width = math.ceil(max(r.shape[1] for r in resized) / d) * d
    images = torch.zeros(len(frames), 3, height, width, device=device)
    for image, r in zip(images, resized):
        pixels = torch.from_numpy(normalize(r, config)).to(device)
        image[:, :r.shape[0], :r.shape[1]] = pixels.permute(2, 0, 1)
    sizes = torch.tensor([r.shape[:2] for r in resized], dtype=torch.long, device=device)
    return images, sizes, torch.from_numpy(np.stack(factors)).to(device)


# ----------------------------------------------------------------------------------------------
# Detector


class CascadeRCNNDetector(Detector):
    """Person boxes from mmdet's Cascade R-CNN, without mmdet.

    Args:
        weights: a :data:`MMDET_ZOO` name (e.g. ``"cascade_rcnn_x101_64x4d_fpn_20e_coco"``,
            :data:`DEFAULT_WEIGHTS`), a URL or a local mmdet checkpoint; None keeps random weights
            (tests, pipeline checks) and warns.
        device: torch device for the network.
        score_threshold: persons scoring below it are dropped (mmdet's own 0.05 cut and 100-box
            limit over all classes apply first).
        config: a :data:`CONFIGS` name or a :class:`CascadeRCNNConfig`; must fit the checkpoint.
        batch_size: frames per forward pass (frames of one padded size are batched together).
    """

    name = "cascade_rcnn"

    def __init__(self, weights: Optional[Union[str, os.PathLike]] = None, device="cpu",
                 score_threshold: float = 0.5,
                 config: Union[str, CascadeRCNNConfig] = "x101_64x4d",
                 batch_size: int = 2) -> None:
        super().__init__(score_threshold)
        self.model = CascadeRCNN(config).eval()
        self.meta = {}
        if weights is None:
            warnings.warn("CascadeRCNNDetector without weights: the network is randomly "
                          f"initialised (pass weights={DEFAULT_WEIGHTS!r} for the published "
                          "detector)", stacklevel=2)
        else:
            self.meta = load_mmdet_checkpoint(self.model, weights)
        self.device = torch.device(device)
        self.model.to(self.device)
        self.batch_size = max(1, int(batch_size))

    @property
    def config(self) -> CascadeRCNNConfig:
        return self.model.config

    @torch.inference_mode()
    def _detect(self, frames: List[np.ndarray]) -> List[np.ndarray]:
        by_size: Dict[Tuple[int, int], List[int]] = {}
        for i, frame in enumerate(frames):
            by_size.setdefault(padded_size(frame.shape[:2], self.config), []).append(i)
        out: List[Optional[np.ndarray]] = [None] * len(frames)
        for indices in by_size.values():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start:start + self.batch_size]
                images, sizes, factors = preprocess([frames[i] for i in chunk], self.config,
                                                    self.device)
                for i, (boxes, scores, labels) in zip(chunk, self.model(images, sizes, factors)):
                    person = labels == PERSON
                    out[i] = as_boxes(boxes[person].cpu().numpy(), scores[person].cpu().numpy(),
                                      self.score_threshold)
        return out
