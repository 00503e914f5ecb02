"""Top-down pose estimation: person boxes in, keypoints out, as the official test pipeline.

Steps (each in its own module): box -> center/scale and affine crop (:mod:`pose.transforms`),
channel order and normalisation (:func:`normalize_crops`), the network on all persons of a frame
at once together with their mirrored copies (flip test, :func:`pose.decode.flip_heatmaps`), and
decoding back to image pixels (:func:`pose.decode.heatmaps_to_keypoints`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from .decode import flip_heatmaps, heatmaps_to_keypoints
from .keypoints import get_keypoint_set
from .transforms import box_to_center_scale, crop_persons

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_crops(crops: np.ndarray, color: str = "rgb") -> torch.Tensor:
    """RGB uint8 crops ``[N, H, W, 3]`` -> network input ``[N, 3, H, W]`` float32.

    ``color="bgr"`` reverses the channels first (official SimpleBaseline checkpoints were trained
    on OpenCV's BGR). Then, exactly as the official ``ToTensor`` + ``Normalize``: divide by 255,
    subtract the ImageNet mean and divide by its std, channel by channel in the *stored* order
    (the official code applies the RGB mean to BGR data too).
    """
    if color not in ("rgb", "bgr"):
        raise ValueError(f"color must be 'rgb' or 'bgr', got {color!r}")
    if color == "bgr":
        crops = crops[..., ::-1]
    x = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float().div(255)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return x.sub(mean).div(std)


@dataclass
class PreparedCrops:
    """Network inputs for the persons of one frame: ``inputs [N, 3, H, W]`` and the crop
    geometry ``center``/``scale`` ``[N, 2]`` needed to map heatmaps back."""

    inputs: torch.Tensor
    center: np.ndarray
    scale: np.ndarray


def prepare_crops(image: np.ndarray, boxes: np.ndarray, input_size: Tuple[int, int],
                  color: str = "rgb") -> PreparedCrops:
    """Crops and normalises every box of ``image`` (RGB uint8 ``[H, W, 3]``); boxes ``[N, >=4]``
    x1, y1, x2, y2 pixels. Pure numpy/OpenCV: safe to run in data-loader workers."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, max(np.shape(boxes)[-1], 4))
    center, scale = box_to_center_scale(boxes[:, :4], input_size)
    crops = crop_persons(image, center, scale, input_size)
    return PreparedCrops(normalize_crops(crops, color), center, scale)


class TopDownEstimator:
    """Estimates the poses of boxed persons with a heatmap network.

    Args:
        model: a network from :func:`pose.build_model` (its ``preset`` gives input size and joint
            layout).
        color: channel order the network expects; default: the loaded checkpoint's (``"bgr"`` for
            official SimpleBaseline files), else ``"rgb"``.
        flip: flip test (the official test setting).
        shift_heatmap: shift flipped heatmaps one pixel (official ``SHIFT_HEATMAP``).
        decode: ``"official"`` or ``"dark"``.
        batch_size: persons per forward pass (with flip, each pass holds twice as many crops).
        device: where the network runs; default: where the model is.
        flip_pairs: left/right joint pairs; default: from the model's keypoint layout.
    """

    def __init__(self, model: nn.Module, *, color: Optional[str] = None, flip: bool = True,
                 shift_heatmap: bool = True, decode: str = "official", batch_size: int = 64,
                 device: Optional[Union[str, torch.device]] = None,
                 flip_pairs: Optional[Sequence[Tuple[int, int]]] = None) -> None:
        preset = getattr(model, "preset", None)
        if preset is None:
            raise ValueError("the model has no preset: build it with pose.build_model(...)")
        if color is None:
            entry = getattr(getattr(model, "checkpoint", None), "zoo_entry", None)
            color = entry.color if entry is not None else "rgb"
        if flip_pairs is None:
            keypoint_set = get_keypoint_set(preset.keypoints)
            if keypoint_set.num_joints != preset.num_joints:
                raise ValueError(f"the model has {preset.num_joints} joints but its layout "
                                 f"{preset.keypoints!r} has {keypoint_set.num_joints}; pass "
                                 "flip_pairs=... (or flip=False)")
            flip_pairs = keypoint_set.flip_pairs
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.model = model.to(self.device).eval()
        self.input_size = preset.input_size
        self.color = color
        self.flip = flip
        self.shift_heatmap = shift_heatmap
        self.decode = decode
        self.batch_size = batch_size
        self.flip_pairs = tuple(tuple(p) for p in flip_pairs)

    def prepare(self, image: np.ndarray, boxes: np.ndarray) -> PreparedCrops:
        return prepare_crops(image, boxes, self.input_size, self.color)

    @torch.inference_mode()
    def heatmaps(self, inputs: torch.Tensor) -> torch.Tensor:
        """Network output ``[N, J, h, w]`` (float32, CPU) for inputs ``[N, 3, H, W]``, flip-test
        averaged when enabled; runs in chunks of ``batch_size`` persons."""
        outputs = []
        for start in range(0, len(inputs), self.batch_size):
            x = inputs[start:start + self.batch_size].to(self.device)
            n = len(x)
            if self.flip:
                out = self.model(torch.cat([x, x.flip(3)])).float()
                mirrored = flip_heatmaps(out[n:], self.flip_pairs, self.shift_heatmap)
                out = (out[:n] + mirrored) * 0.5
            else:
                out = self.model(x).float()
            outputs.append(out.cpu())
        if not outputs:
            h, w = self.input_size[0] // 4, self.input_size[1] // 4
            return torch.zeros(0, self.model.preset.num_joints, h, w)
        return torch.cat(outputs)

    def keypoints(self, prepared: PreparedCrops) -> np.ndarray:
        """``[N, J, 3]`` keypoints (x, y image pixels, confidence) of prepared crops."""
        heatmaps = self.heatmaps(prepared.inputs).numpy()
        return heatmaps_to_keypoints(heatmaps, prepared.center, prepared.scale, self.decode)

    def __call__(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Poses of the persons in ``boxes`` (``[N, 4]`` or ``[N, 5]``, x1, y1, x2, y2[, score]
        pixels) of the RGB uint8 ``image`` ``[H, W, 3]``: ``[N, J, 3]`` float64, x, y in image
        pixels and heatmap-maximum confidence."""
        return self.keypoints(self.prepare(image, boxes))

    def estimate_frames(self, frames: Sequence[np.ndarray],
                        boxes: Sequence[np.ndarray]) -> List[np.ndarray]:
        """Several frames at once: all their persons share forward passes. Returns one
        ``[N_i, J, 3]`` array per frame."""
        prepared = [self.prepare(f, b) for f, b in zip(frames, boxes)]
        counts = [len(p.center) for p in prepared]
        if not sum(counts):
            return [np.zeros((0, self.model.preset.num_joints, 3)) for _ in frames]
        merged = PreparedCrops(torch.cat([p.inputs for p in prepared]),
                               np.concatenate([p.center for p in prepared]),
                               np.concatenate([p.scale for p in prepared]))
        return np.split(self.keypoints(merged), np.cumsum(counts)[:-1])
