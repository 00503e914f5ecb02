"""PoseTrack18 multi-person pose AP and tracking MOTA, numerically as the official ``poseval``.

Everything below reproduces poseval (leonid-pishchulin/poseval, ``eval_helpers.py``,
``evaluateAP.py``, ``evaluateTracking.py``, ``convert.py``), quirks included:

Data (see :mod:`.files`)
  * 15 joints in poseval's order; the ears of the 17 PoseTrack18 slots are not evaluated.
  * A joint is absent when it is (0, 0) with visibility 0 (other joints count, whatever their
    visibility). Predicted joints without a score (no or empty ``scores``) score -9999.
  * Sequences are visited in ``glob`` order of the GT folder (this only decides the order of
    equal scores in the AP sort); GT and prediction frames pair up by position.
  * GT frames without any annotated person are dropped together with their prediction frame
    (``is_labeled`` itself is not read).
  * In frames with ignore regions, GT and predicted joints strictly inside a region polygon
    (shapely ``contains``) are removed, and every person left without joints - including
    people that had none - is removed. Elsewhere people without joints stay (they count as
    present people but have nothing to match).
  * Track ids are made unique across sequences by adding ``sequence index * 10000``.

Matching (per frame, ``assignGTmulti``)
  * head size = 0.6 x the diagonal of the GT ``bbox_head``; distance = pixel distance / head size;
    a joint matches within 0.5 (PCKh@0.5).
  * PCKh of (prediction, GT person) = matched joints / the GT person's annotated joints.
  * Each prediction keeps only its best GT person (first on ties); each GT person then takes the
    prediction with the highest remaining PCKh (first on ties); a best PCKh of 0 means unmatched.
  * Joints of a matched prediction are true positives where they match their GT person's joint,
    false positives otherwise; every joint of an unmatched prediction is a false positive.
  * Frames with no prediction (or no GT person left) add only false positives to AP, and a
    single dummy object and hypothesis (id 0, not pairable) to each joint's MOT accumulator:
    one miss and one false positive per joint, however many people the frame has.

AP (``evaluateAP.computeMetrics``)
  * Per joint over all frames: detections sorted by score (``argsort()[::-1]``; equal scores in
    the order numpy 1.x's introsort leaves them, see :mod:`.legacy_argsort` - this decides the AP
    when scores tie, e.g. when they are missing), precision/recall, VOC area under the
    interpolated curve, x100; a joint with no detection scores 0 (so a sequence without some joint
    in GT and predictions gets 0 there); a joint with detections but no GT gives NaN.
  * Total = mean of the 15 joint APs, NaNs skipped; group columns (Head = head top, neck, nose;
    Shou, Elb, Wri, Hip, Knee, Ankl = left/right pairs) are plain means.

MOTA (``evaluateTracking.computeMetrics``)
  * One motmetrics-style accumulator per joint and sequence (:mod:`benchmarks.clear_mot`): GT
    track ids of the people having the joint, predicted track ids likewise, distances where within
    the 0.5 gate, NaN elsewhere.
  * The last kept frame of every sequence is left out.
  * Counts are summed over sequences per joint: MOTA = 100 (1 - (misses + switches + FP) /
    objects), Prec = 100 matches / (matches + FP), Rec = 100 matches / objects (NaN without
    objects or detections), and Total = mean over joints, NaNs skipped.
  * MOTP: poseval prints ``100 (1 - sum(acc.events['D']) / detections)``; since motmetrics 1.2
    ``events`` also holds the RAW pair distances, so the printed figure depends on the motmetrics
    version. We report the matched-pairs MOTP, ``100 (1 - sum of matched distances /
    detections)`` (0 without detections), which is what older motmetrics gave.
"""
from __future__ import annotations

import glob
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from pose.datasets.posetrack18 import PoseTrackAnnotationError

