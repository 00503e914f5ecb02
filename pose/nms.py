"""Instance rescoring and OKS-based non-maximum suppression of the official evaluation."""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from .oks import oks_matrix
from .transforms import SCALE_UNIT


def rescore(keypoints: np.ndarray, box_scores: np.ndarray,
            joint_threshold: float = 0.2) -> np.ndarray:
    """Official instance score: box score x mean of the joint confidences above
    ``joint_threshold`` (the box score times 0 when no joint passes).

    Args:
        keypoints: ``[N, J, 3]``; box_scores: ``[N]``.
    Returns:
        ``[N]`` float64.
    """
    conf = np.asarray(keypoints, dtype=np.float64)[..., 2]
    passing = conf > joint_threshold
    count = passing.sum(1)
    mean = np.where(count > 0, (conf * passing).sum(1) / np.maximum(count, 1), 0.0)
    return mean * np.asarray(box_scores, dtype=np.float64)


def oks_nms(keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray, sigmas: np.ndarray,
            threshold: float = 0.9, score_threshold: Optional[float] = None) -> np.ndarray:
    """Greedy OKS-NMS (official ``oks_nms``): take the best-scoring pose, drop every remaining
    pose whose OKS with it exceeds ``threshold``, repeat.

    Returns:
        indices of the kept poses, best first.
    """
    order = np.argsort(np.asarray(scores))[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        overlap = oks_matrix(keypoints[i:i + 1], keypoints[rest], areas[i:i + 1], areas[rest],
                             sigmas, score_threshold)[0]
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def soft_oks_nms(keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray,
                 sigmas: np.ndarray, threshold: float = 0.9, max_dets: int = 20,
                 score_threshold: Optional[float] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Soft OKS-NMS (official ``soft_oks_nms``, Gaussian decay): take the best pose, multiply the
    remaining scores by ``exp(-oks^2 / threshold)``, re-sort, repeat, up to ``max_dets`` poses
    (20 in the official code).

    Returns:
        ``(keep, decayed_scores)``: indices of the kept poses in selection order and their
        scores after decay (the official evaluation reports the undecayed scores).
    """
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(scores)[::-1]
    current = scores[order]
    keep, kept_scores = [], []
    while order.size > 0 and len(keep) < max_dets:
        i = order[0]
        keep.append(i)
        kept_scores.append(current[0])
        rest = order[1:]
        overlap = oks_matrix(keypoints[i:i + 1], keypoints[rest], areas[i:i + 1], areas[rest],
                             sigmas, score_threshold)[0]
        decayed = current[1:] * np.exp(-overlap ** 2 / threshold)
        resort = np.argsort(decayed)[::-1]
        order, current = rest[resort], decayed[resort]
    return np.asarray(keep, dtype=np.int64), np.asarray(kept_scores)


def select_poses(keypoints: np.ndarray, box_scores: np.ndarray, scale: np.ndarray,
                 sigmas: np.ndarray, oks_threshold: float = 0.9, joint_threshold: float = 0.2,
                 soft: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """The official per-image post-processing (COCO, and mmpose's PoseTrack18): rescoring
    (:func:`rescore`), then (soft) OKS-NMS with the crop regions' areas (``scale * 200``
    squared, i.e. the padded box of :func:`pose.transforms.box_to_center_scale`).

    Args:
        keypoints: ``[N, J, 3]``; box_scores: ``[N]``; scale: ``[N, 2]`` crop region / 200.
    Returns:
        ``(kept indices, scores [N])``, kept indices best first.
    """
    scores = rescore(keypoints, box_scores, joint_threshold)
    areas = np.prod(scale.astype(np.float32) * np.float32(SCALE_UNIT), axis=1).astype(np.float64)
    if soft:
        keep, _ = soft_oks_nms(keypoints, scores, areas, sigmas, oks_threshold)
    else:
        keep = oks_nms(keypoints, scores, areas, sigmas, oks_threshold)
    return keep, scores
