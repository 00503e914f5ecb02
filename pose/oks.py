"""Object keypoint similarity (OKS), the one definition used across hrtrack.

``OKS(a, b) = mean_j exp(-d_j^2 / (2 * s * (2 sigma_j)^2))`` with ``d_j`` the distance between
the two poses' joint j in pixels and ``s`` the mean of their areas (pixels^2). This is the form of
the official HRNet/SimpleBaseline ``oks_iou`` (used by OKS-NMS and by the flow tracker). With
``score_threshold``, only joints whose score exceeds it in both poses count, and poses sharing
no such joint have OKS 0.
"""
from __future__ import annotations

from typing import Optional

import numpy as np


def oks_matrix(a: np.ndarray, b: np.ndarray, area_a: np.ndarray, area_b: np.ndarray,
               sigmas: np.ndarray, score_threshold: Optional[float] = None) -> np.ndarray:
    """Pairwise OKS.

    Args:
        a: ``[N, J, 3]`` poses (x, y pixels, score); ``b``: ``[M, J, 3]``.
        area_a, area_b: ``[N]``, ``[M]`` areas in pixels^2 (official: the crop region's area,
            ``scale_x * scale_y * 200^2``).
        sigmas: ``[J]`` per-joint constants (e.g. COCO's ``0.026 ... 0.089``).
        score_threshold: count only joints scoring above this in both poses.
    Returns:
        ``[N, M]`` OKS in [0, 1].
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    variances = (2.0 * np.asarray(sigmas, dtype=np.float64)) ** 2
    d2 = ((a[:, None, :, :2] - b[None, :, :, :2]) ** 2).sum(-1)  # [N, M, J]
    mean_area = (np.asarray(area_a, np.float64)[:, None] + np.asarray(area_b, np.float64)[None])
    e = d2 / variances / (mean_area[..., None] / 2 + np.spacing(1)) / 2
    similarity = np.exp(-e)
    if score_threshold is None:
        return similarity.mean(-1) if a.shape[1] else np.zeros(d2.shape[:2])
    both = (a[:, None, :, 2] > score_threshold) & (b[None, :, :, 2] > score_threshold)
    counted = both.sum(-1)
    total = (similarity * both).sum(-1)
    return np.where(counted > 0, total / np.maximum(counted, 1), 0.0)