from ..clear_mot import MotAccumulator, MotCounts
from . import legacy_argsort
from .files import NUM_JOINTS, Frame, load_sequence

DIST_THRESHOLD = 0.5
MAX_TRACK_ID = 10000
GROUPS = OrderedDict([
    ("Head", (14, 12, 13)), ("Shou", (8, 9)), ("Elb", (7, 10)), ("Wri", (6, 11)),
    ("Hip", (2, 3)), ("Knee", (1, 4)), ("Ankl", (0, 5)),
])
COLUMNS = tuple(GROUPS) + ("Total",)


@dataclass
class FrameMatch:
    """What one frame contributes: per joint AP detections and MOT input."""

    scores: List[np.ndarray]  # per joint: scores of the predicted joints, prediction order
    labels: List[np.ndarray]  # per joint: 1 = true positive
    num_gt: np.ndarray  # [15] annotated GT joints
    mot: List[Tuple[np.ndarray, np.ndarray, np.ndarray]]  # per joint: GT ids, pred ids, dists


def _polygons(regions: Sequence[np.ndarray]) -> list:
    import shapely

    return [shapely.Polygon(r) for r in regions if len(r) >= 3]


def _remove_ignored(frame: Frame, polygons: list) -> Frame:
    """Drops joints strictly inside any polygon, then every person left without joints (also
    those who had none)."""
    import shapely

    if frame.num_people == 0:
        return frame
    x, y = frame.xy[..., 0].ravel(), frame.xy[..., 1].ravel()
    inside = np.zeros(x.shape, dtype=bool)
    for polygon in polygons:
        inside |= shapely.contains_xy(polygon, x, y)
    present = frame.present & ~inside.reshape(frame.present.shape)
    out = Frame(frame.name, frame.xy, present, frame.scores, frame.track_ids, frame.head_size,
                frame.ignore_regions)
    return out.subset(present.any(axis=1))


def match_frame(gt: Frame, pred: Frame) -> FrameMatch:
    """poseval's ``assignGTmulti`` for one frame (vectorised)."""
    num_gt = gt.present.sum(axis=0).astype(np.float64)
    scores, labels = [], []
    if pred.num_people and gt.num_people:
        diff = pred.xy[:, None] - gt.xy[None]  # [P, G, 15, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            dist = np.sqrt((diff ** 2).sum(-1)) / gt.head_size[None, :, None]
        both = pred.present[:, None] & gt.present[None]
        dist = np.where(both, dist, np.inf)
        match = dist <= DIST_THRESHOLD
        pck = match.sum(axis=2).astype(np.float64)
        annotated = gt.present.sum(axis=1)
        pck = np.where(annotated[None] > 0, pck / np.maximum(annotated[None], 1), pck)
        best_gt = pck.argmax(axis=1)
        keep = np.zeros_like(pck)
        rows = np.arange(len(pck))
        keep[rows, best_gt] = pck[rows, best_gt]
        pr_to_gt = keep.argmax(axis=0)
        pr_to_gt[keep.max(axis=0) == 0] = -1
        label = np.zeros((pred.num_people, NUM_JOINTS), dtype=bool)
        gt_of = np.nonzero(pr_to_gt >= 0)[0]
        label[pr_to_gt[gt_of]] = match[pr_to_gt[gt_of], gt_of]
        gated = np.where(match, dist, np.nan).transpose(2, 1, 0)  # [15, G, P]
        mot = []
        for j in range(NUM_JOINTS):
            g_idx = np.nonzero(gt.present[:, j])[0]
            p_idx = np.nonzero(pred.present[:, j])[0]
            mot.append((gt.track_ids[g_idx], pred.track_ids[p_idx],
                        gated[j][np.ix_(g_idx, p_idx)]))
    else:
        label = np.zeros((pred.num_people, NUM_JOINTS), dtype=bool)  # no GT: all false
        dummy = (np.zeros(1, np.int64), np.zeros(1, np.int64), np.full((1, 1), np.nan))
        mot = [dummy] * NUM_JOINTS
    for j in range(NUM_JOINTS):
        has = pred.present[:, j]
        scores.append(pred.scores[has, j])
        labels.append(label[has, j].astype(np.int8))
    return FrameMatch(scores, labels, num_gt, mot)


