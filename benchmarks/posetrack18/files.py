"""Reading PoseTrack18 per-video JSON files into poseval's 15-joint arrays.

A file has ``images`` (``id``, ``file_name``, optional ``ignore_regions_x/y``), ``annotations``
(``image_id``, ``track_id``, 17x3 ``keypoints``, ``bbox_head`` [x, y, w, h] for GT, optional
per-joint ``scores`` for predictions) and ``categories`` (the keypoint names). As poseval does:
joints are mapped to its 15 by *name* using the file's own ``categories`` (ears dropped,
``head_bottom`` is poseval's neck); a joint at (0, 0) with visibility 0 is absent; missing or empty
``scores`` become -9999; frames are the ``images`` in file order. Files are read and checked by
:func:`pose.datasets.posetrack18.read_annotation_file`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from pose.datasets.posetrack18 import PoseTrackAnnotationError, read_annotation_file
from pose.keypoints import POSETRACK15

NUM_JOINTS = 15
MIN_SCORE = -9999.0  # poseval's score for joints without one
# poseval's landmark names: POSETRACK15 with neck called head_bottom, as in the files.
_POSEVAL_NAMES = [n.replace("neck", "head_bottom") for n in POSETRACK15.names]


@dataclass
class Frame:
    """People of one frame in poseval's joint order.

    Attributes:
        name: image file name.
        xy: ``[P, 15, 2]`` joint positions (pixels).
        present: ``[P, 15]`` joint exists.
        scores: ``[P, 15]`` joint scores (predictions; -9999 when absent from the file).
        track_ids: ``[P]``.
        head_size: ``[P]`` 0.6 x head-box diagonal (GT only, else NaN).
        ignore_regions: polygons ``[K, 2]`` (x, y) of the image's ignore regions.
    """

    name: str
    xy: np.ndarray
    present: np.ndarray
    scores: np.ndarray
    track_ids: np.ndarray
    head_size: np.ndarray
    ignore_regions: List[np.ndarray] = field(default_factory=list)

    @property
    def num_people(self) -> int:
        return len(self.track_ids)

    def subset(self, keep: np.ndarray) -> "Frame":
        return Frame(self.name, self.xy[keep], self.present[keep], self.scores[keep],
                     self.track_ids[keep], self.head_size[keep], self.ignore_regions)


def _slot_table(names: List[str], path: Path) -> List[Optional[int]]:
    """For each keypoint slot of the file (``names``), its poseval joint index (None: not
    evaluated)."""
    table = [(_POSEVAL_NAMES.index(n) if n in _POSEVAL_NAMES else None) for n in names]
    missing = [n for n in _POSEVAL_NAMES if _POSEVAL_NAMES.index(n) not in table]
    if missing:
        raise PoseTrackAnnotationError(f"{path}: categories[0].keypoints lacks {', '.join(missing)}")
    return table


def _person_arrays(people: List[dict], table: List[Optional[int]], slots: np.ndarray,
                   targets: np.ndarray, path: Path, image: dict, ground_truth: bool):
    """Arrays of the people of one image (see :class:`Frame`)."""
    n = len(people)
    xy = np.zeros((n, NUM_JOINTS, 2))
    present = np.zeros((n, NUM_JOINTS), dtype=bool)
    scores = np.full((n, NUM_JOINTS), MIN_SCORE)
    head = np.full(n, np.nan)
    if n == 0:
        return xy, present, scores, np.zeros(0, np.int64), head
    try:
        kp = np.asarray([a["keypoints"] for a in people], dtype=np.float64)
        kp = kp.reshape(n, len(table), 3)[:, slots]
        tracks = np.asarray([a["track_id"] for a in people], dtype=np.int64)
    except (KeyError, ValueError, TypeError) as exc:
        raise PoseTrackAnnotationError(
            f"{path}: people of image {image.get('id')} need 'track_id' and {len(table)}x3 "
            f"'keypoints' ({exc})") from None
    not_finite = ~np.isfinite(kp).all(axis=(1, 2))
    if not_finite.any():
        ann = people[int(np.argmax(not_finite))]
        raise PoseTrackAnnotationError(f"{path}: annotation {ann.get('id', '?')} of image "
                                   f"{image.get('id')} has NaN or infinite keypoints")
    xy[:, targets] = kp[..., :2]
    present[:, targets] = ~((kp[..., 0] == 0) & (kp[..., 1] == 0) & (kp[..., 2] == 0))
    for p, ann in enumerate(people):
        joint_scores = ann.get("scores")
        if joint_scores:  # poseval: an empty list counts as missing
            if len(joint_scores) != len(table):
                raise PoseTrackAnnotationError(
                    f"{path}: annotation {ann.get('id', p)} has {len(joint_scores)} scores for "
                    f"{len(table)} keypoints")
            values = np.asarray(joint_scores, dtype=np.float64)
            if not np.isfinite(values).all():
                raise PoseTrackAnnotationError(f"{path}: annotation {ann.get('id', p)} of image "
                                           f"{image.get('id')} has NaN or infinite scores")
            scores[p, targets] = values[slots]
    if ground_truth:
        try:
            boxes = np.asarray([a["bbox_head"] for a in people], dtype=np.float64)
        except KeyError:
            raise PoseTrackAnnotationError(f"{path}: a GT annotation of image {image.get('id')} has "
                                       "no 'bbox_head'") from None
        x2, y2 = boxes[:, 0] + boxes[:, 2], boxes[:, 1] + boxes[:, 3]  # poseval's x2 = x + w
        head = 0.6 * np.sqrt((x2 - boxes[:, 0]) ** 2 + (y2 - boxes[:, 1]) ** 2)
    return xy, present, scores, tracks, head


def load_frames(path: Path, ground_truth: bool) -> List[Frame]:
    """All frames of one PoseTrack18 file, in ``images`` order."""
    file = read_annotation_file(path, need_annotations=True)
    table = _slot_table(file.keypoint_names, path)
    slots = np.array([i for i, t in enumerate(table) if t is not None])
    targets = np.array([t for t in table if t is not None])
    frames = []
    for image in file.images:
        people = file.by_image.get(image["id"], [])
        xy, present, scores, tracks, head = _person_arrays(people, table, slots, targets, path,
                                                           image, ground_truth)
        if not ground_truth and len(np.unique(tracks)) != len(tracks):
            raise PoseTrackAnnotationError(f"{path}: track ids repeat within frame "
                                       f"{image.get('file_name', image.get('id'))}")
        regions = []
        if ground_truth and people:
            for rx, ry in zip(image.get("ignore_regions_x") or [], image.get("ignore_regions_y")
                              or []):
                regions.append(np.stack([np.asarray(rx, float), np.asarray(ry, float)], axis=1))
        frames.append(Frame(image.get("file_name", str(image.get("id"))), xy, present, scores,
                            tracks, head, regions))
    return frames


def load_sequence(gt_path: Path, pred_path: Path) -> Tuple[List[Frame], List[Frame]]:
    """GT and prediction frames of one video, checked to pair up frame by frame."""
    if not pred_path.is_file():
        raise PoseTrackAnnotationError(f"{pred_path}: prediction file missing (one file per GT "
                                   f"video, same name as {gt_path.name})")
    gt = load_frames(gt_path, ground_truth=True)
    pred = load_frames(pred_path, ground_truth=False)
    if len(gt) != len(pred):
        raise PoseTrackAnnotationError(f"{pred_path}: {len(pred)} frames but the GT has {len(gt)} "
                                   "(predictions need every GT image, in the same order)")
    return gt, pred
