"""Training accuracy: the official HRNet ``core/evaluate.accuracy`` (PCK of heatmap maxima).

For every person and joint the maxima of the predicted and the target heatmap are taken
(:func:`pose.decode.argmax_keypoints`: integer heatmap pixels, ``(0, 0)`` for a heatmap without a
positive value). A joint counts when its target maximum lies at ``x > 1`` and ``y > 1`` (a joint
without a target - an all-zero heatmap - lies at ``(0, 0)`` and is left out); it is correct when
the distance between the two maxima, with x divided by ``h / 10`` and y by ``w / 10`` (``h, w``:
heatmap height and width, in this order as the official code has it), is below ``thr``.

The counts of correct and counted joints add up over batches and processes, so the accuracy of
a global batch split over several processes is that of the whole batch (see
:func:`accuracy_from_counts`), as the official single-process ``DataParallel`` training computes it.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from ..decode import argmax_keypoints


def joint_hits(output: np.ndarray, target: np.ndarray, thr: float = 0.5
               ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per joint, how many persons' maxima are within ``thr`` of the target's, and how many are
    counted at all.

    Args:
        output, target: ``[N, J, h, w]`` predicted and target heatmaps (numpy).
        thr: distance threshold in units of a tenth of the heatmap size.
    Returns:
        ``hits [J]`` int64, ``counted [J]`` int64 and the predictions ``[N, J, 2]`` float32
        (x, y heatmap pixels of the output's maxima).
    """
    output, target = np.asarray(output), np.asarray(target)
    if output.ndim != 4 or output.shape != target.shape:
        raise ValueError(f"output {output.shape} and target {target.shape} must be equal "
                         "[N, J, h, w] heatmap arrays")
    height, width = output.shape[2], output.shape[3]
    pred, _ = argmax_keypoints(output)
    true, _ = argmax_keypoints(target)
    counted = (true[..., 0] > 1) & (true[..., 1] > 1)  # [N, J]
    norm = np.array([height, width], dtype=np.float64) / 10  # x by h / 10, y by w / 10
    diff = pred.astype(np.float32) / norm - true.astype(np.float32) / norm
    dists = np.sqrt(np.sum(diff * diff, axis=-1))
    hits = (counted & (dists < thr)).sum(axis=0)
    return hits.astype(np.int64), counted.sum(axis=0).astype(np.int64), pred


def accuracy_from_counts(hits: np.ndarray, counted: np.ndarray
                         ) -> Tuple[np.ndarray, float, int]:
    """``(acc [J + 1], average, count)`` from per-joint ``hits`` and ``counted``
    (see :func:`accuracy`)."""
    hits, counted = np.asarray(hits), np.asarray(counted)
    acc = np.zeros(len(hits) + 1)
    for j, (h, c) in enumerate(zip(hits, counted)):
        acc[j + 1] = h * 1.0 / c if c > 0 else -1
    valid = [a for a in acc[1:] if a >= 0]
    average = sum(valid) / len(valid) if valid else 0.0  # summed in joint order, as official
    if valid:
        acc[0] = average
    return acc, float(average), len(valid)


def accuracy(output: np.ndarray, target: np.ndarray, thr: float = 0.5
             ) -> Tuple[np.ndarray, float, int, np.ndarray]:
    """The official ``accuracy(output, target)`` (``hm_type='gaussian'``).

    Args:
        output, target: ``[N, J, h, w]`` predicted and target heatmaps (numpy).
        thr: PCK threshold (official 0.5) in tenths of the heatmap size.
    Returns:
        ``acc`` ``[J + 1]`` float64: ``acc[0]`` the average, ``acc[1 + j]`` joint ``j``'s fraction
        of correct persons, -1 where no person has a target for it (``acc[0]`` stays 0 when no
        joint has one); ``average``: the mean of the joints that have targets (0 if none);
        ``count``: how many joints have targets; ``pred`` ``[N, J, 2]`` float32: the output's
        maxima (x, y heatmap pixels).
    """
    hits, counted, pred = joint_hits(output, target, thr)
    acc, average, count = accuracy_from_counts(hits, counted)
    return acc, average, count, pred
