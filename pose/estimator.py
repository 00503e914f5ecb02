"""Top-down pose estimation: person boxes in, keypoints out, as the official test pipeline.

Steps (each in its own module): box -> center/scale and affine crop (:mod:`pose.transforms`),
channel order and normalisation (:func:`normalize_crops`), the network on all persons of a frame
at once together with their mirrored copies (flip test, :func:`pose.decode.flip_heatmaps`), and
decoding back to image pixels (:func:`pose.decode.heatmaps_to_keypoints`).

By default the network runs through :func:`pose.inference.optimize_for_inference` (BN folded,
channels-last, inference mode): the same heatmaps to float32 rounding, 1.2-1.4x faster on a
2-core CPU (``benchmarks/speed.py``). Crop geometry and decoding are computed for all persons at
once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from torch import nn

from .checkpoints import input_color
from .decode import flip_heatmaps, heatmaps_to_keypoints
from .inference import InferenceModel, optimize_for_inference
from .keypoints import get_keypoint_set
from .transforms import CROP_METHODS, box_to_center_scale, crop_persons, crop_persons_grid

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _normalization_table() -> np.ndarray:
    """``[1, 256, 3]`` float32: the official normalisation of every uint8 value per channel,
    computed with the official torch operations (so a lookup gives their exact bits)."""
    values = torch.arange(256, dtype=torch.float32).view(256, 1).expand(256, 3)
    table = values.div(255).sub(torch.tensor(IMAGENET_MEAN)).div(torch.tensor(IMAGENET_STD))
    return np.ascontiguousarray(table.numpy().reshape(1, 256, 3))


_TABLE = _normalization_table()


def normalize_crops(crops: np.ndarray, color: str = "rgb") -> torch.Tensor:
    """RGB uint8 crops ``[N, H, W, 3]`` -> network input ``[N, 3, H, W]`` float32 (a
    channels-last view: the pixels stay interleaved in memory).

    ``color="bgr"`` reverses the channels first (official SimpleBaseline checkpoints were trained
    on OpenCV's BGR). Then, exactly as the official ``ToTensor`` + ``Normalize``: divide by 255,
    subtract the ImageNet mean and divide by its std, channel by channel in the *stored* order
    (the official code applies the RGB mean to BGR data too). The values are the official ones
    bit for bit: a 256-entry table made by those float32 operations, applied by ``cv2.LUT``
    (one pass over the pixels).
    """
    if color not in ("rgb", "bgr"):
        raise ValueError(f"color must be 'rgb' or 'bgr', got {color!r}")
    if color == "bgr":
        crops = crops[..., ::-1]
    crops = np.ascontiguousarray(crops, dtype=np.uint8)
    n, h, w, c = crops.shape
    if c != 3:
        raise ValueError(f"crops need 3 channels, got {c}")
    if n * h * w:
        out = cv2.LUT(crops.reshape(n * h, w, 3), _TABLE).reshape(n, h, w, 3)
    else:
        out = np.zeros((n, h, w, 3), np.float32)
    return torch.from_numpy(out).permute(0, 3, 1, 2)


def normalize_float_crops(crops: torch.Tensor, color: str = "rgb") -> torch.Tensor:
    """:func:`normalize_crops` for float crops ``[N, 3, H, W]`` with values 0..255 in RGB order
    (from :func:`pose.transforms.crop_persons_grid`), on their device."""
    if color not in ("rgb", "bgr"):
        raise ValueError(f"color must be 'rgb' or 'bgr', got {color!r}")
    if color == "bgr":
        crops = crops.flip(1)
    mean, std = _mean_std(crops.device)
    return crops.div(255).sub_(mean).div_(std)


_MEAN_STD = {}


def _mean_std(device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """The ImageNet mean and std ``[1, 3, 1, 1]`` on ``device``, uploaded once."""
    if device not in _MEAN_STD:
        _MEAN_STD[device] = tuple(torch.tensor(v, device=device).view(1, 3, 1, 1)
                                  for v in (IMAGENET_MEAN, IMAGENET_STD))
    return _MEAN_STD[device]


@dataclass
class PreparedCrops:
    """Network inputs for the persons of one frame: ``inputs [N, 3, H, W]`` and the crop
    geometry ``center``/``scale`` ``[N, 2]`` needed to map heatmaps back."""

    inputs: torch.Tensor
    center: np.ndarray
    scale: np.ndarray


def prepare_crops(image: np.ndarray, boxes: np.ndarray, input_size: Tuple[int, int],
                  color: str = "rgb", crop: str = "exact",
                  device: Optional[Union[str, torch.device]] = None) -> PreparedCrops:
    """Crops and normalises every box of ``image`` (RGB uint8 ``[H, W, 3]``); boxes ``[N, >=4]``
    x1, y1, x2, y2 pixels.

    ``crop`` (see :mod:`pose.transforms`): ``"exact"`` (official per-person ``cv2.warpAffine``)
    and ``"remap"`` (one ``cv2.remap`` for all) are pure numpy/OpenCV, safe in data-loader
    workers; ``"grid"`` samples all crops with ``grid_sample`` on ``device`` (the frame is
    uploaded once: the path for a GPU).
    """
    if crop not in CROP_METHODS:
        raise ValueError(f"unknown crop method {crop!r}; use one of {CROP_METHODS}")
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, max(np.shape(boxes)[-1], 4))
    center, scale = box_to_center_scale(boxes[:, :4], input_size)
    if crop == "grid":
        frame = torch.from_numpy(np.ascontiguousarray(image))
        if torch.device(device or "cpu").type == "cuda":  # page-locked: an asynchronous copy
            frame = frame.pin_memory().to(device, non_blocking=True)
        else:
            frame = frame.to(device or "cpu")
        crops = crop_persons_grid(frame.permute(2, 0, 1), center, scale, input_size)
        return PreparedCrops(normalize_float_crops(crops, color), center, scale)
    crops = crop_persons(image, center, scale, input_size, method=crop)
    return PreparedCrops(normalize_crops(crops, color), center, scale)


class TopDownEstimator:
    """Estimates the poses of boxed persons with a heatmap network.

    Args:
        model: a network from :func:`pose.build_model` (its ``preset`` gives input size and joint
            layout).
        color: channel order the network expects; default: the loaded checkpoint's (``"bgr"`` for
            official SimpleBaseline files), else the model's ``color`` attribute (ONNX runners),
            else ``"rgb"``.
        flip: flip test (the official test setting).
        shift_heatmap: shift flipped heatmaps one pixel (official ``SHIFT_HEATMAP``).
        decode: ``"official"`` or ``"dark"``.
        batch_size: persons per forward pass (with flip, each pass holds twice as many crops).
        device: where the network runs; default: where the model is.
        flip_pairs: left/right joint pairs; default: from the model's keypoint layout.
        optimize: run the network through :func:`pose.inference.optimize_for_inference` (a
            BN-folded channels-last copy, kept as ``self.network``; ``self.model`` stays the
            given module). False runs ``model`` as it is.
        compile: ``torch.compile`` the optimised network (see ``optimize_for_inference``).
        dtype: autocast dtype of the optimised network (``torch.float16`` /
            ``torch.bfloat16``); None: float32.
        crop: ``"exact"`` (official per-person ``cv2.warpAffine``, the default), ``"remap"``
            (all persons in one ``cv2.remap``; a few pixels differ by one grey level) or
            ``"grid"`` (``grid_sample`` on ``device``, for GPUs).

    ``model`` may also be an :class:`pose.inference.InferenceModel` or a network without
    parameters, such as :class:`pose.onnx_runtime.OnnxPoseModel`; these run as given.
    """

    def __init__(self, model: nn.Module, *, color: Optional[str] = None, flip: bool = True,
                 shift_heatmap: bool = True, decode: str = "official", batch_size: int = 64,
                 device: Optional[Union[str, torch.device]] = None,
                 flip_pairs: Optional[Sequence[Tuple[int, int]]] = None, optimize: bool = True,
                 compile: Union[bool, str, dict] = False, dtype: Optional[torch.dtype] = None,
                 crop: str = "exact") -> None:
        preset = getattr(model, "preset", None)
        if preset is None:
            raise ValueError("the model has no preset: build it with pose.build_model(...)")
        if color is None:
            color = input_color(model)
        if flip_pairs is None:
            keypoint_set = get_keypoint_set(preset.keypoints)
            if keypoint_set.num_joints != preset.num_joints:
                raise ValueError(f"the model has {preset.num_joints} joints but its layout "
                                 f"{preset.keypoints!r} has {keypoint_set.num_joints}; pass "
                                 "flip_pairs=... (or flip=False)")
            flip_pairs = keypoint_set.flip_pairs
        if crop not in CROP_METHODS:
            raise ValueError(f"unknown crop method {crop!r}; use one of {CROP_METHODS}")
        parameters = list(model.parameters()) if isinstance(model, nn.Module) else []
        if device is None:
            device = parameters[0].device if parameters else "cpu"
        self.device = torch.device(device)
        if parameters:
            model = model.to(self.device).eval()
        if not parameters or not optimize or isinstance(model, InferenceModel):
            if compile or dtype is not None:
                raise ValueError("compile and dtype need optimize=True and a plain torch network")
            self.network = model
        else:
            self.network = optimize_for_inference(model, compile=compile, dtype=dtype)
        self.model = model
        self.crop = crop
        self.num_joints = preset.num_joints
        self.input_size = preset.input_size
        self.color = color
        self.flip = flip
        self.shift_heatmap = shift_heatmap
        self.decode = decode
        self.batch_size = batch_size
        self.flip_pairs = tuple(tuple(p) for p in flip_pairs)

    def prepare(self, image: np.ndarray, boxes: np.ndarray) -> PreparedCrops:
        """Network inputs of the ``boxes`` (``[N, >=4]``) of the RGB uint8 ``image``."""
        return prepare_crops(image, boxes, self.input_size, self.color, self.crop, self.device)

    @torch.inference_mode()
    def heatmaps(self, inputs: torch.Tensor) -> torch.Tensor:
        """Network output ``[N, J, h, w]`` (float32, on the estimator's device: decoding a GPU's
        heatmaps runs there) for inputs ``[N, 3, H, W]``, flip-test averaged when enabled; runs
        in chunks of ``batch_size`` persons."""
        outputs = []
        for start in range(0, len(inputs), self.batch_size):
            x = inputs[start:start + self.batch_size].to(self.device)
            n = len(x)
            if self.flip:
                out = self.network(torch.cat([x, x.flip(3)])).float()
                mirrored = flip_heatmaps(out[n:], self.flip_pairs, self.shift_heatmap)
                out = (out[:n] + mirrored) * 0.5
            else:
                out = self.network(x).float()
            outputs.append(out.to(self.device))
        if not outputs:
            h, w = self.input_size[0] // 4, self.input_size[1] // 4
            return torch.zeros(0, self.num_joints, h, w, device=self.device)
        return torch.cat(outputs)

    def decode_heatmaps(self, heatmaps: Union[torch.Tensor, np.ndarray],
                        prepared: PreparedCrops) -> np.ndarray:
        """``[N, J, 3]`` keypoints (x, y image pixels, confidence) of the heatmaps
        ``[N, J, h, w]`` (from :meth:`heatmaps`) of ``prepared`` crops (on the heatmaps'
        device for GPU tensors and the official decoding)."""
        return heatmaps_to_keypoints(heatmaps, prepared.center, prepared.scale, self.decode)

    def keypoints(self, prepared: PreparedCrops) -> np.ndarray:
        """``[N, J, 3]`` keypoints (x, y image pixels, confidence) of prepared crops: the
        network (:meth:`heatmaps`), then decoding (:meth:`decode_heatmaps`)."""
        return self.decode_heatmaps(self.heatmaps(prepared.inputs), prepared)

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
            return [np.zeros((0, self.num_joints, 3)) for _ in frames]
        merged = PreparedCrops(torch.cat([p.inputs.to(self.device) for p in prepared]),
                               np.concatenate([p.center for p in prepared]),
                               np.concatenate([p.scale for p in prepared]))
        return np.split(self.keypoints(merged), np.cumsum(counts)[:-1])
