"""Training samples: one annotated person per record, from every supported dataset.

A record is what the official ``JointsDataset`` keeps per person (``image``, ``center``,
``scale``, ``joints_3d``, ``joints_3d_vis``): the crop region as in :mod:`pose.transforms`
(``center`` x, y pixels; ``scale`` = region width, height / 200, padding included) and the joints
``[J, 3]`` as x, y image pixels and visibility clipped to 0/1.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional, Tuple, Union

import numpy as np

from ..datasets.coco import ground_truth_persons, load_coco
from ..datasets.mpii import read_mpii
from ..datasets.posetrack18 import PoseTrackSequence, annotated_persons
from ..errors import MissingFileError
from ..transforms import box_to_center_scale

PathLike = Union[str, os.PathLike]


@dataclass
class PersonRecord:
    """One person to train on.

    Attributes:
        image: image file.
        center: ``[2]`` float32 crop centre, x, y pixels.
        scale: ``[2]`` float32 crop width, height / 200 (the 1.25 padding included).
        keypoints: ``[J, 3]`` float64 x, y pixels and visibility (0 or 1).
        image_id: the dataset's image id (or index).
        box: ``[4]`` float64 clean box x1, y1, x2, y2 the crop region was made from (None for
            datasets that give centre and scale, as MPII); mmpose's load-time centre shift is a
            fraction of it.
    """

    image: Path
    center: np.ndarray
    scale: np.ndarray
    keypoints: np.ndarray
    image_id: int = -1
    box: Optional[np.ndarray] = None


def _visibility_01(keypoints: np.ndarray) -> np.ndarray:
    keypoints = np.array(keypoints, dtype=np.float64)
    keypoints[:, 2] = np.minimum(keypoints[:, 2], 1.0)
    return keypoints


def _record(image: Path, box: np.ndarray, keypoints: np.ndarray, image_id: int,
            input_size: Tuple[int, int]) -> PersonRecord:
    center, scale = box_to_center_scale(box[None, :4], input_size)
    return PersonRecord(image, center[0], scale[0], _visibility_01(keypoints), int(image_id),
                        np.asarray(box[:4], dtype=np.float64))


def coco_records(annotations: PathLike, images: PathLike, input_size: Tuple[int, int],
                 box_end: str = "last_pixel") -> List[PersonRecord]:
    """The official COCO training persons of a COCO-format keypoint file (also custom layouts):
    non-crowd person annotations with a labelled keypoint and a valid clean box
    (:func:`pose.datasets.coco.ground_truth_persons`, ``box_end`` as there), cropped as
    ``_box2cs`` does."""
    images = Path(images)
    if not images.is_dir():
        raise MissingFileError(f"image folder not found: {images}")
    coco = load_coco(annotations)
    records = []
    for image_id, persons in ground_truth_persons(coco, box_end).items():
        path = images / coco.loadImgs(image_id)[0]["file_name"]
        for ann, box in persons:
            keypoints = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
            records.append(_record(path, box, keypoints, image_id, input_size))
    return records


def posetrack18_records(sequences: Iterable[PoseTrackSequence], root: PathLike,
                        input_size: Tuple[int, int], box_end: str = "last_pixel"
                        ) -> List[PersonRecord]:
    """Training persons of PoseTrack18 sequences (:func:`pose.datasets.posetrack18
    .read_posetrack18`): :func:`pose.datasets.posetrack18.annotated_persons` (``box_end`` as
    there), cropped around their clean annotation box as COCO. Image paths are
    ``root / file_name``."""
    root = Path(root)
    return [_record(root / frame.file_name, box, person.keypoints, frame.image_id, input_size)
            for sequence in sequences
            for frame, person, box in annotated_persons(sequence, box_end)]


def mpii_records(annotations: PathLike, images: PathLike) -> List[PersonRecord]:
    """Training persons of an official MPII JSON (:func:`pose.datasets.mpii.read_mpii`), with
    its own centre and (square) scale."""
    images = Path(images)
    if not images.is_dir():
        raise MissingFileError(f"image folder not found: {images}")
    return [PersonRecord(images / p.image, p.center.astype(np.float32),
                         p.scale.astype(np.float32), _visibility_01(p.keypoints), k)
            for k, p in enumerate(read_mpii(annotations))]
