"""Conversion of pose results into PoseTrack18 prediction files the evaluator (and poseval) read.

    python -m benchmarks.posetrack18.convert coco --results RESULTS.json --gt GT_DIR --output PRED_DIR
    python -m benchmarks.posetrack18.convert hrtrack --tracks TRACKS.json --gt GT_FILE --output PRED_FILE

``coco``: COCO-style keypoint results (``[{"image_id", "keypoints": 51 values, "score",
optional "track_id"}]``, e.g. mmpose's outputs on PoseTrack18) whose image ids are those of the
GT files; one prediction file per GT video, every GT image present, per-joint ``scores`` from the
keypoints' third values. Results without ``track_id`` get per-frame ids (no tracking: AP is
meaningful, MOTA is not).

``hrtrack``: hrtrack's own tracking output for a video (PoseTrack18-style JSON with one image per
video frame, as ``apps/track_video.py`` writes) aligned to a GT video: frame ``k`` of the output
is the GT image whose file name is frame ``k`` (``.../000012.jpg`` is frame 12).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional

import numpy as np

from apps.posetrack_json import category
from pose.datasets.posetrack18 import PoseTrackAnnotationError
from pose.errors import report_errors
from pose.keypoints import POSETRACK18
from pose.safe_output import check_outputs, write_json_atomic


def prediction_file(gt: dict, poses: Dict[int, List[dict]]) -> dict:
    """A prediction file for the GT video ``gt`` with ``poses[image_id]`` = list of
    ``{"track_id": int, "keypoints": [17, 3] array-like (x, y, score)}``."""
    categories = gt.get("categories") or [category(POSETRACK18)]
    annotations = []
    for image in gt["images"]:
        for pose in poses.get(image["id"], []):
            kp = np.asarray(pose["keypoints"], dtype=np.float64).reshape(-1, 3)
            scores = kp[:, 2].tolist()
            flat = kp.copy()
            flat[:, 2] = np.where((kp[:, 0] == 0) & (kp[:, 1] == 0), 0, 1)
            annotations.append({"image_id": image["id"], "track_id": int(pose["track_id"]),
                                "category_id": 1,
                                "keypoints": [round(float(v), 3) for v in flat.ravel()],
                                "scores": [round(float(s), 5) for s in scores]})
    return {"images": gt["images"], "annotations": annotations, "categories": categories}


def _load_json(path: Path, what: str, kind: type = dict):
    """The JSON content of ``path``, checked to be a ``kind`` (a PoseTrack18 object: a dict)."""
    if not path.is_file():
        raise PoseTrackAnnotationError(f"{path}: {what} not found")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PoseTrackAnnotationError(f"{path}: malformed JSON ({exc})") from None
    if not isinstance(data, kind):
        raise PoseTrackAnnotationError(
            f"{path}: expected a JSON {'object' if kind is dict else 'list'} as the {what}, "
            f"found {type(data).__name__}")
    return data


def from_coco_results(results: Iterable[dict], gt_dir: Path, out_dir: Path) -> int:
    """Writes one prediction file per GT video of ``gt_dir``; returns the number of poses used."""
    by_image: Dict[int, List[dict]] = {}
    for r in results:
        by_image.setdefault(r["image_id"], []).append(r)
    used = 0
    gt_files = sorted(Path(gt_dir).glob("*.json"))
    if not gt_files:
        raise PoseTrackAnnotationError(f"{gt_dir}: no *.json GT files")
    for gt_path in gt_files:
        gt = _load_json(gt_path, "GT file")
        poses = {}
        for image in gt["images"]:
            found = sorted(by_image.get(image["id"], []), key=lambda r: -r.get("score", 0))
            poses[image["id"]] = [{"track_id": r.get("track_id", k), "keypoints": r["keypoints"]}
                                  for k, r in enumerate(found)]
            used += len(found)
        write_json_atomic(prediction_file(gt, poses), Path(out_dir) / gt_path.name)
    return used


def _frame_index(file_name: str) -> Optional[int]:
    stem = Path(file_name).stem
    return int(stem) if stem.isdigit() else None


def from_hrtrack(tracks: dict, gt: dict) -> dict:
    """Aligns hrtrack's tracking output for a video to the GT video ``gt``."""
    frames: Dict[int, List[dict]] = {}
    for k, image in enumerate(tracks.get("images", [])):
        index = image.get("frame_index", k)
        frames[index] = [a for a in tracks.get("annotations", []) if a["image_id"] == image["id"]]
    poses = {}
    for position, image in enumerate(gt["images"]):
        index = _frame_index(image.get("file_name", ""))
        people = frames.get(position if index is None else index, [])
        poses[image["id"]] = [{"track_id": a["track_id"],
                               "keypoints": np.column_stack([
                                   np.asarray(a["keypoints"], float).reshape(-1, 3)[:, :2],
                                   a.get("scores") or np.asarray(a["keypoints"],
                                                                 float).reshape(-1, 3)[:, 2]])}
                              for a in people]
    return prediction_file(gt, poses)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="source", required=True)
    coco = sub.add_parser("coco", help="COCO-style keypoint results with PoseTrack18 image ids")
    coco.add_argument("--results", type=Path, required=True)
    coco.add_argument("--gt", type=Path, required=True, help="folder of GT video files")
    coco.add_argument("--output", type=Path, required=True, help="folder to write")
    own = sub.add_parser("hrtrack", help="hrtrack tracking output of one video")
    own.add_argument("--tracks", type=Path, required=True)
    own.add_argument("--gt", type=Path, required=True, help="the GT file of that video")
    own.add_argument("--output", type=Path, required=True, help="prediction file to write")
    args = parser.parse_args(argv)
    return report_errors(lambda: _convert(args))


def _convert(args: argparse.Namespace) -> int:
    """The conversion ``main`` asked for; a record without a needed field is a
    :class:`PoseTrackAnnotationError` naming the inputs."""
    if args.source == "coco":
        gt_files = sorted(Path(args.gt).glob("*.json"))
        check_outputs([("--output", args.output / p.name) for p in gt_files],
                      [("--results", args.results)] + [("--gt", p) for p in gt_files],
                      create_folders=True)
        results = _load_json(args.results, "results file", list)
        with _fields_of(args.results, args.gt):
            used = from_coco_results(results, args.gt, args.output)
        print(f"{used} poses of {len(results)} written to {args.output}")
        return 0
    check_outputs([("--output", args.output)], [("--tracks", args.tracks), ("--gt", args.gt)],
                  create_folders=True)
    with _fields_of(args.tracks, args.gt):
        converted = from_hrtrack(_load_json(args.tracks, "tracking output"),
                                 _load_json(args.gt, "GT file"))
    write_json_atomic(converted, args.output)
    print(f"{len(converted['annotations'])} poses written to {args.output}")
    return 0


@contextlib.contextmanager
def _fields_of(*paths: Path) -> Iterator[None]:
    """A missing field (KeyError) while reading ``paths`` becomes a PoseTrackAnnotationError."""
    try:
        yield
    except KeyError as exc:
        raise PoseTrackAnnotationError(f"{' or '.join(map(str, paths))}: a record lacks the "
                                       f"field {exc}") from None


if __name__ == "__main__":
    sys.exit(main())
