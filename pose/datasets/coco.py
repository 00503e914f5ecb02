"""COCO keypoint annotations and person boxes, as the official HRNet test pipeline reads them.

Boxes are returned per image id as ``[N, 5]`` float64 arrays ``x1, y1, x2, y2, score`` in pixels.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..errors import BadInputError, MissingFileError


# Where a clean box ends (:func:`clean_box`): ``"last_pixel"``, ``x2 = x1 + w - 1`` (official
# HRNet, mmpose 0.26 and earlier) or ``"edge"``, ``x2 = x1 + w`` (mmpose 0.27 and later).
BOX_ENDS = ("last_pixel", "edge")


def person_category_ids(coco) -> list:
    """Category ids named ``person`` (or the only category of a single-category file)."""
    ids = coco.getCatIds(catNms=["person"])
    return ids or (coco.getCatIds() if len(coco.getCatIds()) == 1 else [])


def ground_truth_boxes(coco, box_end: str = "last_pixel") -> Dict[int, np.ndarray]:
    """Boxes of the annotated persons, exactly as the official ``coco.py`` builds them
    (``box_end="edge"``: as mmpose 0.27 and later, see :func:`clean_box`).

    Per non-crowd person annotation with positive ``area`` and at least one labelled keypoint:
    ``x1 = max(0, x)``, ``y1 = max(0, y)``, ``x2 = min(W - 1, x1 + max(0, w - 1))`` (likewise
    ``y2``), kept if ``x2 >= x1`` and ``y2 >= y1``; score 1. The box is thus one pixel narrower
    and lower than the annotation's (the "inclusive pixel" convention of the official code), and
    a box starting left of the image is shifted, not clipped.
    """
    out: Dict[int, np.ndarray] = {}
    for image_id, persons in ground_truth_persons(coco, box_end).items():
        out[image_id] = np.asarray([list(box) + [1.0] for _, box in persons], dtype=np.float64)
    return out


def detection_boxes(path: os.PathLike, score_threshold: float = 0.0,
                    image_ids: Optional[Iterable[int]] = None) -> Dict[int, np.ndarray]:
    """Person detections from a COCO results file (``[{"image_id", "category_id", "bbox": [x, y,
    w, h], "score"}]``, like ``COCO_val2017_detections_AP_H_56_person.json``): category 1 only,
    dropped if ``score < score_threshold`` (official ``IMAGE_THRE``, 0.0), boxes used as given."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"detection file not found: {path}")
    with open(path) as f:
        try:
            detections = json.load(f)
        except json.JSONDecodeError as exc:
            raise BadInputError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(detections, list):
        raise BadInputError(f"{path} is not a COCO results list ([{{image_id, category_id, bbox, "
                            "score}, ...}])")
    wanted = None if image_ids is None else set(image_ids)
    rows: Dict[int, list] = {}
    for det in detections:
        if det.get("category_id", 1) != 1 or det["score"] < score_threshold:
            continue
        if wanted is not None and det["image_id"] not in wanted:
            continue
        x, y, w, h = det["bbox"]
        rows.setdefault(det["image_id"], []).append([x, y, x + w, y + h, det["score"]])
    return {k: np.asarray(v, dtype=np.float64) for k, v in rows.items()}


def read_rgb(path: os.PathLike) -> np.ndarray:
    """An image file as RGB uint8 ``[H, W, 3]``, read as the official code reads it (OpenCV,
    EXIF orientation ignored)."""
    image = cv2.imread(os.fspath(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise MissingFileError(f"cannot read image {path} (missing or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def clean_box(bbox: Sequence[float], width: Optional[float] = None,
              height: Optional[float] = None, box_end: str = "last_pixel"
              ) -> Optional[np.ndarray]:
    """The official "clean" box of a COCO ``[x, y, w, h]`` annotation box: ``[4]`` float64
    ``x1 = max(0, x)``, ``y1 = max(0, y)``, ``x2 = min(W - 1, x1 + max(0, w - 1))`` (likewise
    ``y2``; no clipping where the image size is unknown), or None when ``x2 < x1`` or ``y2 < y1``.
    ``box_end="edge"`` gives mmpose's rule from version 0.27 on, ``x2 = min(W - 1, x1 + max(0,
    w))`` (see ``BOX_ENDS``).
    """
    if box_end not in BOX_ENDS:
        raise BadInputError(f"box_end must be one of {', '.join(BOX_ENDS)}, got {box_end!r}")
    x, y, w, h = (float(v) for v in bbox)
    inside = 1.0 if box_end == "last_pixel" else 0.0
    x1, y1 = max(0.0, x), max(0.0, y)
    x2, y2 = x1 + max(0.0, w - inside), y1 + max(0.0, h - inside)
    if width is not None:
        x2 = min(width - 1.0, x2)
    if height is not None:
        y2 = min(height - 1.0, y2)
    if x2 < x1 or y2 < y1:
        return None
    return np.array([x1, y1, x2, y2])


def ground_truth_persons(coco, box_end: str = "last_pixel"
                         ) -> Dict[int, List[Tuple[dict, np.ndarray]]]:
    """The annotated persons the official code trains on and boxes for testing, per image id:
    ``(annotation, clean box [4] x1, y1, x2, y2)`` for every non-crowd person annotation with
    positive ``area``, at least one labelled keypoint and a valid :func:`clean_box` (ending as
    ``box_end`` says)."""
    persons = set(person_category_ids(coco))
    out: Dict[int, List[Tuple[dict, np.ndarray]]] = {}
    for image_id in coco.getImgIds():
        info = coco.loadImgs(image_id)[0]
        rows = []
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=image_id, iscrowd=False)):
            if ann["category_id"] not in persons or max(ann.get("keypoints") or [0]) == 0:
                continue
            box = clean_box(ann["bbox"], info.get("width"), info.get("height"), box_end)
            if ann["area"] > 0 and box is not None:
                rows.append((ann, box))
        if rows:
            out[image_id] = rows
    return out


def load_coco(annotations: os.PathLike):
    """pycocotools' ``COCO`` index of a keypoint annotation file, its printing silenced."""
    import contextlib
    import io

    from pycocotools.coco import COCO

    annotations = Path(annotations)
    if not annotations.is_file():
        raise MissingFileError(f"annotation file not found: {annotations}")
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(annotations))
