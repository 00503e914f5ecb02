"""Similarities between the poses of existing tracks and of the current frame.

Poses are ``[N, J, 3]`` (x, y pixels, score); boxes ``[N, 4+]`` x1, y1, x2, y2 pixels. All
functions return ``[tracks, detections]`` matrices in [0, 1].
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from pose.oks import oks_matrix


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``[N, 4+]`` and ``[M, 4+]`` boxes (x1, y1, x2, y2)."""
    a = np.asarray(a, dtype=np.float64)[:, :4]
    b = np.asarray(b, dtype=np.float64)[:, :4]
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)
    union = area_a[:, None] + area_b[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def pose_box(poses: np.ndarray, score_threshold: float = 0.0, enlarge: float = 0.0) -> np.ndarray:
    """``[N, 4]`` boxes around each pose's joints scoring above ``score_threshold`` (all joints
    if none do), enlarged by ``enlarge`` (0.15: 15% wider and taller, same centre)."""
    poses = np.asarray(poses, dtype=np.float64)
    ok = poses[..., 2] > score_threshold
    ok[~ok.any(axis=1)] = True
    x = np.where(ok, poses[..., 0], np.nan)
    y = np.where(ok, poses[..., 1], np.nan)
    boxes = np.stack([np.nanmin(x, 1), np.nanmin(y, 1), np.nanmax(x, 1), np.nanmax(y, 1)], 1)
    if enlarge:
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        half = (boxes[:, 2:] - boxes[:, :2]) * (1 + enlarge) / 2
        boxes = np.concatenate([centre - half, centre + half], axis=1)
    return boxes


def box_area(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0,
                                                                    None)


def pose_oks(track_poses: np.ndarray, track_boxes: np.ndarray, poses: np.ndarray,
             boxes: np.ndarray, sigmas: np.ndarray,
             score_threshold: Optional[float] = 0.2) -> np.ndarray:
    """OKS between (propagated) track poses and current poses, with the boxes' areas; joints
    count where both poses score above ``score_threshold``."""
    return oks_matrix(track_poses, poses, box_area(track_boxes), box_area(boxes), sigmas,
                      score_threshold)


def unite_boxes(detected: np.ndarray, propagated: np.ndarray,
                iou_threshold: float = 0.5) -> np.ndarray:
    """The detector's boxes ``[N, 5]`` united with the tracks' propagated boxes ``[M, 5]`` by NMS
    (the paper's recovery of missed detections): a propagated box survives where no better-scoring
    box overlaps it by more than ``iou_threshold``. Returns ``[K, 5]`` float32, best first."""
    import torch
    from torchvision.ops import nms

    boxes = np.concatenate([np.asarray(detected, np.float32).reshape(-1, 5),
                            np.asarray(propagated, np.float32).reshape(-1, 5)])
    if not len(boxes):
        return boxes
    keep = nms(torch.from_numpy(boxes[:, :4]), torch.from_numpy(boxes[:, 4]),
               iou_threshold).numpy()
    return boxes[keep]


def combined(iou: Optional[np.ndarray], oks: Optional[np.ndarray],
             oks_weight: float = 0.5) -> np.ndarray:
    """``oks_weight * OKS + (1 - oks_weight) * IoU`` (either alone when the other is None)."""
    if iou is None:
        return oks
    if oks is None:
        return iou
    return oks_weight * oks + (1 - oks_weight) * iou
