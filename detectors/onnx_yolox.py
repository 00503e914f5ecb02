"""YOLOX / RTMDet person detectors exported to ONNX, run with onnxruntime (extra ``onnx``).

Two kinds of export are told apart from the graph's outputs:

* end-to-end (mmdeploy / rtmlib, e.g. ``yolox_nano_8xb8-300e_humanart``): outputs ``dets
  [1, N, 5]`` (x1, y1, x2, y2, score in input pixels, NMS done) and ``labels [1, N]``;
* raw head (Megvii's official YOLOX export): one output ``[1, A, 5 + C]`` per anchor-free grid
  cell of strides 8, 16, 32: ``cx, cy`` offsets and ``log w, log h`` in cell units, objectness
  and class probabilities (sigmoid applied); decoded here, person = class 0, then NMS.

Pre-processing is the letterbox each exporter was trained with: the frame (BGR, values 0-255, no
mean/std) resized keeping its aspect ratio to fit the square input, bilinear, padded bottom/right
with 114. mmdet rounds the resized size (``int(x * s + 0.5)``) and maps boxes back per axis;
Megvii truncates (``int(x * s)``) and divides by the one ratio.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import List, Tuple

import cv2
import numpy as np

from pose.onnx_session import execution_providers, open_session

from .base import Detector, as_boxes
from .tiling import auto_grid, detect_tiled

PAD_VALUE = 114


def letterbox(frame_rgb: np.ndarray, size: Tuple[int, int], rounding: bool
              ) -> Tuple[np.ndarray, Tuple[float, float]]:
    """``[1, 3, H, W]`` float32 BGR input and the (x, y) scale factors applied to the frame."""
    h, w = frame_rgb.shape[:2]
    height, width = size
    ratio = min(height / h, width / w)
    if rounding:
        new_w, new_h = int(w * ratio + 0.5), int(h * ratio + 0.5)
    else:
        new_w, new_h = int(w * ratio), int(h * ratio)
    bgr = frame_rgb[..., ::-1]
    resized = cv2.resize(np.ascontiguousarray(bgr), (new_w, new_h),
                         interpolation=cv2.INTER_LINEAR)
    padded = np.full((height, width, 3), PAD_VALUE, dtype=np.uint8)
    padded[:new_h, :new_w] = resized
    scale = (new_w / w, new_h / h) if rounding else (ratio, ratio)
    return padded.transpose(2, 0, 1)[None].astype(np.float32), scale


def boxes_to_frame(boxes: np.ndarray, scale: Tuple[float, float],
                   frame_size: Tuple[int, int]) -> np.ndarray:
    """Boxes ``[N, 4]`` in letterboxed input pixels -> frame pixels (divided by the ``(x, y)``
    scale of :func:`letterbox`), clipped to the frame ``(height, width)``."""
    sx, sy = scale
    boxes = boxes / np.array([sx, sy, sx, sy], dtype=np.float32)
    h, w = frame_size
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    return boxes


def decode_raw_head(output: np.ndarray, size: Tuple[int, int],
                    strides=(8, 16, 32)) -> Tuple[np.ndarray, np.ndarray]:
    """Raw YOLOX head ``[A, 5 + C]`` -> person boxes ``[A, 4]`` (x1, y1, x2, y2 input pixels) and
    scores ``[A]`` (objectness x person probability)."""
    grids, cell = [], []
    for s in strides:
        gh, gw = size[0] // s, size[1] // s
        ys, xs = np.mgrid[0:gh, 0:gw]
        grids.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        cell.append(np.full(gh * gw, s))
    grid = np.concatenate(grids).astype(np.float32)
    stride = np.concatenate(cell).astype(np.float32)[:, None]
    if len(grid) != len(output):
        raise ValueError(f"raw YOLOX output has {len(output)} cells, expected {len(grid)} for "
                         f"input {size} and strides {strides}")
    centre = (output[:, :2] + grid) * stride
    half = np.exp(output[:, 2:4]) * stride / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    return boxes, output[:, 4] * output[:, 5]


class OnnxYoloxDetector(Detector):
    """Person detector from a YOLOX / RTMDet ONNX file.

    Args:
        weights: path of the ``.onnx`` file.
        score_threshold: minimum person score.
        nms_threshold: IoU of the NMS applied to raw-head exports (Megvii's demo: 0.45).
        device: ``"cpu"`` or ``"cuda"`` (CUDA execution provider when onnxruntime has it).
        tiles: ``"auto"`` (also detect on overlapping tiles when a frame is over 2.6 times the
            input size, see :mod:`detectors.tiling`), ``(columns, rows)``, or ``1`` (never).
    """

    name = "yolox"

    def __init__(self, weights: str, score_threshold: float = 0.5, nms_threshold: float = 0.45,
                 device: str = "cpu", tiles="auto") -> None:
        super().__init__(score_threshold)
        if importlib.util.find_spec("onnxruntime") is None:
            raise ImportError("ONNX detectors need onnxruntime: pip install -e \".[onnx]\" "
                              "(or pip install onnxruntime)")
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX detector file not found: {path}")
        try:
            # idle worker threads sleep instead of spinning: the detector may run beside the
            # pose network (apps/overlap.py), which needs those cores
            self.session = open_session(path, execution_providers(device), spin=False,
                                        quiet=True)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises several types
            raise ValueError(f"{path} is not a loadable ONNX model ({exc})") from None
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_size = (int(inp.shape[2]), int(inp.shape[3]))
        outputs = self.session.get_outputs()
        names = [o.name for o in outputs]
        if "dets" in names:
            self.end_to_end = True
        elif len(outputs) == 1 and len(outputs[0].shape) == 3:
            self.end_to_end = False
        else:
            raise ValueError(f"{path}: unrecognised detector outputs {names}; expected 'dets' + "
                             "'labels' (end-to-end export) or one raw YOLOX head output")
        self.nms_threshold = nms_threshold
        if tiles not in ("auto", 1) and not (isinstance(tiles, (tuple, list)) and len(tiles) == 2):
            raise ValueError(f"tiles must be 'auto', 1 or (columns, rows), got {tiles!r}")
        self.tiles = tiles

    def _grid(self, frame: np.ndarray):
        if self.tiles == "auto":
            return auto_grid(frame.shape[:2], self.input_size)
        return (1, 1) if self.tiles == 1 else tuple(self.tiles)

    def _detect(self, frames: List[np.ndarray]) -> List[np.ndarray]:
        # the exports have batch size 1: one session run per frame (and tile)
        return [detect_tiled(self._detect_one, frame, self._grid(frame)) for frame in frames]

    def _detect_one(self, frame: np.ndarray) -> np.ndarray:
        x, scale = letterbox(frame, self.input_size, rounding=self.end_to_end)
        outputs = self.session.run(None, {self.input_name: x})
        if self.end_to_end:
            dets = outputs[0][0]
            labels = outputs[1][0] if len(outputs) > 1 else np.zeros(len(dets))
            dets = dets[labels == 0]
            boxes, scores = dets[:, :4], dets[:, 4]
        else:
            boxes, scores = decode_raw_head(outputs[0][0], self.input_size)
            keep = scores >= self.score_threshold
            boxes, scores = boxes[keep], scores[keep]
            if len(boxes):
                import torch
                from torchvision.ops import nms

                kept = nms(torch.from_numpy(boxes), torch.from_numpy(scores),
                           self.nms_threshold).numpy()
                boxes, scores = boxes[kept], scores[kept]
        return as_boxes(boxes_to_frame(boxes, scale, frame.shape[:2]), scores,
                        self.score_threshold)
