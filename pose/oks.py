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

UNDERFLOW = 746.0  # exp(-x) == 0.0 in float64 for every x >= this
EPS = float(np.spacing(1))


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
    mean_area = np.asarray(area_a, np.float64)[:, None] + np.asarray(area_b, np.float64)[None]
    # Written out, in place, for speed; the operations and their order are those of
    # d2 = ((a - b) ** 2).sum(-1); e = d2 / variances / (mean_area / 2 + eps) / 2; exp(-e)
    # (x * -0.5 is exactly -(x / 2)), so the results are bit-identical to that form.
    d2 = a[:, None, :, 0] - b[None, :, :, 0]  # [N, M, J]
    d2 *= d2
    dy = a[:, None, :, 1] - b[None, :, :, 1]
    d2 += np.multiply(dy, dy, out=dy)
    d2 /= variances
    d2 /= (mean_area / 2 + EPS)[..., None]
    minus_e = np.multiply(d2, -0.5, out=d2)
    # exp(-e) is exactly 0 for e >= UNDERFLOW: computed only where it is not (and where the
    # joint counts), which skips most pairs of different people and libm's slow underflow path
    if score_threshold is None:
        needed = ~(minus_e <= -UNDERFLOW)
    else:
        conf_a, conf_b = a[..., 2] > score_threshold, b[..., 2] > score_threshold
        needed = conf_a[:, None, :] & conf_b[None, :, :]
        needed &= minus_e > -UNDERFLOW
        needed |= minus_e != minus_e  # NaN (non-finite input) stays NaN, as exp(NaN) * 0
    similarity = np.zeros_like(minus_e)
    np.exp(minus_e, out=similarity, where=needed)
    if score_threshold is None:
        return similarity.mean(-1) if a.shape[1] else np.zeros(similarity.shape[:2])
    counted = conf_a.astype(np.float64) @ conf_b.T.astype(np.float64)  # joints in both (exact)
    return np.where(counted > 0, similarity.sum(-1) / np.maximum(counted, 1), 0.0)


def oks_pairs(a: np.ndarray, b: np.ndarray, area_a: np.ndarray, area_b: np.ndarray,
              sigmas: np.ndarray, score_threshold: Optional[float] = None) -> np.ndarray:
    """OKS of the pairs ``(a[k], b[k])``: ``[K]``, the values :func:`oks_matrix` gives for
    them, without computing every other pair (``a``, ``b``: ``[K, J, 3]``; areas ``[K]``)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    variances = (2.0 * np.asarray(sigmas, dtype=np.float64)) ** 2
    mean_area = np.asarray(area_a, np.float64) + np.asarray(area_b, np.float64)
    d2 = ((a[..., :2] - b[..., :2]) ** 2).sum(-1)  # [K, J]
    e = d2 / variances / (mean_area / 2 + EPS)[:, None] / 2
    similarity = np.exp(-e)
    if score_threshold is None:
        return similarity.mean(-1) if a.shape[1] else np.zeros(len(a))
    both = (a[..., 2] > score_threshold) & (b[..., 2] > score_threshold)
    counted = both.sum(-1)
    return np.where(counted > 0, (similarity * both).sum(-1) / np.maximum(counted, 1), 0.0)
