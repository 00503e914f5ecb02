"""hrtrack next to published box trackers on the same boxes: a MOTChallenge sequence with a
detector, and the synthetic sequences of :mod:`benchmarks.mot.synthetic`.

    python -m benchmarks.mot.peers SEQ_DIR [SEQ_DIR ...] [--detector yolox]
        [--detector-weights W] [--device cpu] [--synthetic-seeds 4] [--json OUT]

The peers are not hrtrack dependencies: install them into a separate environment that also sees
hrtrack's packages, and run this module from there, e.g.

    python3 -m venv /tmp/peers-venv
    echo "$(python -c 'import site; print(site.getsitepackages()[0])')" \\
        > /tmp/peers-venv/lib/python3.11/site-packages/hrtrack-env.pth
    /tmp/peers-venv/bin/pip install --no-deps boxmot==25.0.0 trackers==2.6.1 supervision
    /tmp/peers-venv/bin/pip install rich loguru lapx scikit-learn requests pyyaml defusedxml \\
        pydeprecate
    PYTHONPATH=. /tmp/peers-venv/bin/python -m benchmarks.mot.peers SEQ_DIR ...

Rows: hrtrack with its defaults and with things changed (no optical flow, no propagation,
Hungarian matching); boxmot's ByteTrack and OC-SORT and roboflow trackers' SORT with their
defaults, each fed the boxes scoring at least 0.5 and at least 0.1 (ByteTrack's low threshold).
A peer that is not installed is left out with a note. The detector runs once per sequence; every
row tracks the same boxes and is scored by the same code (motmetrics, IoU 0.5). Times are the
trackers' own, per frame.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

from pose.safe_output import write_json_atomic
from tracker import PoseTracker, TrackerConfig

from . import synthetic
from .files import read_ground_truth, read_sequence
from .metrics import accumulate, summarize
from .run import read_rgb

HRTRACK_VARIANTS = {"hrtrack": {}, "hrtrack, no flow": {"flow": None},
                    "hrtrack, no propagation": {"propagation": 0.0},
                    "hrtrack, no flow, no propagation": {"flow": None, "propagation": 0.0},
                    "hrtrack, Hungarian": {"matching": "hungarian"}}
FEEDS = (0.5, 0.1)


def hrtrack_runner(settings: dict) -> Callable:
    """``(frames, fps, size) -> per-frame (ids, boxes)`` for hrtrack with ``settings``."""
    def run(frames, fps, size, images=None):
        config = TrackerConfig(**dict(settings, fps=fps))
        tracker = PoseTracker(config)
        out, seconds = {}, 0.0
        for f, boxes in enumerate(frames, 1):
            image = images(f) if images is not None and config.flow else None
            start = time.perf_counter()
            ids = tracker.update(boxes=boxes, frame=image, frame_shape=size)
            bridged, bridged_ids = tracker.bridged_boxes(size)
            seconds += time.perf_counter() - start
            keep = ids >= 0
            out[f] = (np.r_[ids[keep], bridged_ids] + 1,
                      np.concatenate([boxes[keep, :4], bridged[:, :4]]))
        return out, seconds
    return run


def peer_runner(name: str, floor: float) -> Optional[Callable]:
    """The peer ``name`` (``bytetrack``, ``ocsort``, ``sort``) fed boxes >= ``floor``; None
    when it is not installed."""
    try:
        if name == "sort":
            import supervision
            from trackers import SORTTracker
        else:
            import boxmot
    except ImportError:
        return None

    def run(frames, fps, size, images=None):
        if name == "bytetrack":
            tracker = boxmot.ByteTrack(frame_rate=int(round(fps)))
        elif name == "ocsort":
            tracker = boxmot.OcSort()
        else:
            tracker = SORTTracker(frame_rate=fps)
        blank = np.zeros((size[0], size[1], 3), np.uint8)
        out, seconds = {}, 0.0
        for f, boxes in enumerate(frames, 1):
            boxes = np.asarray(boxes, np.float32).reshape(-1, 5)
            boxes = boxes[boxes[:, 4] >= floor]
            start = time.perf_counter()
            if name == "sort":
                found = tracker.update(supervision.Detections(xyxy=boxes[:, :4].reshape(-1, 4),
                                                              confidence=boxes[:, 4]))
                keep = found.tracker_id >= 0
                result = (found.tracker_id[keep], found.xyxy[keep])
            else:
                dets = np.concatenate([boxes, np.zeros((len(boxes), 1), np.float32)], axis=1)
                tracks = tracker.update(dets, blank)
                result = (tracks[:, 4].astype(np.int64), tracks[:, :4]) if len(tracks) else \
                    (np.zeros(0, np.int64), np.zeros((0, 4)))
            seconds += time.perf_counter() - start
            out[f] = result
        return out, seconds
    return run


def runners() -> Dict[str, Callable]:
    out = {name: hrtrack_runner(settings) for name, settings in HRTRACK_VARIANTS.items()}
    for peer, label in (("bytetrack", "ByteTrack (boxmot 25.0.0)"),
                        ("ocsort", "OC-SORT (boxmot 25.0.0)"),
                        ("sort", "SORT (trackers 2.6.1)")):
        for floor in FEEDS:
            run = peer_runner(peer, floor)
            if run is None:
                print(f"note: {label} is not installed here: left out", file=sys.stderr)
                break
            out[f"{label}, boxes >= {floor}"] = run
    return out


def sequence_table(paths: List[Path], detector) -> Dict[str, dict]:
    """Metrics (and tracker ms/frame) of every row over the sequences, detected once."""
    data = []
    for path in paths:
        sequence = read_sequence(path)
        frames = [detector(read_rgb(p)) for p in sequence.images]
        size = read_rgb(sequence.images[0]).shape[:2]
        data.append((sequence, frames, size, read_ground_truth(sequence.gt_path)))
    table = {}
    for name, run in runners().items():
        accumulators, seconds, count = [], 0.0, 0
        for sequence, frames, size, gt in data:
            hyp, spent = run(frames, sequence.fps, size,
                             lambda f, s=sequence: read_rgb(s.images[f - 1]))
            accumulators.append(accumulate(gt, hyp, range(1, len(frames) + 1)))
            seconds, count = seconds + spent, count + len(frames)
        metrics = summarize(accumulators, [d[0].name for d in data])["OVERALL"]
        table[name] = dict(metrics, ms_per_frame=round(1000 * seconds / count, 2))
    return table


def synthetic_table(seeds: int) -> Dict[str, dict]:
    """Metrics of every row over the synthetic sequences (no frames: no optical flow, so the
    rows that differ only by it are left out)."""
    table = {}
    for name, run in runners().items():
        if "no flow" in name:
            continue
        accumulators = []
        for seed in range(seeds):
            for scene in synthetic.scenes(seed):
                detections = synthetic.detect(scene, np.random.default_rng(1000 + seed))
                frames = [detections[f] for f in range(1, scene.frames + 1)]
                hyp, _ = run(frames, scene.fps, synthetic.SIZE[::-1])
                accumulators.append(accumulate(scene.ground_truth(), hyp,
                                               range(1, scene.frames + 1)))
        names = [f"s{k}" for k in range(len(accumulators))]
        table[name] = summarize(accumulators, names)["OVERALL"]
    return table


def markdown(table: Dict[str, dict], timed: bool) -> str:
    head = "| tracker | MOTA | IDF1 | IDs | FP | FN |" + (" ms/frame |" if timed else "")
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for name, m in table.items():
        lines.append(f"| {name} | {m['MOTA']:.1f} | {m['IDF1']:.1f} | {m['IDs']} | {m['FP']} | "
                     f"{m['FN']} |" + (f" {m['ms_per_frame']:.2f} |" if timed else ""))
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    from apps.models import load_detector, pick_device

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sequences", nargs="*", type=Path, metavar="SEQ_DIR")
    parser.add_argument("--detector", default=None)
    parser.add_argument("--detector-weights", default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--synthetic-seeds", type=int, default=4, help="0: skip the synthetic "
                                                                       "sequences")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    out = {}
    if args.sequences:
        detector = load_detector(args.detector, args.detector_weights,
                                 pick_device(args.device), TrackerConfig.low_box_threshold)
        out["sequences"] = sequence_table(args.sequences, detector)
        print(f"{', '.join(p.name for p in args.sequences)}, detector "
              f"{args.detector or 'default'}:")
        print(markdown(out["sequences"], timed=True))
    if args.synthetic_seeds:
        out["synthetic"] = synthetic_table(args.synthetic_seeds)
        print(f"\nsynthetic sequences ({args.synthetic_seeds} seeds):")
        print(markdown(out["synthetic"], timed=False))
    if args.json:
        write_json_atomic(out, args.json, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
