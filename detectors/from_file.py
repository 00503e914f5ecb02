"""Precomputed person detections read from a file.

Accepted: COCO results (``[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]``, e.g.
``COCO_val2017_detections_AP_H_56_person.json``) and mmpose's PoseTrack18 human-detection files
(the same layout). Boxes are addressed by image id, by file name (with an annotation file giving
``images`` id <-> ``file_name``), or by frame index (the k-th image id in increasing order, which
for PoseTrack ids is frame order); :meth:`FileDetector.detect` returns the boxes of the next frame
indices in turn.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Union

import numpy as np

from .base import EMPTY, Detector, as_boxes


class FileDetector(Detector):
    """Person boxes from a detection file.

    Args:
        path: the detection JSON.
        score_threshold: drop boxes scoring below this.
        images: optional annotation JSON (COCO / PoseTrack18 with ``images``) to address boxes
            by file name.
    """

    name = "file"

    def __init__(self, path: Union[str, Path], score_threshold: float = 0.0,
                 images: Optional[Union[str, Path]] = None) -> None:
        super().__init__(score_threshold)
        from pose.datasets.coco import detection_boxes

        self._boxes = {k: as_boxes(v[:, :4], v[:, 4])
                       for k, v in detection_boxes(path, score_threshold).items()}
        self._by_name: Dict[str, int] = {}
        if images is not None:
            for image in json.loads(Path(images).read_text())["images"]:
                self._by_name[image["file_name"]] = image["id"]
        self._order = sorted(set(self._boxes) | set(self._by_name.values()))
        self._next = 0

    @property
    def image_ids(self) -> List[int]:
        return list(self._order)

    def boxes_for(self, key: Union[int, str]) -> np.ndarray:
        """Boxes ``[N, 5]`` of an image id (int), a file name (str), or ``"#k"`` (frame index k).
        An image without detections gives no boxes."""
        if isinstance(key, str):
            if key.startswith("#"):
                key = self._order[int(key[1:])]
            elif key in self._by_name:
                key = self._by_name[key]
            else:
                raise KeyError(f"no image named {key!r} (pass images= an annotation file to "
                               "address detections by file name)")
        return self._boxes.get(key, EMPTY).copy()

    def _detect(self, frames: List[np.ndarray]) -> List[np.ndarray]:
        out = []
        for _ in frames:
            if self._next >= len(self._order):
                raise IndexError(f"the detection file has boxes for {len(self._order)} images; "
                                 "more frames were given")
            out.append(self.boxes_for(self._order[self._next]))
            self._next += 1
        return out
