"""Box propagation of the pose pipeline, measured on a MOTChallenge sequence with and without it.

    python -m benchmarks.mot.propagation SEQ_DIR [--detector yolox] [--detector-weights W]
        [--device cpu] [--synthetic-seeds 2] [--json OUT]

The pipeline of the apps (:class:`apps.pipeline.PoseTrackingPipeline`) runs on the sequence's
frames with the detector, once with ``propagation`` at its default and once off (0). No
published pose weights can be assumed here, so the pose network is a stand-in that decides,
from the ground truth, whether a box holds a person:

- ``pose network finds people`` - confident joints where a box overlaps a ground-truth person
  (IoU >= 0.5), weak ones (score 0.05) elsewhere: an accurate network's confirmation;
- ``pose network finds everyone`` - confident joints in every box, person or not: what
  propagation without confirmation would do (the ghost risk).

The joints of a confirmed person are spread over the box; the tracker uses IoU and OKS
(``similarity="both"``). Reported boxes (tracked people) are scored with motmetrics (IoU 0.5).
The same is measured on :mod:`benchmarks.mot.synthetic`'s sequences (blank frames, its simulated
detector), where the detector also misses people nobody hides.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace
from typing import List, Optional

import numpy as np

from apps.pipeline import PoseTrackingPipeline
from pose.safe_output import write_json_atomic
from tracker import PoseTracker, TrackerConfig
from tracker.similarity import box_iou

from .files import read_ground_truth, read_sequence
from .metrics import accumulate, format_table, summarize
from .run import read_rgb


class StandInPoses:
    """A pose network stand-in (the estimator API the pipeline calls): 17 joints spread over
    each box, confident where ``person(boxes)`` says so."""

    input_size = (256, 192)

    def __init__(self) -> None:
        self.people = np.zeros((0, 4))  # the current frame's ground-truth boxes
        self.everyone = False

    def prepare(self, frame, boxes):
        return SimpleNamespace(inputs=np.asarray(boxes, np.float64).reshape(-1, 5))

    def heatmaps(self, boxes):
        return boxes

    def decode_heatmaps(self, boxes, prepared):
        t = np.linspace(0.1, 0.9, 17)
        poses = np.zeros((len(boxes), 17, 3))
        poses[..., 0] = boxes[:, None, 0] + t * (boxes[:, None, 2] - boxes[:, None, 0])
        poses[..., 1] = boxes[:, None, 1] + t * (boxes[:, None, 3] - boxes[:, None, 1])
        person = np.ones(len(boxes), bool)
        if not self.everyone:
            person = (box_iou(boxes[:, :4], self.people).max(1) >= 0.5
                      if len(self.people) and len(boxes) else np.zeros(len(boxes), bool))
        poses[..., 2] = np.where(person, 0.9, 0.05)[:, None]
        return poses


def track(frames, detections: List[np.ndarray], gt, fps: float, everyone: bool,
          propagation: Optional[float]):
    """Hypotheses of the pipeline over ``frames`` (callable: frame number -> RGB)."""
    standin = StandInPoses()
    standin.everyone = everyone
    settings = {} if propagation is None else {"propagation": propagation}
    tracker = PoseTracker(TrackerConfig(fps=fps, **settings))
    boxes = iter(detections)
    pipeline = PoseTrackingPipeline(standin, tracker, lambda frame: next(boxes),
                                    propagate_boxes=tracker.config.propagation > 0)
    hyp = {}
    for f in range(1, len(detections) + 1):
        standin.people = gt.boxes.get(f, np.zeros((0, 4)))
        result = pipeline.process(frames(f))
        keep = result.track_ids >= 0
        hyp[f] = (result.track_ids[keep] + 1, result.boxes[keep, :4])
    return accumulate(gt, hyp, range(1, len(detections) + 1))


def synthetic_accumulators(seeds: int, everyone: bool, propagation: Optional[float]) -> list:
    from . import synthetic

    blank = np.zeros((synthetic.SIZE[1], synthetic.SIZE[0], 3), np.uint8)
    out = []
    for seed in range(seeds):
        for scene in synthetic.scenes(seed):
            found = synthetic.detect(scene, np.random.default_rng(1000 + seed))
            out.append(track(lambda f: blank, [found[f] for f in range(1, scene.frames + 1)],
                             scene.ground_truth(), scene.fps, everyone, propagation))
    return out


def main(argv: Optional[List[str]] = None) -> int:
    from apps.models import load_detector, pick_device

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sequence", type=Path, metavar="SEQ_DIR")
    parser.add_argument("--detector", default=None)
    parser.add_argument("--detector-weights", default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--synthetic-seeds", type=int, default=2,
                        help="also on the synthetic sequences (blank frames); 0: skip")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    sequence = read_sequence(args.sequence)
    gt = read_ground_truth(sequence.gt_path)
    detector = load_detector(args.detector, args.detector_weights, pick_device(args.device),
                             TrackerConfig.low_box_threshold)
    detections = [detector(read_rgb(p)) for p in sequence.images]
    tables = {sequence.name: {}, f"synthetic ({args.synthetic_seeds} seeds)": {}}
    for everyone, network in ((False, "pose network finds people"),
                              (True, "pose network finds everyone")):
        for propagation, label in ((None, f"propagation {TrackerConfig.propagation} s "
                                          "(default)"), (0.0, "no propagation")):
            name = f"{network}, {label}"
            acc = track(lambda f: read_rgb(sequence.images[f - 1]), detections, gt,
                        sequence.fps, everyone, propagation)
            tables[sequence.name][name] = summarize([acc], ["x"])["x"]
            if args.synthetic_seeds:
                accs = synthetic_accumulators(args.synthetic_seeds, everyone, propagation)
                tables[f"synthetic ({args.synthetic_seeds} seeds)"][name] = summarize(
                    accs, [str(k) for k in range(len(accs))])["OVERALL"]
    for title, table in tables.items():
        if table:
            print(f"{title}: the pose pipeline with stand-in pose networks")
            print(format_table(table, ("MOTA", "IDF1", "IDs", "FP", "FN", "GT")))
    if args.json:
        write_json_atomic(tables, args.json, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
