"""Box -> crop geometry of the official top-down pipeline.

Conventions: boxes are ``[N, 4+]`` float arrays ``x1, y1, x2, y2`` in image pixels, width
``x2 - x1`` (the official code's ``w``, no ``+1``). A person crop is described as in the official
code by ``center`` ``[N, 2]`` (x, y pixels) and ``scale`` ``[N, 2]`` (width, height of the
cropped region in units of :data:`SCALE_UNIT` = 200 pixels). Network input sizes are ``(height, width)``.
"""
from __future__ import annotations

from typing import Tuple, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F

SCALE_UNIT = 200.0  # pixels per unit of ``scale`` (the official code's "pixel_std")
PADDING = 1.25
CROP_METHODS = ("exact", "remap", "grid")


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
    scale = np.stack([w / SCALE_UNIT, h / SCALE_UNIT], axis=1).astype(np.float32)
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
    src_w = scale[0] * SCALE_UNIT
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


def _solve_affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``[N, 2, 3]`` affine matrices mapping the three points ``src [N, 3, 2]`` onto
    ``dst [N, 3, 2]``, in closed form (``cv2.getAffineTransform`` for every N at once)."""
    src, dst = src.astype(np.float64), dst.astype(np.float64)
    a, b = src[:, 1] - src[:, 0], src[:, 2] - src[:, 0]
    qa, qb = dst[:, 1] - dst[:, 0], dst[:, 2] - dst[:, 0]
    det = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    # inverse of the column matrix [a b]: [[b_y, -b_x], [-a_y, a_x]] / det
    inv = np.stack([np.stack([b[:, 1], -b[:, 0]], 1), np.stack([-a[:, 1], a[:, 0]], 1)], 1)
    linear = np.stack([qa, qb], axis=2) @ (inv / det[:, None, None])
    shift = dst[:, 0] - np.einsum("nij,nj->ni", linear, src[:, 0])
    return np.concatenate([linear, shift[:, :, None]], axis=2)


def affine_matrices(center: np.ndarray, scale: np.ndarray, output_size: Tuple[int, int],
                    rotation: Union[float, np.ndarray] = 0.0,
                    inverse: bool = False) -> np.ndarray:
    """:func:`affine_transform` for all persons at once: ``[N, 2, 3]`` float64 matrices.

    The three point pairs go through float32 exactly as in the official code (same numpy
    operations, element by element), then the 3-point system is solved in closed form, so the
    matrices equal the official ones to float64 rounding.

    Args:
        center, scale: ``[N, 2]`` crop regions (see :func:`box_to_center_scale`).
        output_size: ``(height, width)``.
        rotation: degrees, a scalar or ``[N]``.
        inverse: map output pixels back to the image instead.
    """
    center = np.asarray(center).reshape(-1, 2)
    scale = np.asarray(scale).reshape(-1, 2)
    n = len(center)
    src_w = scale[:, 0] * SCALE_UNIT
    dst_h, dst_w = output_size
    rad = np.pi * np.broadcast_to(np.asarray(rotation, dtype=np.float64), (n,)) / 180
    sn, cs = np.sin(rad), np.cos(rad)
    half = (src_w * -0.5).astype(np.float64)
    src_dir = np.stack([0.0 * cs - half * sn, 0.0 * sn + half * cs], axis=1)
    src = np.empty((n, 3, 2), dtype=np.float32)
    dst = np.empty((n, 3, 2), dtype=np.float32)
    src[:, 0] = center
    src[:, 1] = center + src_dir
    dst[:, 0] = [dst_w * 0.5, dst_h * 0.5]
    dst[:, 1] = np.array([dst_w * 0.5, dst_h * 0.5]) + np.array([0, dst_w * -0.5])
    for points in (src, dst):  # official _third_point, in float32
        direction = points[:, 0] - points[:, 1]
        points[:, 2] = points[:, 1] + np.stack([-direction[:, 1], direction[:, 0]], axis=1)
    return _solve_affine(dst, src) if inverse else _solve_affine(src, dst)


def invert_affine(matrices: np.ndarray) -> np.ndarray:
    """Inverses ``[N, 2, 3]`` of affine matrices ``[N, 2, 3]`` (``cv2.invertAffineTransform``)."""
    linear = np.linalg.inv(matrices[:, :, :2])
    return np.concatenate([linear, -linear @ matrices[:, :, 2:]], axis=2)


def crop_persons(image: np.ndarray, center: np.ndarray, scale: np.ndarray,
                 input_size: Tuple[int, int], method: str = "exact") -> np.ndarray:
    """Warps each person region to the network input (bilinear, constant black border).

    ``method="exact"`` is the official code, bit for bit: per person, the official matrix
    (:func:`affine_transform`, whose last-bit differences from :func:`affine_matrices` can flip
    warpAffine's fixed-point rounding of a pixel) and one ``cv2.warpAffine``. On CPU this is
    also the fastest method (see ``benchmarks/speed.py``): the loop costs microseconds per
    person. ``method="remap"`` samples all persons in one ``cv2.remap`` call through a stacked
    coordinate map: the same fixed-point bilinear kernel, positions rounded to 1/32 pixel from
    float32 instead of warpAffine's fixed-point sums, so a few pixels differ by one grey level.

    Args:
        image: ``[H, W, C]`` uint8.
        center, scale: ``[N, 2]`` from :func:`box_to_center_scale`.
        input_size: ``(height, width)``.
    Returns:
        ``[N, height, width, C]`` uint8 crops, same channel order as ``image``.
    """
    height, width = input_size
    n = len(center)
    if method == "remap" and n:
        inverse = invert_affine(affine_matrices(center, scale, input_size))
        map_x, map_y = sampling_maps(inverse, input_size)
        crops = cv2.remap(image, map_x.reshape(n * height, width),
                          map_y.reshape(n * height, width), cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return crops.reshape(n, height, width, -1)
    if method not in ("exact", "remap"):
        raise ValueError(f"unknown crop method {method!r}; use 'exact' or 'remap' (uint8 crops)")
    crops = np.empty((n, height, width, image.shape[2]), dtype=image.dtype)
    for i in range(n):
        matrix = affine_transform(center[i], scale[i], input_size)
        crops[i] = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR)
    return crops


def sampling_maps(inverse: np.ndarray, input_size: Tuple[int, int]) -> Tuple[np.ndarray,
                                                                              np.ndarray]:
    """Image coordinates ``x, y`` (each ``[N, height, width]`` float32) sampled by every crop
    pixel, for inverse crop matrices ``[N, 2, 3]`` (crop pixel -> image pixel)."""
    height, width = input_size
    m = inverse.astype(np.float32)[:, :, :, None, None]
    u = np.arange(width, dtype=np.float32)[None, :]
    v = np.arange(height, dtype=np.float32)[:, None]
    map_x = m[:, 0, 0] * u + (m[:, 0, 1] * v + m[:, 0, 2])
    map_y = m[:, 1, 0] * u + (m[:, 1, 1] * v + m[:, 1, 2])
    return map_x, map_y


def crop_persons_grid(image: Union[np.ndarray, torch.Tensor], center: np.ndarray,
                      scale: np.ndarray, input_size: Tuple[int, int]) -> torch.Tensor:
    """All person crops by one ``torch.nn.functional.grid_sample`` call (bilinear, zero border,
    no rounding to uint8), e.g. on the GPU from one uploaded frame. The crops are stacked into
    one tall sampling grid ``[1, N * height, width, 2]`` over the single image, computed on the
    image's device from the ``[N, 2, 3]`` crop matrices (the float32 operations of
    :func:`sampling_maps`, so on CPU the very same grid).

    Args:
        image: ``[H, W, C]`` uint8 array, or a tensor ``[C, H, W]`` (any dtype and device).
        center, scale: ``[N, 2]``; input_size: ``(height, width)``.
    Returns:
        ``[N, C, height, width]`` float32, values 0..255 in the image's channel order, on the
        image's device.
    """
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    channels, img_h, img_w = image.shape
    height, width = input_size
    n = len(center)
    inverse = invert_affine(affine_matrices(center, scale, input_size)).astype(np.float32)
    m = torch.from_numpy(inverse)
    if image.device.type == "cuda":  # page-locked: the upload does not wait for the GPU
        m = m.pin_memory()
    m = m.to(image.device, non_blocking=True)[:, :, :, None, None]  # [N, 2, 3, 1, 1]
    u = torch.arange(width, dtype=torch.float32, device=image.device)[None, :]
    v = torch.arange(height, dtype=torch.float32, device=image.device)[:, None]
    map_x = m[:, 0, 0] * u + (m[:, 0, 1] * v + m[:, 0, 2])
    map_y = m[:, 1, 0] * u + (m[:, 1, 1] * v + m[:, 1, 2])
    # grid_sample's coordinates, align_corners=False: pixel i of a size-s axis is at (2i+1)/s-1
    grid = torch.stack([map_x * np.float32(2 / img_w) + np.float32(1 / img_w - 1),
                        map_y * np.float32(2 / img_h) + np.float32(1 / img_h - 1)], dim=-1)
    crops = F.grid_sample(image.unsqueeze(0).float(), grid.reshape(1, n * height, width, 2),
                          mode="bilinear", padding_mode="zeros", align_corners=False)
    return crops.view(channels, n, height, width).transpose(0, 1)
