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


def clip_boxes(boxes: np.ndarray, frame_shape, return_index: bool = False):
    """Boxes ``[N, 5]`` clipped to the frame (``(height, width)``); boxes left with no area are
    dropped and scores are capped at 1. With ``return_index``, also the rows kept ``[M]``."""
    height, width = frame_shape
    out = np.array(boxes, dtype=np.float32).reshape(-1, 5)
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
    out[:, 4] = out[:, 4].clip(None, 1.0)
    index = np.flatnonzero((out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1]))
    return (out[index], index) if return_index else out[index]


def missed_boxes(detected: np.ndarray, propagated: np.ndarray, frame_shape,
                 iou_threshold: float = 0.5, contained: float = 0.8):
    """The propagated boxes ``[M, 5]`` of tracked people the detector missed (the paper's box
    propagation), clipped to the frame, and their rows in ``propagated`` ``[K]``.

    Detections always win: a propagated box is dropped when it overlaps a detection
    (``[N, 5]``) by more than ``iou_threshold`` IoU or when ``contained`` of the smaller of the
    two lies inside the other; among themselves propagated boxes are reduced by the same rule
    in score order. This keeps a propagated box from ever replacing or duplicating a detected
    person (which would feed back: a duplicate is tracked, propagated again, and so on).
    """
    taken = np.asarray(detected, np.float32).reshape(-1, 5)
    candidates, rows = clip_boxes(propagated, frame_shape, return_index=True)
    order = np.argsort(-candidates[:, 4], kind="stable")
    kept = []
    for k in order.tolist():
        box = candidates[k]
        if len(taken):
            iou = box_iou(box[None, :4], taken[:, :4])[0]
            inter = iou * (box_area(box[None, :4])[0] + box_area(taken[:, :4])) / (1 + iou)
            smaller = np.minimum(box_area(box[None, :4])[0], box_area(taken[:, :4]))
            if (iou > iou_threshold).any() or (inter > contained * smaller).any():
                continue
        taken = np.concatenate([taken, box[None]])
        kept.append(k)
    kept = np.asarray(kept, np.int64)
    return candidates[kept].reshape(-1, 5), rows[kept]


def add_missed_boxes(detected: np.ndarray, propagated: np.ndarray, frame_shape,
                     iou_threshold: float = 0.5, contained: float = 0.8) -> np.ndarray:
    """The detections ``[N, 5]`` followed by :func:`missed_boxes` (same rules)."""
    missed, _ = missed_boxes(detected, propagated, frame_shape, iou_threshold, contained)
    return np.concatenate([np.asarray(detected, np.float32).reshape(-1, 5), missed])


def combined(iou: Optional[np.ndarray], oks: Optional[np.ndarray],
             oks_weight: float = 0.5) -> np.ndarray:
    """``oks_weight * OKS + (1 - oks_weight) * IoU`` (either alone when the other is None)."""
    if iou is None:
        return oks
    if oks is None:
        return iou
    return oks_weight * oks + (1 - oks_weight) * iou


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
