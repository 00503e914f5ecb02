"""COCO keypoint AP/AR with pycocotools."""
from __future__ import annotations

import contextlib
import io
from collections import OrderedDict
from typing import Optional, Sequence

import numpy as np

STAT_NAMES = ("AP", "AP .5", "AP .75", "AP (M)", "AP (L)",
              "AR", "AR .5", "AR .75", "AR (M)", "AR (L)")


def keypoint_stats(coco_gt, results: Sequence[dict],
                   sigmas: Optional[np.ndarray] = None) -> "OrderedDict[str, float]":
    """pycocotools' ten keypoint numbers for COCO-format results (``image_id``, ``category_id``,
    flat ``keypoints`` [x, y, score] * J, ``score``), with pycocotools' own printing silenced.
    Empty results score 0 everywhere (pycocotools cannot load an empty list)."""
    from pycocotools.cocoeval import COCOeval

    if not results:
        return OrderedDict((name, 0.0) for name in STAT_NAMES)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(list(results))
        evaluator = COCOeval(coco_gt, coco_dt, "keypoints")
        if sigmas is not None:
            evaluator.params.kpt_oks_sigmas = np.asarray(sigmas)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return OrderedDict((name, float(v)) for name, v in zip(STAT_NAMES, evaluator.stats))


def format_stats(stats: "OrderedDict[str, float]") -> str:
    """Two aligned lines: the stat names and their values."""
    header = " ".join(f"{n:>7s}" for n in stats)
    values = " ".join(f"{v:7.3f}" for v in stats.values())
    return f"{header}\n{values}"
