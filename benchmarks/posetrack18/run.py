"""The whole system over a PoseTrack18 split: boxes, poses and tracks for every sequence, written
as official prediction files and scored by the built-in evaluator.

    python -m benchmarks.posetrack18.run --data-root DIR [--split val]
        --boxes gt|detections|DETECTOR [--detections FILE] [--pose-model NAME]
        [--pose-weights PATH_OR_URL] [tracker options] --output PRED_DIR [--evaluate]

Sequences are read from ``DIR/annotations/<split>/*.json`` (official layout; ``--annotations``
takes another folder or mmpose's single-file form) and processed in frame order through the
same pipeline as ``apps/track_video.py`` (:class:`apps.pipeline.PoseTrackingPipeline`), with a
fresh tracker per sequence (working offline, a track's poses from before its confirmation get its
identity too). Each sequence's prediction file (same name as its annotation file;
every image of the sequence, ``track_id``, per-joint ``scores``) is written atomically, so a rerun
skips finished sequences unless ``--overwrite``. Under ``torchrun`` every rank takes every
``WORLD_SIZE``-th sequence and rank 0 evaluates once all are written.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
from tqdm import tqdm

from apps.components import build_components
from apps.models import fetch_model_files
from apps.options import (add_model_arguments, add_tracker_arguments, check_model_options,
                          model_files)
from apps.posetrack_json import category, person_annotation
from pose.distributed import rank_device, rank_info, shard
from pose.errors import BadInputError, MissingFileError, UnknownNameError, report_errors
from pose.safe_output import check_outputs, write_json_atomic
from pose.datasets.coco import read_rgb
from pose.datasets.posetrack18 import PoseTrackSequence, gt_box, read_sequences
from pose.keypoints import POSETRACK18, convert_poses

DETECTION_SCORE = 0.4  # the published recipe's person-score threshold for detections
POSE_NMS = 0.9  # the published recipe's OKS-NMS threshold (mmpose ``oks_thr``, all box sources)
BARRIER_TIMEOUT = timedelta(days=7)  # ranks may finish hours apart on big splits


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True,
                        help="PoseTrack18 root (holds images/<split>/ and annotations/<split>/)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--annotations", type=Path, default=None,
                        help="annotation folder or mmpose single file (default: "
                             "DATA_ROOT/annotations/SPLIT)")
    parser.add_argument("--boxes", required=True,
                        help="gt (annotated boxes), detections (a detection file) or a detector "
                             "name (yolox, cascade_rcnn, fasterrcnn_resnet50_fpn_v2...)")
    parser.add_argument("--detections", type=Path, default=None,
                        help="with --boxes detections: mmpose's PoseTrack18 human-detection JSON")
    parser.add_argument("--oracle", action="store_true",
                        help="feed the GT keypoints in place of the pose network (tests the "
                             "plumbing; needs --boxes gt)")
    parser.add_argument("--output", type=Path, required=True, help="prediction folder")
    parser.add_argument("--overwrite", action="store_true", help="redo finished sequences")
    parser.add_argument("--sequences", default=None,
                        help="comma-separated sequence names to run (default: all)")
    parser.add_argument("--pose-nms", type=float, default=None,
                        help=f"OKS-NMS threshold (default {POSE_NMS}; off with --oracle)")
    parser.add_argument("--evaluate", action="store_true",
                        help="score the predictions with the built-in evaluator")
    parser.add_argument("--json", type=Path, default=None,
                        help="with --evaluate: write the tables here")
    add_model_arguments(parser)
    add_tracker_arguments(parser)
    # the published recipe's threshold, not the apps'; every box scoring it is a person
    parser.set_defaults(box_threshold=DETECTION_SCORE, new_track_threshold=None)
    args = parser.parse_args(argv)
    if args.boxes == "detections" and args.detections is None:
        parser.error("--boxes detections needs --detections FILE")
    if args.oracle and args.boxes != "gt":
        parser.error("--oracle needs --boxes gt")
    if args.oracle and args.pose_nms is not None:
        parser.error("--pose-nms does not apply with --oracle (no pose network)")
    if args.boxes not in ("gt", "detections"):
        args.detector = args.boxes
    if args.pose_nms is None and not args.oracle:
        args.pose_nms = POSE_NMS
    return args


def annotation_source(args: argparse.Namespace) -> Path:
    return args.annotations or args.data_root / "annotations" / args.split


def load_sequences(args: argparse.Namespace) -> List[PoseTrackSequence]:
    sequences = read_sequences(annotation_source(args))
    if args.sequences:
        wanted = set(args.sequences.split(","))
        unknown = wanted - {s.name for s in sequences}
        if unknown:
            raise UnknownNameError(f"--sequences: unknown {', '.join(sorted(unknown))}")
        sequences = [s for s in sequences if s.name in wanted]
    return sorted(sequences, key=lambda s: s.name)


def prediction_name(sequence: PoseTrackSequence) -> str:
    """Prediction file name: the official file's name (``<seq>.json``), also for sequences of
    mmpose's single file."""
    return f"{sequence.name}.json"


