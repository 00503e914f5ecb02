"""CLEAR-MOT and identity metrics of box tracks, with motmetrics (the ``test`` extra).

Boxes pair when their IoU is at least 0.5 (MOTChallenge's rule); distances are ``1 - IoU``. The
IoU matrix is computed here (``tracker.similarity.box_iou``), so motmetrics is only asked to
accumulate and summarise.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Tuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from tracker.similarity import box_iou

from .files import GroundTruth

IOU = 0.5
#: motmetrics names -> the names printed and written
METRICS = {"mota": "MOTA", "idf1": "IDF1", "motp": "MOTP", "idp": "IDP", "idr": "IDR",
           "num_switches": "IDs", "num_false_positives": "FP", "num_misses": "FN",
           "num_objects": "GT", "num_unique_objects": "GT ids", "mostly_tracked": "MT",
           "mostly_lost": "ML", "num_fragmentations": "Frag"}
PERCENT = ("MOTA", "IDF1", "IDP", "IDR")

Hypotheses = Dict[int, Tuple[np.ndarray, np.ndarray]]  # frame -> (ids [N], boxes [N, 4])


def _motmetrics():
    try:
        import motmetrics
    except ImportError:
        raise ImportError("MOT metrics need motmetrics: pip install -e \".[test]\" (or pip "
                          "install motmetrics)") from None
    return motmetrics


def _drop_ignored(ids: np.ndarray, boxes: np.ndarray, ignored: np.ndarray):
    """Hypotheses without those that pair (IoU >= 0.5, one-to-one) with an ignored box."""
    if not len(ignored) or not len(boxes):
        return ids, boxes
    iou = box_iou(ignored, boxes)
    rows, cols = linear_sum_assignment(-iou)
    drop = cols[iou[rows, cols] >= IOU]
    keep = np.ones(len(ids), bool)
    keep[drop] = False
    return ids[keep], boxes[keep]


def accumulate(gt: GroundTruth, hypotheses: Hypotheses, frames: Iterable[int]):
    """A ``motmetrics.MOTAccumulator`` over ``frames`` (every frame of the sequence, from 1)."""
    mm = _motmetrics()
    acc = mm.MOTAccumulator(auto_id=True)
    empty = (np.zeros(0, np.int64), np.zeros((0, 4)))
    for frame in frames:
        gt_ids, gt_boxes = gt.ids.get(frame, empty[0]), gt.boxes.get(frame, empty[1])
        ids, boxes = hypotheses.get(frame, empty)
        ids, boxes = _drop_ignored(np.asarray(ids), np.asarray(boxes, np.float64).reshape(-1, 4),
                                   gt.ignored.get(frame, empty[1]))
        iou = box_iou(gt_boxes, boxes) if len(gt_boxes) and len(boxes) else \
            np.zeros((len(gt_boxes), len(boxes)))
        distance = np.where(iou >= IOU, 1.0 - iou, np.nan)
        acc.update(gt_ids.tolist(), np.asarray(ids).tolist(), distance)
    return acc


def summarize(accumulators: List, names: List[str]) -> Dict[str, Dict[str, float]]:
    """Metrics per sequence and ``"OVERALL"`` (counts summed, rates over the sums):
    ``{name: {"MOTA": %, "IDF1": %, "IDs": n, "FP": n, "FN": n, ...}}``."""
    mm = _motmetrics()
    host = mm.metrics.create()
    table = host.compute_many(accumulators, names=names, metrics=list(METRICS),
                              generate_overall=len(accumulators) > 1)
    out = {}
    for name, row in table.iterrows():
        values = {}
        for key, label in METRICS.items():
            value = float(row[key])
            if label in PERCENT:
                value = round(100.0 * value, 2) if np.isfinite(value) else float("nan")
            elif label == "MOTP":
                value = round(value, 4) if np.isfinite(value) else float("nan")
            else:
                value = int(value)
            values[label] = value
        out["OVERALL" if name == "OVERALL" else str(name)] = values
    if len(accumulators) == 1:
        out["OVERALL"] = dict(out[names[0]])
    return out


def format_table(metrics: Dict[str, Dict[str, float]],
                 columns=("MOTA", "IDF1", "IDP", "IDR", "IDs", "FP", "FN", "GT")) -> str:
    """The metrics as an aligned text table, one row per sequence."""
    width = max(len(n) for n in metrics) + 2
    lines = [" " * width + "".join(f"{c:>8s}" for c in columns)]
    for name, values in metrics.items():
        cells = "".join(f"{values[c]:8.1f}" if c in PERCENT else f"{values[c]:8d}"
                        for c in columns)
        lines.append(f"{name:<{width}s}{cells}")
    return "\n".join(lines)
