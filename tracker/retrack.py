"""Re-assign ``track_id`` in PoseTrack18-format prediction files by tracking their poses.

    python -m tracker.retrack --input PRED_DIR --output OUT_DIR [--similarity oks|iou|both]
        [--matching greedy|hungarian] [--threshold 0.2] [--max-lost SECONDS] [--fps 30]

Each file's frames are processed in ``images`` order with the poses only (no video frames, so
motion is predicted by the tracker's motion model). Frames that carry no poses - as PoseTrack's
unlabelled frames in prediction files - are skipped and do not age tracks. Working offline, a
track's poses from before its confirmation get its identity too; poses of no confirmed track get
one-off ids. Files are written atomically; everything else in them is kept. An output folder
that would overwrite the input files is refused.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

import numpy as np
from tqdm import tqdm

from pose.datasets.posetrack18 import PoseTrackAnnotationError, read_annotation_file
from pose.errors import BadInputError, MissingFileError, report_errors
from pose.keypoints import get_keypoint_set
from pose.safe_output import check_outputs, write_json_atomic

from .matching import MATCHERS
from .similarity import SIMILARITIES
from .tracker import PoseTracker, TrackerConfig


def read_predictions(path: Path) -> dict:
    """A prediction file's content, checked to be a PoseTrack18 object
    (:func:`pose.datasets.posetrack18.read_annotation_file`) whose annotations have keypoints;
    :class:`PoseTrackAnnotationError` (a user error) names the file and what is wrong."""
    file = read_annotation_file(path, "PoseTrack18 prediction file")
    for people in file.by_image.values():
        for ann in people:
            if "keypoints" not in ann:
                raise PoseTrackAnnotationError(f"{path}: annotation {ann.get('id')} needs "
                                               "'image_id' and 'keypoints'")
    return file.data


def retrack_file(data: dict, config: TrackerConfig) -> dict:
    """A PoseTrack18 prediction dict with its ``track_id`` s re-assigned."""
    tracker = PoseTracker(config)
    by_image = {}
    for ann in data.get("annotations", []):
        by_image.setdefault(ann["image_id"], []).append(ann)
    pending: dict = {}  # tentative track key -> its poses so far (identity once confirmed)
    for image in data.get("images", []):
        people = by_image.get(image["id"], [])
        if not people:
            continue
        kp = np.asarray([p["keypoints"] for p in people], dtype=np.float64).reshape(
            len(people), -1, 3)
        poses = kp.copy()
        for i, p in enumerate(people):  # per-joint scores where given, else visibility
            absent = (kp[i, :, 0] == 0) & (kp[i, :, 1] == 0)
            if p.get("scores"):
                poses[i, :, 2] = p["scores"]
            poses[i, absent, 2] = 0.0
        ids = tracker.update(poses)
        for p, tid, key in zip(people, ids.tolist(), tracker.last_keys.tolist()):
            if tid >= 0:
                p["track_id"] = tid
            elif key >= 0:  # a tentative track: its identity comes once it is confirmed
                pending.setdefault(key, []).append(p)
            else:
                p["track_id"] = tracker.new_id()
        if pending:
            confirmed = tracker.identities(np.fromiter(pending, np.int64, len(pending)))
            for key, tid in zip(list(pending), confirmed.tolist()):
                if tid >= 0:
                    for p in pending.pop(key):
                        p["track_id"] = tid
    for people in pending.values():  # never confirmed: one-off identities
        for p in people:
            p["track_id"] = tracker.new_id()
    return data


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, required=True, help="folder of prediction files")
    parser.add_argument("--output", type=Path, required=True, help="folder to write")
    parser.add_argument("--similarity", choices=list(SIMILARITIES),
                        default=TrackerConfig.similarity)
    parser.add_argument("--matching", choices=list(MATCHERS), default=TrackerConfig.matching)
    parser.add_argument("--threshold", type=float, default=TrackerConfig.threshold,
                        help="minimum similarity of a match (default %(default)s)")
    parser.add_argument("--max-lost", type=float, default=TrackerConfig.max_lost,
                        metavar="SECONDS", help="how long a lost track is kept (default "
                                                "%(default)s s at --fps)")
    parser.add_argument("--fps", type=float, default=TrackerConfig.fps,
                        help="frame rate of the videos (default %(default)s)")
    parser.add_argument("--keypoints", default="posetrack18", help="joint layout (OKS sigmas)")
    args = parser.parse_args(argv)
    return report_errors(lambda: _retrack(args))


def _retrack(args: argparse.Namespace) -> int:
    """Re-tracks every file of ``--input`` into ``--output``; returns the exit code."""
    files = sorted(args.input.glob("*.json")) if args.input.is_dir() else []
    if not files:
        raise MissingFileError(f"no *.json prediction files in {args.input}")
    config = TrackerConfig(similarity=args.similarity, matching=args.matching,
                           threshold=args.threshold, max_lost=args.max_lost, fps=args.fps,
                           flow=None, keypoints=args.keypoints)
    config.check()
    get_keypoint_set(config.keypoints)
    check_outputs([("--output", args.output / path.name) for path in files],
                  [("--input", path) for path in files], create_folders=True)
    for path in tqdm(files, desc="files", disable=not sys.stderr.isatty()):
        data = read_predictions(path)
        try:
            data = retrack_file(data, config)
        except (KeyError, ValueError, TypeError) as exc:  # the file's poses, not the options
            raise BadInputError(f"{path}: cannot re-track ({exc})") from None
        write_json_atomic(data, args.output / path.name)
    print(f"{len(files)} files re-tracked into {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