def gt_people(sequence: PoseTrackSequence, image_id: int, size: Tuple[int, int]
              ) -> Tuple[np.ndarray, np.ndarray]:
    """The annotated people of an image as mmpose's GT-box test takes them (``use_gt_bbox``):
    those with a :func:`pose.datasets.posetrack18.gt_box`, clipped to the frame of ``size``
    ``(height, width)``. Returns boxes ``[N, 5]`` (score 1) and, for the oracle, their keypoints
    ``[N, 17, 3]`` with score = visibility (0/1)."""
    boxes, poses = [], []
    for person in sequence.persons(image_id):
        box = gt_box(person, size[1], size[0])
        if box is not None:
            boxes.append(np.append(box, 1.0))
            kp = person.keypoints.copy()
            kp[:, 2] = (kp[:, 2] > 0).astype(np.float64)
            poses.append(kp)
    return (np.asarray(boxes, np.float32).reshape(-1, 5),
            np.asarray(poses, np.float64).reshape(-1, POSETRACK18.num_joints, 3))


class BoxSource:
    """Person boxes per image for ``--boxes gt|detections`` (None: the pipeline's detector)."""

    def __init__(self, args: argparse.Namespace, sequences: List[PoseTrackSequence]) -> None:
        self.kind = args.boxes
        self.threshold = args.box_threshold
        if self.kind == "detections":
            from detectors.from_file import FileDetector

            self._file = FileDetector(str(args.detections), score_threshold=self.threshold)
            ids = {image.image_id for s in sequences for image in s.images}
            if sequences and not ids & set(self._file.image_ids):
                raise BadInputError(f"{args.detections} has no boxes scoring {self.threshold} or "
                                    f"more for any image of the {len(sequences)} sequences (are "
                                    "its image_id values PoseTrack18 image ids of this split?)")

    def __call__(self, sequence: PoseTrackSequence, image_id: int,
                 size: Tuple[int, int]) -> Optional[np.ndarray]:
        if self.kind == "gt":
            return gt_people(sequence, image_id, size)[0]
        if self.kind == "detections":
            return self._file.boxes_for(image_id)
        return None


def run_sequence(sequence: PoseTrackSequence, components, args: argparse.Namespace,
                 boxes: BoxSource, model_layout: str) -> dict:
    """Processes one sequence and returns its prediction file content."""
    pipeline = components.pipeline
    pipeline.start_sequence()
    annotations = []
    pending: Dict[int, List[dict]] = {}  # a tentative track's poses, by track key
    for image in sequence.images:
        path = args.data_root / image.file_name
        if not path.is_file():
            raise MissingFileError(f"image not found: {path} (is --data-root the folder holding "
                                   f"{Path(image.file_name).parts[0]}/?)")
        frame = read_rgb(path)
        frame_boxes = boxes(sequence, image.image_id, frame.shape[:2])
        poses = gt_people(sequence, image.image_id, frame.shape[:2])[1] if args.oracle else None
        result = pipeline.process(frame, image.frame_index, boxes=frame_boxes, poses=poses)
        layout = POSETRACK18.name if args.oracle else model_layout
        converted = convert_poses(result.poses, layout, POSETRACK18.name)
        for k, (track_id, key) in enumerate(zip(result.track_ids.tolist(),
                                                result.track_keys.tolist())):
            if track_id >= 0 or key >= 0:
                annotations.append(person_annotation(image.image_id, track_id, converted[k],
                                                     result.boxes[k], len(annotations)))
                if track_id < 0:  # the first frame of a track: its identity comes later
                    pending.setdefault(key, []).append(annotations[-1])
        if pending:
            confirmed = pipeline.tracker.identities(np.fromiter(pending, np.int64, len(pending)))
            for key, track_id in zip(list(pending), confirmed.tolist()):
                if track_id >= 0:
                    for annotation in pending.pop(key):
                        annotation["track_id"] = track_id
    for people in pending.values():  # never confirmed: one-off identities
        for annotation in people:
            annotation["track_id"] = pipeline.tracker.new_id()
    categories = sequence.categories or [category(POSETRACK18)]
    return {"images": [image.raw for image in sequence.images], "annotations": annotations,
            "categories": categories}


