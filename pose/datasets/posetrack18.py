"""PoseTrack18 annotations: the official per-video JSON files and mmpose's single-file form.

Both hold COCO-like ``images`` / ``annotations`` / ``categories``. An official file
(``annotations/<split>/<seq>.json``) is one video; mmpose's ``posetrack18_val.json`` merges many,
told apart by ``vid_id`` (or the folder of ``file_name``). Conventions of what is returned:

* keypoints are ``[17, 3]`` float64 in the PoseTrack18 slot layout
  (:data:`pose.keypoints.POSETRACK18`: nose, head_bottom, head_top, the two never-annotated ears,
  then COCO's limbs): x, y in image pixels of the original frame, and the file's visibility
  (0/1; a joint at ``(0, 0, 0)`` is unlabelled). Files whose ``categories[0].keypoints`` list the
  same names in another order are reordered by name.
* boxes are ``[4]`` float64 ``x1, y1, x2, y2`` pixels, ``x2 = x + w`` of the file's ``[x, y, w,
  h]`` (no ``+1``); ``head_box`` likewise from ``bbox_head``.
* ``file_name`` is as stored, relative to the dataset root (``images/val/<seq>/000000.jpg``).

Every PoseTrack18 file hrtrack reads (annotations, predictions to evaluate or re-track) goes
through :func:`read_annotation_file`, which checks the structure and indexes the annotations by
image; :func:`read_posetrack18` builds sequences of people from it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np

from ..errors import BadInputError, MissingFileError
from ..keypoints import POSETRACK18
from . import load_json
from .coco import clean_box

NUM_SLOTS = POSETRACK18.num_joints


class PoseTrackAnnotationError(BadInputError):
    """A PoseTrack18 file (annotations or predictions) that cannot be read or used; the message
    names the file."""


@dataclass
class AnnotationFile:
    """A PoseTrack18 JSON file as stored, checked by :func:`read_annotation_file`.

    Attributes:
        path: the file.
        data: its whole content (``images``, ``annotations``, ``categories``...).
        by_image: the ``annotations`` entries by ``image_id``, in file order (every ``image_id``
            is the ``id`` of one of the ``images``).
        keypoint_names: the names of the file's keypoint slots: ``categories[0].keypoints``, or
            the standard PoseTrack18 names when the file does not list them.
    """

    path: Path
    data: dict
    by_image: Dict[Any, List[dict]]
    keypoint_names: List[str]

    @property
    def images(self) -> List[dict]:
        """The ``images`` entries, in file order."""
        return self.data["images"]

    @property
    def categories(self) -> list:
        return self.data.get("categories") or []


def read_annotation_file(path: Union[str, os.PathLike], what: str = "PoseTrack18 file",
                         need_annotations: bool = False) -> AnnotationFile:
    """Reads and checks a PoseTrack18 JSON file: an object whose ``images`` (each with an
    ``id``) and ``annotations`` (each with the ``image_id`` of one of those images) are lists of
    objects; ``annotations`` may be absent unless ``need_annotations``.

    Raises:
        FileNotFoundError: no such file (the message calls it ``what``).
        PoseTrackAnnotationError: not JSON, or not a PoseTrack18 file; names the file.
    """
    path = Path(path)
    data = load_json(path, what, PoseTrackAnnotationError)
    annotations = data.get("annotations", None if need_annotations else []) \
        if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(annotations, list) \
            or not all(isinstance(x, dict) for x in data["images"] + annotations):
        raise PoseTrackAnnotationError(
            f"{path}: not a {what} (expected an object with 'images' and 'annotations' lists "
            f"of objects, found {type(data).__name__})")
    if any("id" not in image for image in data["images"]):
        raise PoseTrackAnnotationError(f"{path}: an image has no 'id'")
    image_ids = {image["id"] for image in data["images"]}
    by_image: Dict[Any, List[dict]] = {}
    for k, ann in enumerate(annotations):
        if ann.get("image_id") not in image_ids:
            raise PoseTrackAnnotationError(
                f"{path}: annotation {ann.get('id', f'#{k}')} has image_id "
                f"{ann.get('image_id')!r}, which is no image of the file (a result computed "
                "without it would be wrong)")
        by_image.setdefault(ann["image_id"], []).append(ann)
    categories = data.get("categories") or []
    names = categories[0].get("keypoints") if categories and isinstance(categories[0], dict) \
        else None
    return AnnotationFile(path, data, by_image, list(names or POSETRACK18.names))


@dataclass
class PoseTrackImage:
    """One frame of a sequence.

    Attributes:
        image_id: the file's image ``id``.
        file_name: path relative to the dataset root, as stored.
        frame_index: position in the video: the digits of the file name (``000012.jpg`` -> 12),
            else the order in the file.
        is_labeled: the file's ``is_labeled`` (absent: whether people are annotated).
        width, height: pixels, when the file gives them (official files do not).
        ignore_regions_x, ignore_regions_y: the file's polygons, raw (lists of pixel lists).
        raw: the ``images`` entry as stored (to write back into prediction files).
    """

    image_id: int
    file_name: str
    frame_index: int
    is_labeled: bool
    width: Optional[int] = None
    height: Optional[int] = None
    ignore_regions_x: list = field(default_factory=list)
    ignore_regions_y: list = field(default_factory=list)
    raw: dict = field(default_factory=dict, repr=False)


@dataclass
class PoseTrackPerson:
    """One annotated person in one frame.

    Attributes:
        track_id: identity within the sequence.
        keypoints: ``[17, 3]`` float64 x, y (image pixels), visibility; PoseTrack18 slot order.
        bbox: ``[4]`` float64 x1, y1, x2, y2 pixels: the file's ``bbox``, or the extent of the
            labelled keypoints when it has none (NaN when neither exists).
        image_id: the frame's ``id``.
        head_box: ``[4]`` x1, y1, x2, y2 of ``bbox_head``, or None.
    """

    track_id: int
    keypoints: np.ndarray
    bbox: np.ndarray
    image_id: int
    head_box: Optional[np.ndarray] = None

    @property
    def num_labeled(self) -> int:
        """Number of joints with a positive visibility."""
        return int((self.keypoints[:, 2] > 0).sum())


@dataclass
class PoseTrackSequence:
    """One video.

    Attributes:
        name: sequence name, e.g. ``"003418_mpii_test"`` (the folder of the frames' file names,
            else the official file's stem).
        images: frames sorted by ``frame_index``.
        people: annotated persons by ``image_id`` (frames without people are absent).
        categories: the file's ``categories``, raw (to write back into prediction files).
        source: the annotation file read.
    """

    name: str
    images: List[PoseTrackImage]
    people: Dict[int, List[PoseTrackPerson]]
    categories: list
    source: Path

    @property
    def labeled_images(self) -> List[PoseTrackImage]:
        return [image for image in self.images if image.is_labeled]

    def persons(self, image_id: int) -> List[PoseTrackPerson]:
        return self.people.get(image_id, [])


def _annotation_files(folder: Path) -> List[Path]:
    files = sorted(folder.glob("*.json"))
    if not files:
        raise MissingFileError(f"no PoseTrack18 annotation files (*.json) in {folder}")
    return files


def find_sequences(data_root: Union[str, os.PathLike], split: str = "val") -> List[Path]:
    """The official per-video files ``<data_root>/annotations/<split>/*.json``, sorted by name."""
    folder = Path(data_root) / "annotations" / split
    if not folder.is_dir():
        raise MissingFileError(f"PoseTrack18 annotation folder not found: {folder}")
    return _annotation_files(folder)


def read_sequences(source: Union[str, os.PathLike]) -> List["PoseTrackSequence"]:
    """The sequences of a folder of per-video files (sorted by name) or of one file (an official
    per-video file, or mmpose's single file)."""
    source = Path(source)
    files = _annotation_files(source) if source.is_dir() else [source]
    return [sequence for path in files for sequence in read_posetrack18(path)]


def read_posetrack18(path: Union[str, os.PathLike]) -> List[PoseTrackSequence]:
    """Reads a PoseTrack18 annotation file: an official per-video file gives one sequence,
    mmpose's single file one per video (in order of first appearance)."""
    file = read_annotation_file(path, "PoseTrack18 annotation file")
    path, by_image, categories = file.path, file.by_image, file.categories
    slots = _slot_order(file.keypoint_names, path)
    groups: Dict[str, List[dict]] = {}
    for image in file.images:
        groups.setdefault(_sequence_name(image, path), []).append(image)
    sequences = []
    for name, images in groups.items():
        frames = sorted((_image(raw, k, by_image) for k, raw in enumerate(images)),
                        key=lambda f: f.frame_index)
        people = {}
        for frame in frames:
            anns = by_image.get(frame.image_id, [])
            if anns:
                people[frame.image_id] = [_person(a, slots, path) for a in anns]
        sequences.append(PoseTrackSequence(name, frames, people, categories, path))
    return sequences


def _sequence_name(image: dict, path: Path) -> str:
    folder = Path(image.get("file_name", "")).parent.name
    return folder or str(image.get("vid_id") or path.stem)


def _frame_index(file_name: str, position: int) -> int:
    stem = Path(file_name).stem
    return int(stem) if stem.isdigit() else position


def _optional_int(value) -> Optional[int]:
    return None if value is None else int(value)


def _image(raw: dict, position: int, by_image: Dict[int, List[dict]]) -> PoseTrackImage:
    file_name = raw.get("file_name", "")
    labeled = raw.get("is_labeled")
    return PoseTrackImage(
        image_id=raw["id"], file_name=file_name, frame_index=_frame_index(file_name, position),
        is_labeled=bool(by_image.get(raw["id"])) if labeled is None else bool(labeled),
        width=_optional_int(raw.get("width")), height=_optional_int(raw.get("height")),
        ignore_regions_x=raw.get("ignore_regions_x") or [],
        ignore_regions_y=raw.get("ignore_regions_y") or [], raw=raw)


def _slot_order(names: List[str], path: Path) -> np.ndarray:
    """``[17]``: POSETRACK18 slot ``i`` is the file's keypoint ``order[i]``."""
    missing = [n for n in POSETRACK18.names if n not in names]
    if missing or len(names) != NUM_SLOTS:
        raise PoseTrackAnnotationError(
            f"{path}: categories[0].keypoints {names} is not the PoseTrack18 layout "
            f"{list(POSETRACK18.names)}")
    return np.array([names.index(n) for n in POSETRACK18.names])


def _xywh_to_xyxy(box) -> np.ndarray:
    x, y, w, h = (float(v) for v in box)
    return np.array([x, y, x + w, y + h])


def keypoint_extent(keypoints: np.ndarray) -> np.ndarray:
    """``[4]`` x1, y1, x2, y2 of the keypoints with positive visibility (NaN without any)."""
    labeled = keypoints[keypoints[:, 2] > 0, :2]
    if not len(labeled):
        return np.full(4, np.nan)
    return np.concatenate([labeled.min(axis=0), labeled.max(axis=0)])


def _person(ann: dict, slots: np.ndarray, path: Path) -> PoseTrackPerson:
    try:
        flat = ann.get("keypoints") or [0.0] * (NUM_SLOTS * 3)
        keypoints = np.asarray(flat, dtype=np.float64).reshape(NUM_SLOTS, 3)[slots]
        box = ann.get("bbox")
        bbox = _xywh_to_xyxy(box) if box else keypoint_extent(keypoints)
        head = ann.get("bbox_head")
        return PoseTrackPerson(int(ann.get("track_id", -1)), keypoints, bbox, ann["image_id"],
                               _xywh_to_xyxy(head) if head else None)
    except (KeyError, ValueError, TypeError) as exc:
        raise PoseTrackAnnotationError(
            f"{path}: annotation {ann.get('id')} needs 'image_id', {NUM_SLOTS}x3 'keypoints' and "
            f"[x, y, w, h] boxes ({exc})") from None


def gt_box(person: PoseTrackPerson, width: Optional[float] = None,
           height: Optional[float] = None, box_end: str = "last_pixel"
           ) -> Optional[np.ndarray]:
    """The box mmpose takes for an annotated person (training, and the ``use_gt_bbox`` test):
    the clean box of its annotation box (:func:`pose.datasets.coco.clean_box`, clipped to
    ``width`` x ``height`` pixels when known, ending as ``box_end`` says: ``"last_pixel"``, mmpose
    0.26 and earlier, or ``"edge"``, 0.27 and later), ``[4]`` x1, y1, x2, y2; None for a person
    without a labelled keypoint or a box, or whose clean box has no area (``x2 > x1``, ``y2 > y1``
    required, as mmpose)."""
    if person.num_labeled == 0 or not np.all(np.isfinite(person.bbox)):
        return None
    x1, y1, x2, y2 = person.bbox
    box = clean_box([x1, y1, x2 - x1, y2 - y1], width, height, box_end)
    return box if box is not None and box[2] > box[0] and box[3] > box[1] else None


def annotated_persons(sequence: PoseTrackSequence, box_end: str = "last_pixel"
                      ) -> Iterator[Tuple[PoseTrackImage, PoseTrackPerson, np.ndarray]]:
    """The persons to train on: in labelled frames, the people with a :func:`gt_box` (clipped to
    the image when the file gives its size, ending as ``box_end`` says). Yields ``(frame,
    person, box [4] x1, y1, x2, y2)``."""
    for frame in sequence.labeled_images:
        for person in sequence.persons(frame.image_id):
            box = gt_box(person, frame.width, frame.height, box_end)
            if box is not None:
                yield frame, person, box
