"""Box propagation (Simple Baselines): boxes of tracked people the detector missed, taken from
the tracker's predictions, that a pipeline adds to the detections of a frame."""
from __future__ import annotations

import numpy as np

from .similarity import box_area, box_iou


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
