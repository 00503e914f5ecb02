"""Heatmaps -> keypoints, as the official ``get_final_preds``, and the flip-test helpers.

Heatmaps are ``[N, J, h, w]`` (float). Heatmap coordinates are pixel indices (x = column,
y = row); image coordinates come back through the inverse of the crop's affine transform.

The official decoding also runs on the heatmaps' device (:func:`official_coords_torch`, chosen
by :func:`heatmaps_to_keypoints` for GPU tensors): only ``[N, J, 3]`` numbers then leave the
GPU, not the heatmaps. Its heatmap coordinates are integers plus or minus 0.25, so it gives the
numpy path's results exactly for the same heatmaps (ties between equal maxima included: both
take the first).
"""
from __future__ import annotations

from typing import Sequence, Tuple, Union

import cv2
import numpy as np
import torch

from .transforms import affine_matrices


def flip_heatmaps(heatmaps: torch.Tensor, flip_pairs: Sequence[Tuple[int, int]],
                  shift: bool = True) -> torch.Tensor:
    """Official ``flip_back`` (+ ``SHIFT_HEATMAP``): maps heatmaps of a horizontally flipped input
    back to the original frame: mirrors the width axis, swaps left/right joint channels and, with
    ``shift``, moves everything one pixel right (column 0 keeps its value), compensating the
    flip's half-pixel misalignment at stride 4."""
    flipped = heatmaps.flip(3)
    order = list(range(heatmaps.shape[1]))
    for a, b in flip_pairs:
        order[a], order[b] = b, a
    flipped = flipped[:, order]
    if shift:
        flipped = torch.cat([flipped[..., :1], flipped[..., :-1]], dim=3)
    return flipped