def _rpc_ap(scores: np.ndarray, labels: np.ndarray, total_pos: float,
            legacy_ties: bool = True):
    """poseval's ``computeRPC`` + ``VOCap``: (AP, last precision, last recall), x100 not applied.
    Detections are ranked by ``argsort()[::-1]``; equal scores keep numpy 1.x's order unless
    ``legacy_ties`` is False (then numpy's current order)."""
    if legacy_ties:
        order = legacy_argsort.argsort(scores)[::-1]
    else:
        order = np.array(scores).argsort()[::-1]
    npos = np.cumsum(labels[order] == 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = 1.0 * npos / total_pos
    precision = 1.0 * npos / (np.arange(len(order)) + 1)
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    idx = np.nonzero(~np.equal(mrec[1:], mrec[:-1]))[0] + 1
    with np.errstate(invalid="ignore"):
        ap = np.sum((mrec[idx] - mrec[idx - 1]) * mpre[idx])
    return ap, precision[-1], recall[-1]


def average_precision(matches: Sequence[FrameMatch], legacy_ties: bool = True) -> np.ndarray:
    """Per-joint AP (15) and Total, in percent."""
    ap = np.zeros(NUM_JOINTS + 1)
    for j in range(NUM_JOINTS):
        scores = np.concatenate([m.scores[j] for m in matches] or [np.zeros(0)])
        labels = np.concatenate([m.labels[j] for m in matches] or [np.zeros(0, np.int8)])
        total = sum(m.num_gt[j] for m in matches)
        if len(scores):
            ap[j] = _rpc_ap(scores, labels, np.float64(total), legacy_ties)[0] * 100
    ap[NUM_JOINTS] = np.nanmean(ap[:NUM_JOINTS]) if not np.isnan(ap[:NUM_JOINTS]).all() else np.nan
    return ap


def mot_counts(sequences: Sequence[Sequence[FrameMatch]]) -> List[MotCounts]:
    """Per joint CLEAR-MOT counts summed over sequences (last frame of each left out)."""
    totals = [MotCounts() for _ in range(NUM_JOINTS)]
    for frames in sequences:
        accumulators = [MotAccumulator() for _ in range(NUM_JOINTS)]
        for match in frames[:-1]:
            for j, (gt_ids, pred_ids, dist) in enumerate(match.mot):
                accumulators[j].update(gt_ids.tolist(), pred_ids.tolist(), dist)
        for total, acc in zip(totals, accumulators):
            total += acc.counts
    return totals


def _nanmean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else float("nan")


def tracking_metrics(counts: Sequence[MotCounts]) -> Dict[str, np.ndarray]:
    """MOTA, MOTP (matched pairs), Prec, Rec per joint (15) and Total, in percent."""
    out = {k: np.zeros(NUM_JOINTS + 1) for k in ("MOTA", "MOTP", "Prec", "Rec")}
    for j, c in enumerate(counts):
        objects = c.num_objects if c.num_objects > 0 else np.nan
        detections = c.num_detections
        out["MOTA"][j] = 100 * (1.0 - (c.misses + c.switches + c.false_positives) / objects)
        out["MOTP"][j] = 0.0 if detections == 0 else 100 * (1.0 - c.sum_distance / detections)
        total_det = c.false_positives + detections
        out["Prec"][j] = 100 * detections / total_det if total_det > 0 else np.nan
        out["Rec"][j] = 100 * detections / objects
    for values in out.values():
        values[NUM_JOINTS] = _nanmean(values[:NUM_JOINTS])
    return out


def table(per_joint: np.ndarray) -> "OrderedDict[str, float]":
    """poseval's printed columns from 15 per-joint values + Total."""
    row = OrderedDict((name, float(np.mean(per_joint[list(idx)])))
                      for name, idx in GROUPS.items())
    row["Total"] = float(per_joint[NUM_JOINTS])
    return row


@dataclass
class Evaluation:
    """Result of :func:`evaluate_folders`."""

    ap: np.ndarray  # [16] per joint + Total
    tracking: Dict[str, np.ndarray]  # MOTA/MOTP/Prec/Rec, each [16]
    counts: List[MotCounts]
    sequences: List[str]
    per_sequence: Optional[Dict[str, dict]] = None

    def tables(self) -> "OrderedDict[str, OrderedDict]":
        out = OrderedDict(AP=table(self.ap))
        for key in ("MOTA", "MOTP", "Prec", "Rec"):
            out[key] = table(self.tracking[key])
        return out


def prepare_sequence(gt: List[Frame], pred: List[Frame], offset: int) -> List[FrameMatch]:
    """Cleans one sequence as poseval does and matches each kept frame."""
    matches = []
    for g, p in zip(gt, pred):
        if g.num_people == 0:
            continue
        if g.ignore_regions:  # (degenerate polygons of < 3 points contain nothing)
            polygons = _polygons(g.ignore_regions)
            g, p = _remove_ignored(g, polygons), _remove_ignored(p, polygons)
        g = Frame(g.name, g.xy, g.present, g.scores, g.track_ids + offset, g.head_size)
        p = Frame(p.name, p.xy, p.present, p.scores, p.track_ids + offset, p.head_size)
        matches.append(match_frame(g, p))
    return matches


def evaluate_folders(gt_dir: Path, pred_dir: Path, per_sequence: bool = False,
                     progress: bool = False, legacy_ties: bool = True) -> Evaluation:
    """Evaluates every ``*.json`` of ``gt_dir`` against the same-named file in ``pred_dir``.
    ``legacy_ties``: rank equal scores as poseval under numpy 1.x (see :mod:`.legacy_argsort`)."""
    gt_dir, pred_dir = Path(gt_dir), Path(pred_dir)
    if not gt_dir.is_dir():
        raise PoseTrackAnnotationError(f"{gt_dir}: GT folder not found")
    if not pred_dir.is_dir():
        raise PoseTrackAnnotationError(f"{pred_dir}: prediction folder not found")
    gt_files = [Path(p) for p in glob.glob(os.path.join(str(gt_dir), "*.json"))]
    if not gt_files:
        raise PoseTrackAnnotationError(f"{gt_dir}: no *.json GT files")
    from tqdm import tqdm

    sequences, names = [], []
    for i, gt_path in enumerate(tqdm(gt_files, desc="sequences", disable=not progress)):
        gt, pred = load_sequence(gt_path, pred_dir / gt_path.name)
        for frame in gt + pred:
            if len(frame.track_ids) and frame.track_ids.max() >= MAX_TRACK_ID:
                raise PoseTrackAnnotationError(f"{gt_path.name}: track ids must be below "
                                           f"{MAX_TRACK_ID} (poseval's limit)")
        sequences.append(prepare_sequence(gt, pred, i * MAX_TRACK_ID))
        names.append(gt_path.stem)
    all_frames = [m for seq in sequences for m in seq]
    counts = mot_counts(sequences)
    result = Evaluation(average_precision(all_frames, legacy_ties), tracking_metrics(counts),
                        counts, names)
    if per_sequence:
        result.per_sequence = OrderedDict()
        for name, seq in sorted(zip(names, sequences)):
            seq_counts = mot_counts([seq])
            result.per_sequence[name] = {
                "AP": table(average_precision(seq, legacy_ties))["Total"],
                "MOTA": table(tracking_metrics(seq_counts)["MOTA"])["Total"],
                "frames": len(seq),
            }
    return result
