"""Similarities between the (predicted) tracks and the detections of the current frame.

Poses are ``[N, J, 3]`` (x, y pixels, score); boxes ``[N, 4+]`` x1, y1, x2, y2 pixels. All
functions return ``[tracks, detections]`` matrices in [0, 1].

:data:`SIMILARITIES` names the tracker's choices (``"iou"``, ``"oks"``, ``"both"``), each a plain
function ``(track_boxes, boxes, track_poses, poses, *, sigmas, joint_threshold, oks_weight)``;
poses may be None (box-only tracking), which ``"both"`` answers with IoU alone.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional

import numpy as np

from pose.oks import oks_matrix, oks_pairs


def box_iou(a: np.ndarray, b: np.ndarray, area_a: Optional[np.ndarray] = None,
            area_b: Optional[np.ndarray] = None) -> np.ndarray:
    """Pairwise IoU of ``[N, 4+]`` and ``[M, 4+]`` boxes (x1, y1, x2, y2); their areas ``[N]``,
    ``[M]`` (:func:`box_area`) may be passed when already known."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    inter = np.minimum(a[:, None, 2], b[None, :, 2])  # [N, M]
    inter -= np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3])
    h -= np.maximum(a[:, None, 1], b[None, :, 1])
    np.maximum(inter, 0.0, out=inter)
    inter *= np.maximum(h, 0.0, out=h)
    area_a = box_area(a) if area_a is None else area_a
    area_b = box_area(b) if area_b is None else area_b
    union = area_a[:, None] + area_b[None]
    union -= inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def pose_box(poses: np.ndarray, score_threshold: float = 0.0, enlarge: float = 0.0) -> np.ndarray:
    """``[N, 4]`` boxes around each pose's joints scoring above ``score_threshold`` (all joints
    if none do), enlarged by ``enlarge`` (0.15: 15% wider and taller, same centre)."""
    poses = np.asarray(poses, dtype=np.float64)
    ok = poses[..., 2] > score_threshold
    some = np.logical_or.reduce(ok, axis=1)
    if not some.all():
        ok[~some] = True
    xy = np.empty((poses.shape[1], 2, len(poses)))  # [J, 2, N]: fast reductions over J
    xy.fill(np.nan)
    np.copyto(xy, poses[..., :2].transpose(1, 2, 0), where=ok.T[:, None, :])
    boxes = np.concatenate([np.fmin.reduce(xy, axis=0), np.fmax.reduce(xy, axis=0)]).T
    if enlarge:
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        half = (boxes[:, 2:] - boxes[:, :2]) * (1 + enlarge) / 2
        boxes = np.concatenate([centre - half, centre + half], axis=1)
    return boxes


def box_area(boxes: np.ndarray) -> np.ndarray:
    """``[N]`` areas of ``[N, 4+]`` boxes (0 where inverted)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    wh = boxes[:, 2:4] - boxes[:, :2]
    np.maximum(wh, 0.0, out=wh)
    return wh[:, 0] * wh[:, 1]


def pose_oks(track_poses: np.ndarray, track_boxes: np.ndarray, poses: np.ndarray,
             boxes: np.ndarray, sigmas: np.ndarray,
             score_threshold: Optional[float] = 0.2) -> np.ndarray:
    """OKS between (propagated) track poses and current poses, with the boxes' areas; joints
    count where both poses score above ``score_threshold``."""
    return oks_matrix(track_poses, poses, box_area(track_boxes), box_area(boxes), sigmas,
                      score_threshold)


def _has_pose(poses: np.ndarray, joint_threshold: float) -> np.ndarray:
    """``[N]`` whether each pose has a joint scoring above ``joint_threshold``."""
    return np.logical_or.reduce(poses[..., 2] > joint_threshold, axis=1)


def iou_similarity(track_boxes: np.ndarray, boxes: np.ndarray,
                   track_poses: Optional[np.ndarray], poses: Optional[np.ndarray], *,
                   sigmas: np.ndarray, joint_threshold: float, oks_weight: float) -> np.ndarray:
    """Box IoU of the tracks' predicted boxes and the detections (poses unused)."""
    return box_iou(track_boxes, boxes)


def oks_similarity(track_boxes: np.ndarray, boxes: np.ndarray,
                   track_poses: Optional[np.ndarray], poses: Optional[np.ndarray], *,
                   sigmas: np.ndarray, joint_threshold: float, oks_weight: float) -> np.ndarray:
    """OKS of the tracks' predicted poses and the detected poses (the boxes' areas as the
    scale; joints count where both score above ``joint_threshold``)."""
    if poses is None or track_poses is None:
        raise ValueError("similarity 'oks' needs poses; use 'iou' or 'both' to track boxes")
    return oks_matrix(track_poses, poses, box_area(track_boxes), box_area(boxes), sigmas,
                      joint_threshold)


def iou_oks_similarity(track_boxes: np.ndarray, boxes: np.ndarray,
                       track_poses: Optional[np.ndarray], poses: Optional[np.ndarray], *,
                       sigmas: np.ndarray, joint_threshold: float,
                       oks_weight: float) -> np.ndarray:
    """``oks_weight * OKS + (1 - oks_weight) * IoU`` for overlapping pairs that both have a
    pose (a joint above ``joint_threshold``), IoU alone for the others and when there are no
    poses."""
    track_area, area = box_area(track_boxes), box_area(boxes)
    iou = box_iou(track_boxes, boxes, track_area, area)
    if poses is None or track_poses is None or not iou.size:
        return iou
    # OKS where both have a pose and the boxes overlap (elsewhere it could not reach a match)
    rows, cols = np.nonzero((iou > 0) & _has_pose(track_poses, joint_threshold)[:, None]
                            & _has_pose(poses, joint_threshold)[None])
    if not len(rows):
        return iou
    out = iou.copy()
    oks = oks_pairs(track_poses[rows], poses[cols], track_area[rows], area[cols], sigmas,
                    joint_threshold)
    out[rows, cols] = oks_weight * oks + (1 - oks_weight) * iou[rows, cols]
    return out


Similarity = Callable[..., np.ndarray]
SIMILARITIES: Dict[str, Similarity] = {"iou": iou_similarity, "oks": oks_similarity,
                                       "both": iou_oks_similarity}
