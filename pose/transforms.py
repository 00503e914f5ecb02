"""Box -> crop geometry of the official top-down pipeline.

Conventions: boxes are ``[N, 4+]`` float arrays ``x1, y1, x2, y2`` in image pixels, width
``x2 - x1`` (the official code's ``w``, no ``+1``). A person crop is described as in the official
code by ``center`` ``[N, 2]`` (x, y pixels) and ``scale`` ``[N, 2]`` (width, height of the
cropped region divided by ``PIXEL_STD = 200``). Network input sizes are ``(height, width)``.
"""
from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np

PIXEL_STD = 200.0
PADDING = 1.25


def box_to_center_scale(boxes: np.ndarray, input_size: Tuple[int, int],
                        padding: float = PADDING) -> Tuple[np.ndarray, np.ndarray]:
    """Official ``_xywh2cs``: the box is enlarged to the network's aspect ratio (the shorter side
    grows, the centre stays), then by ``padding``.

    As in the official code the results are float32 (the centre is computed in float64 and
    stored as float32; the scale is stored as float32 before the ``padding`` multiplication).

    Args:
        boxes: ``[N, >=4]`` x1, y1, x2, y2 pixels.
        input_size: network input ``(height, width)``.
    Returns:
        ``center [N, 2]`` (x, y pixels) and ``scale [N, 2]`` (region width, height / 200),
        float32.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, np.shape(boxes)[-1])
    x, y = boxes[:, 0], boxes[:, 1]
    w, h = boxes[:, 2] - x, boxes[:, 3] - y
    center = np.stack([x + w * 0.5, y + h * 0.5], axis=1).astype(np.float32)
    aspect = input_size[1] * 1.0 / input_size[0]
    wide, tall = w > aspect * h, w < aspect * h
    h = np.where(wide, w * 1.0 / aspect, h)
    w = np.where(tall, h * aspect, w)
    scale = np.stack([w / PIXEL_STD, h / PIXEL_STD], axis=1).astype(np.float32)
    return center, scale * np.float32(padding)


def _rotate(point: np.ndarray, rad: float) -> np.ndarray:
    sn, cs = np.sin(rad), np.cos(rad)
    return np.array([point[0] * cs - point[1] * sn, point[0] * sn + point[1] * cs])


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    direction = a - b
    return b + np.array([-direction[1], direction[0]], dtype=np.float32)


def affine_transform(center: np.ndarray, scale: np.ndarray, output_size: Tuple[int, int],
                     rotation: float = 0.0, inverse: bool = False) -> np.ndarray:
    """Official ``get_affine_transform``: the ``2x3`` matrix mapping the region
    (``center``, ``scale * 200``, rotated by ``rotation`` degrees) onto an ``output_size =
    (height, width)`` image, or back with ``inverse``. Both axes are scaled by
    ``width_out / (scale_x * 200)`` (the region has the output's aspect ratio); the three point
    pairs pass through float32 as in the official code, which this reproduces bit for bit."""
    src_w = scale[0] * PIXEL_STD
    dst_h, dst_w = output_size
    rad = np.pi * rotation / 180
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0] = center
    src[1] = center + _rotate(np.array([0.0, src_w * -0.5]), rad)
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = np.array([dst_w * 0.5, dst_h * 0.5]) + np.array([0, dst_w * -0.5])
    src[2] = _third_point(src[0], src[1])
    dst[2] = _third_point(dst[0], dst[1])
    if inverse:
        return cv2.getAffineTransform(dst, src)
    return cv2.getAffineTransform(src, dst)


def apply_affine(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Maps ``points [..., 2]`` (x, y) through a ``2x3`` affine matrix."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def crop_persons(image: np.ndarray, center: np.ndarray, scale: np.ndarray,
                 input_size: Tuple[int, int]) -> np.ndarray:
    """Warps each person region to the network input as the official code does
    (``cv2.warpAffine``, bilinear, constant black border).

    Args:
        image: ``[H, W, 3]`` uint8.
        center, scale: ``[N, 2]`` from :func:`box_to_center_scale`.
        input_size: ``(height, width)``.
    Returns:
        ``[N, height, width, 3]`` uint8 crops, same channel order as ``image``.
    """
    height, width = input_size
    crops = np.empty((len(center), height, width, image.shape[2]), dtype=image.dtype)
    for i in range(len(center)):
        matrix = affine_transform(center[i], scale[i], input_size)
        crops[i] = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR)
    return crops