def argmax_keypoints(heatmaps: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Official ``get_max_preds``: integer (x, y) of each heatmap's maximum (first one on ties)
    ``[N, J, 2]`` and the maximum ``[N, J, 1]``; joints whose maximum is not positive get (0, 0)."""
    n, j, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, j, h * w)
    index = flat.argmax(axis=2)
    maxvals = np.take_along_axis(flat, index[..., None], axis=2).astype(np.float32)
    coords = np.stack([index % w, index // w], axis=2).astype(np.float32)
    coords *= (maxvals > 0.0)
    return coords, maxvals


def quarter_offset(heatmaps: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """The official sub-pixel step: each integer maximum moves 0.25 px toward its higher
    neighbour on each axis. Only maxima with ``1 < x < w-1`` and ``1 < y < h-1`` move (the
    official bounds: column/row 1 does not, although both its neighbours exist)."""
    n, j, h, w = heatmaps.shape
    px = np.floor(coords[..., 0] + 0.5).astype(np.int64)
    py = np.floor(coords[..., 1] + 0.5).astype(np.int64)
    inside = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
    ni, ji = np.nonzero(inside)
    x, y = px[ni, ji], py[ni, ji]
    hm = heatmaps[ni, ji]
    rows = np.arange(len(ni))
    diff = np.stack([hm[rows, y, x + 1] - hm[rows, y, x - 1],
                     hm[rows, y + 1, x] - hm[rows, y - 1, x]], axis=1)
    out = coords.copy()
    out[ni, ji] += np.sign(diff) * 0.25
    return out


def official_coords_torch(heatmaps: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """:func:`argmax_keypoints` followed by :func:`quarter_offset`, in torch on the heatmaps'
    device: coordinates ``[N, J, 2]`` float32 (x, y heatmap pixels) and maxima ``[N, J, 1]``."""
    n, j, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, j, h * w)
    index = flat.argmax(dim=2, keepdim=True)  # the first maximum on ties, as numpy's
    maxvals = flat.gather(2, index).float()
    index = index[..., 0]
    x, y = index % w, torch.div(index, w, rounding_mode="floor")
    positive = maxvals[..., 0] > 0
    coords = torch.stack([x, y], dim=2).float() * positive[..., None]
    # the quarter-pixel step, only strictly inside as the official code (maxima that were
    # not positive sit at (0, 0), outside)
    x, y = x * positive, y * positive
    inside = (x > 1) & (x < w - 1) & (y > 1) & (y < h - 1)
    xc, yc = x.clamp(1, max(w - 2, 1)), y.clamp(1, max(h - 2, 1))  # safe to index everywhere

    def at(dy: int, dx: int) -> torch.Tensor:
        return flat.gather(2, ((yc + dy) * w + xc + dx).clamp(0, h * w - 1)[..., None])[..., 0]

    diff = torch.stack([at(0, 1) - at(0, -1), at(1, 0) - at(-1, 0)], dim=2)
    return coords + torch.sign(diff).float() * 0.25 * inside[..., None], maxvals


def gaussian_smooth(heatmaps: np.ndarray, kernel: int = 11) -> np.ndarray:
    """DARK's smoothing of every heatmap ``[N, J, h, w]`` at once: a ``kernel`` x ``kernel``
    Gaussian blur (OpenCV's sigma for that size) with zero padding outside the heatmap, as DARK's
    reference implementation, rescaled so that each heatmap keeps its original maximum. Returns
    float64 ``[N, J, h, w]``."""
    n, j, h, w = heatmaps.shape
    maps = heatmaps.reshape(n * j, h, w).astype(np.float64)
    if not len(maps):
        return maps.reshape(n, j, h, w)
    smooth = np.empty_like(maps)
    chunk = 128  # channels of one image that OpenCV (5.x) blurs at once
    for start in range(0, n * j, chunk):
        block = np.ascontiguousarray(maps[start:start + chunk].transpose(1, 2, 0))
        blurred = cv2.GaussianBlur(block, (kernel, kernel), 0, borderType=cv2.BORDER_CONSTANT)
        smooth[start:start + chunk] = blurred.reshape(h, w, -1).transpose(2, 0, 1)
    peak = maps.reshape(n * j, -1).max(axis=1)
    height = np.maximum(smooth.reshape(n * j, -1).max(axis=1), 1e-12)
    smooth *= (peak / height)[:, None, None]
    return smooth.reshape(n, j, h, w)


def dark_refine(heatmaps: np.ndarray, coords: np.ndarray, kernel: int = 11) -> np.ndarray:
    """DARK sub-pixel refinement (Zhang et al., CVPR 2020), an option beyond the official
    decoding: Gaussian-smooth each heatmap (:func:`gaussian_smooth`), take logs, and move the
    integer maximum by one Newton step ``-H^-1 g`` on the log-heatmap (derivatives by central
    differences). Maxima on the border (no neighbours) stay where they are."""
    n, j, h, w = heatmaps.shape
    smooth = gaussian_smooth(heatmaps, kernel)
    x = coords[..., 0].astype(np.int64)
    y = coords[..., 1].astype(np.int64)
    ok = (x > 1) & (x < w - 2) & (y > 1) & (y < h - 2)
    ni, ji = np.nonzero(ok)
    xs, ys = x[ni, ji], y[ni, ji]

    def at(dy, dx):  # the log-heatmap, taken only where the derivatives need it
        return np.log(np.maximum(smooth[ni, ji, ys + dy, xs + dx], 1e-10))

    dx = 0.5 * (at(0, 1) - at(0, -1))
    dy = 0.5 * (at(1, 0) - at(-1, 0))
    dxx = 0.25 * (at(0, 2) - 2 * at(0, 0) + at(0, -2))
    dyy = 0.25 * (at(2, 0) - 2 * at(0, 0) + at(-2, 0))
    dxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    det = dxx * dyy - dxy ** 2
    valid = np.abs(det) > 1e-12
    safe = np.where(valid, det, 1.0)
    step_x = -(dyy * dx - dxy * dy) / safe
    step_y = -(dxx * dy - dxy * dx) / safe
    out = coords.astype(np.float64).copy()
    out[ni, ji, 0] += np.where(valid, step_x, 0.0)
    out[ni, ji, 1] += np.where(valid, step_y, 0.0)
    return out.astype(np.float32)


def heatmaps_to_keypoints(heatmaps: Union[np.ndarray, torch.Tensor], center: np.ndarray,
                          scale: np.ndarray, method: str = "official") -> np.ndarray:
    """Decodes heatmaps to image keypoints.

    Args:
        heatmaps: ``[N, J, h, w]`` float, a numpy array or a tensor; the official decoding of a
            tensor on a GPU runs there (:func:`official_coords_torch`).
        center, scale: ``[N, 2]`` crops the heatmaps belong to (see :mod:`pose.transforms`).
        method: ``"official"`` (argmax + quarter-pixel offset) or ``"dark"``.
    Returns:
        ``[N, J, 3]`` float: x, y in image pixels and the heatmap maximum as confidence.
    """
    if method not in ("official", "dark"):
        raise ValueError(f"unknown decoding {method!r}; use 'official' or 'dark'")
    if isinstance(heatmaps, torch.Tensor) and heatmaps.device.type != "cpu" \
            and method == "official":
        coords, maxvals = (t.cpu().numpy() for t in official_coords_torch(heatmaps.float()))
    else:
        if isinstance(heatmaps, torch.Tensor):
            heatmaps = heatmaps.detach().cpu().numpy()
        heatmaps = np.ascontiguousarray(heatmaps, dtype=np.float32)
        coords, maxvals = argmax_keypoints(heatmaps)
        refine = quarter_offset if method == "official" else dark_refine
        coords = refine(heatmaps, coords)
    n, _, h, w = heatmaps.shape
    out = np.empty((n, heatmaps.shape[1], 3), dtype=np.float64)
    inverse = affine_matrices(center, scale, (h, w), inverse=True)  # [N, 2, 3]
    out[..., :2] = coords.astype(np.float64) @ inverse[:, :, :2].transpose(0, 2, 1)
    out[..., :2] += inverse[:, None, :, 2]
    out[..., 2] = maxvals[..., 0]
    return out