def gt_folder(args: argparse.Namespace, sequences: List[PoseTrackSequence]) -> Path:
    """A folder holding one GT file per processed sequence, for the evaluator: the official
    annotation folder when every sequence of it was run, else ``<output>_gt`` written from the
    annotation files (also for mmpose's single file)."""
    source = annotation_source(args)
    if source.is_dir() and not args.sequences:
        return source
    folder = args.output.parent / f"{args.output.name}_gt"
    loaded: Dict[Path, dict] = {}
    for sequence in sequences:
        data = loaded.setdefault(sequence.source, json.loads(sequence.source.read_text()))
        ids = {image.image_id for image in sequence.images}
        write_json_atomic({"images": [image.raw for image in sequence.images],
                           "annotations": [a for a in data.get("annotations", [])
                                           if a.get("image_id") in ids],
                           "categories": data.get("categories", [])},
                          folder / prediction_name(sequence))
    return folder


def check_run_outputs(args: argparse.Namespace, sequences: List[PoseTrackSequence]) -> None:
    """Refuses, before any work, outputs that would overwrite an annotation, detection or
    weights file (e.g. ``--output`` naming the annotation folder) or each other."""
    outputs = [("--output", args.output / prediction_name(s)) for s in sequences]
    if args.evaluate:
        outputs.append(("--json", args.json))
        if not (annotation_source(args).is_dir() and not args.sequences):
            folder = args.output.parent / f"{args.output.name}_gt"
            outputs += [("the GT copy for the evaluator", folder / prediction_name(s))
                        for s in sequences]
    inputs = [("--annotations", s.source) for s in sequences]
    inputs += [("--detections", args.detections)] + model_files(args)
    check_outputs(outputs, inputs, create_folders=True)


def run(args: argparse.Namespace) -> int:
    info = rank_info()
    rank, world = info.rank, info.world_size
    sequences = load_sequences(args)
    check_model_options(args, use_detector=args.boxes not in ("gt", "detections"),
                        use_pose=not args.oracle)
    check_run_outputs(args, sequences)
    mine = shard(sequences, info)
    todo = [s for s in mine if args.overwrite or not (args.output / prediction_name(s)).exists()]
    print(f"[rank {rank}/{world}] {len(sequences)} sequences, {len(mine)} here, "
          f"{len(mine) - len(todo)} already written", file=sys.stderr)
    if todo:
        args.device = rank_device(args.device, info)  # one GPU per rank
        box_source = BoxSource(args, sequences)  # checks a detection file before the models
        use_detector = args.boxes not in ("gt", "detections")
        fetch_model_files(args, use_detector, use_pose=not args.oracle)
        components = build_components(args, detect_every=1, use_detector=use_detector,
                                      pose_layout=POSETRACK18.name if args.oracle else None)
        args.output.mkdir(parents=True, exist_ok=True)
        components.pipeline.pose_nms = args.pose_nms
        components.pipeline.min_box_score = args.box_threshold
        layout = components.keypoint_set.name
        if layout not in ("coco", POSETRACK18.name) and not args.oracle:
            raise BadInputError(f"the pose model outputs the {layout!r} joint layout; "
                                "PoseTrack18 needs a COCO or PoseTrack18 model")
        for sequence in tqdm(todo, desc=f"rank {rank}", unit="seq", disable=None):
            started = time.perf_counter()
            prediction = run_sequence(sequence, components, args, box_source, layout)
            write_json_atomic(prediction, args.output / prediction_name(sequence))
            tqdm.write(f"[rank {rank}] {sequence.name}: {len(sequence.images)} frames, "
                       f"{len(prediction['annotations'])} poses, "
                       f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    if world > 1:
        _barrier()
    if rank == 0 and args.evaluate:
        from .evaluate import print_tables
        from .poseval import evaluate_folders

        result = evaluate_folders(gt_folder(args, sequences), args.output)
        print(f"\n{len(result.sequences)} sequences evaluated\n")
        print_tables(result.tables())
        if args.json:
            write_json_atomic(result.tables(), args.json, indent=2)
    return 0


def _barrier() -> None:
    """Waits for every torchrun rank (gloo: works on CPU-only machines too), however long the
    others still run (torch's default gives up after 30 minutes)."""
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo", timeout=BARRIER_TIMEOUT)
    dist.barrier()
    dist.destroy_process_group()


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    return report_errors(lambda: run(args), stop_on_sigterm=True)


if __name__ == "__main__":
    sys.exit(main())
