"""Track the people of MOTChallenge sequences and score the tracks.

    python -m benchmarks.mot SEQ_DIR [SEQ_DIR ...] --output-dir DIR
        [--detector NAME [--detector-weights W] | --detections [det/det.txt]]
        [--box-threshold 0.5] [tracker options] [--device cpu|cuda] [--json METRICS.json]

Each ``SEQ_DIR`` is a MOTChallenge folder: ``img1/000001.jpg, ...`` (or ``seqinfo.ini``'s
``imDir``), ``seqinfo.ini`` (its ``frameRate`` sets the tracker's frame rate; 30 without one),
``gt/gt.txt`` optional. Boxes come from a person detector run on every frame (default: the
apps' default detector) or, with ``--detections``, from each sequence's detection file (a path
relative to the folder, ``det/det.txt`` if none is given; public detections have their own
score scales: set ``--box-threshold`` for them). The boxes alone are tracked (no pose network),
with the tracker's defaults unless tracker options say otherwise.

Writes ``DIR/<SEQ>.txt`` in the MOTChallenge result format (``frame, id, x, y, w, h, score, -1,
-1, -1``, frames and ids from 1), each atomically; where ``gt/gt.txt`` exists, prints MOTA, IDF1,
identity switches, false positives and misses (motmetrics, IoU 0.5) per sequence and overall,
and writes them to ``DIR/metrics.json`` (or ``--json``). People the detector misses are reported
at their predicted boxes for ``--propagation`` seconds (see :class:`tracker.TrackerConfig`).
Every input is checked before the first frame: a folder without frames, a malformed detection or
ground-truth file, or an output that would overwrite an input gives one ``error:`` line and exit
code 2.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
from tqdm import tqdm

from apps.models import DEFAULT_DETECTOR, load_detector, pick_device
from apps.options import add_tracker_arguments, tracker_config
from pose.errors import BadInputError, UnreadableFileError, report_errors
from pose.safe_output import check_outputs, write_json_atomic
from tracker import PoseTracker, TrackerConfig

from .files import (GroundTruth, Sequence, read_detections, read_ground_truth,
                    read_sequence, write_results)


@dataclass
class SequenceRun:
    """A sequence's inputs, checked, and (after :func:`track_sequence`) its results."""

    sequence: Sequence
    output: Path
    detections: Optional[Dict[int, np.ndarray]] = None
    gt: Optional[GroundTruth] = None
    rows: List[tuple] = field(default_factory=list)
    tracker_seconds: float = 0.0
    detector_seconds: float = 0.0


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Track the people of MOTChallenge sequences (boxes only) and score them.")
    parser.add_argument("sequences", nargs="+", type=Path, metavar="SEQ_DIR",
                        help="MOTChallenge sequence folders (img1/, seqinfo.ini, gt/gt.txt)")
    parser.add_argument("--output-dir", type=Path, required=True,
                        help="where <SEQ>.txt result files (and metrics.json) are written")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--detector", default=None,
                        help="person detector run on every frame (default: yolox on CPU, "
                             "fasterrcnn_resnet50_fpn_v2 on CUDA)")
    source.add_argument("--detections", nargs="?", const="det/det.txt", default=None,
                        metavar="FILE", help="use each sequence's detection file instead (path "
                                             "inside the sequence folder; default det/det.txt)")
    parser.add_argument("--detector-weights", default=None,
                        help="detector file (ONNX file, state dict or mmdet checkpoint)")
    parser.add_argument("--box-threshold", type=float, default=TrackerConfig.box_threshold,
                        help="score of a confident box (default %(default)s); weaker boxes "
                             f"down to {TrackerConfig.low_box_threshold} only continue tracks")
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if "
                                                       "available)")
    parser.add_argument("--json", type=Path, default=None,
                        help="metrics file (default OUTPUT_DIR/metrics.json)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_tracker_arguments(parser, poses=False)
    args = parser.parse_args(argv)
    if args.detections is not None and args.detector_weights is not None:
        parser.error("--detector-weights is for --detector, not --detections")
    return args


def check_inputs(args: argparse.Namespace) -> List[SequenceRun]:
    """Every sequence, detection and ground-truth file read and checked, and the outputs
    checked (:func:`pose.safe_output.check_outputs`: never over an input or each other);
    raises a :class:`pose.errors.HrtrackError` with one line."""
    runs, names, inputs = [], {}, []
    for root in args.sequences:
        sequence = read_sequence(root)
        run = SequenceRun(sequence, args.output_dir / f"{sequence.name}.txt")
        if args.detections is not None:
            run.detections = read_detections(sequence.root / args.detections)
        if sequence.gt_path.is_file():
            run.gt = read_ground_truth(sequence.gt_path)
        if sequence.name in names:
            raise BadInputError(f"two sequences are named {sequence.name} ({names[sequence.name]} "
                                f"and {root}): their results would overwrite each other")
        names[sequence.name] = root
        for path in (sequence.gt_path, sequence.det_path, sequence.root / "seqinfo.ini",
                     *sequence.images):
            if path.exists():
                inputs.append((f"{sequence.name}'s", path))
        if args.detections is not None:
            inputs.append((f"{sequence.name}'s", sequence.root / args.detections))
        runs.append(run)
    check_outputs([("--output-dir", run.output) for run in runs]
                  + [("--json", metrics_path(args))], inputs, create_folders=True)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    return runs


def metrics_path(args: argparse.Namespace) -> Path:
    return args.json or args.output_dir / "metrics.json"


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise UnreadableFileError(f"{path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def track_sequence(run: SequenceRun, config: TrackerConfig, detector=None,
                   progress: Optional[tqdm] = None) -> None:
    """Tracks one sequence's boxes (detector on each frame, or its detection file) and keeps
    the result rows ``(frame, id from 1, x1, y1, x2, y2, score)`` in ``run.rows``."""
    tracker = PoseTracker(config)
    run.rows, run.tracker_seconds, run.detector_seconds = [], 0.0, 0.0
    frame_shape = None
    if run.sequence.width and run.sequence.height:
        frame_shape = (run.sequence.height, run.sequence.width)
    for frame_number, path in enumerate(run.sequence.images, 1):
        image = None
        if run.detections is not None:
            boxes = run.detections.get(frame_number, np.zeros((0, 5), np.float32))
        else:
            image = read_rgb(path)
            start = time.perf_counter()
            boxes = detector(image)
            run.detector_seconds += time.perf_counter() - start
        if image is None and (config.flow is not None or frame_shape is None):
            image = read_rgb(path)
        if image is not None:
            frame_shape = image.shape[:2]
        start = time.perf_counter()
        ids = tracker.update(boxes=boxes, frame=image, frame_shape=frame_shape)
        bridged, bridged_ids = tracker.bridged_boxes(frame_shape)
        run.tracker_seconds += time.perf_counter() - start
        boxes = np.concatenate([np.asarray(boxes, np.float32).reshape(-1, 5), bridged])
        ids = np.concatenate([ids, bridged_ids])
        for box, tid in zip(boxes, ids.tolist()):
            if tid >= 0:
                run.rows.append((frame_number, tid + 1, *(float(v) for v in box[:4]),
                                 float(box[4])))
        if progress is not None:
            progress.update(1)


def hypotheses(rows: List[tuple]) -> Dict[int, Tuple[np.ndarray, np.ndarray]]:
    """Result rows -> per frame ``(ids [N], boxes [N, 4])``."""
    out: Dict[int, tuple] = {}
    for frame, tid, x1, y1, x2, y2, _ in rows:
        out.setdefault(frame, ([], []))
        out[frame][0].append(tid)
        out[frame][1].append((x1, y1, x2, y2))
    return {f: (np.asarray(i, np.int64), np.asarray(b, np.float64).reshape(-1, 4))
            for f, (i, b) in out.items()}


def score(runs: List[SequenceRun]) -> Optional[Dict[str, Dict[str, float]]]:
    """Metrics of the sequences that have ground truth (None if none has)."""
    from .metrics import accumulate, summarize

    scored = [run for run in runs if run.gt is not None]
    if not scored:
        return None
    accumulators = [accumulate(run.gt, hypotheses(run.rows),
                               range(1, len(run.sequence.images) + 1)) for run in scored]
    return summarize(accumulators, [run.sequence.name for run in scored])


def run(args: argparse.Namespace) -> int:
    runs = check_inputs(args)
    config = tracker_config(args)  # checked before any model loads
    detector, source = None, f"detections {args.detections}"
    if args.detections is None:
        device = pick_device(args.device)
        detector = load_detector(args.detector, args.detector_weights, device,
                                 config.low_box_threshold)
        source = f"detector {args.detector or DEFAULT_DETECTOR[device.type]}"
    total = sum(len(r.sequence.images) for r in runs)
    print(f"hrtrack MOT: {len(runs)} sequences, {total} frames, {source}, boxes only",
          file=sys.stderr)
    progress = tqdm(total=total, unit="frame", disable=args.quiet, dynamic_ncols=True)
    try:
        for r in runs:
            progress.set_description(r.sequence.name)
            track_sequence(r, TrackerConfig(**dict(vars(config), fps=r.sequence.fps)), detector,
                           progress)
            write_results(r.output, r.rows)
    finally:
        progress.close()
    frames = max(total, 1)
    tracker_ms = 1000 * sum(r.tracker_seconds for r in runs) / frames
    detector_ms = 1000 * sum(r.detector_seconds for r in runs) / frames
    print(f"wrote {len(runs)} result files to {args.output_dir}; tracker {tracker_ms:.2f} "
          f"ms/frame" + (f", detector {detector_ms:.1f} ms/frame" if detector else ""),
          file=sys.stderr)
    metrics = score(runs)
    if metrics is None:
        print("no gt/gt.txt: nothing to score", file=sys.stderr)
        return 0
    from .metrics import format_table

    print(format_table(metrics))
    write_json_atomic({"metrics": metrics, "source": source,
                       "tracker": {k: v for k, v in vars(config).items() if k != "fps"},
                       "tracker_ms_per_frame": round(tracker_ms, 3)},
                      metrics_path(args), indent=2)
    print(f"metrics written to {metrics_path(args)}", file=sys.stderr)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    return report_errors(lambda: run(args), stop_on_sigterm=True)


if __name__ == "__main__":
    sys.exit(main())
