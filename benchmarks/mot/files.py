"""MOTChallenge files: ``seqinfo.ini``, detections (``det/det.txt``), ground truth
(``gt/gt.txt``) and results.

All are comma-separated text with one box per line: ``frame, id, x, y, w, h, score/flag, ...``,
frames counted from 1, boxes as left, top, width, height in pixels. Detections have id -1 and a
confidence; ground truth has a consider flag (0: ignore the line), a class (1: pedestrian; MOT16+)
and a visibility; results are ``frame, id, x, y, w, h, score, -1, -1, -1``.
"""
from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import numpy as np

from pose.errors import BadInputError
from pose.safe_output import atomic_path

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
PEDESTRIAN_CLASSES = (1,)  # MOT16/17/20


class MotFormatError(BadInputError):
    """A MOTChallenge file or folder that cannot be read; the message names it and why."""


@dataclass
class Sequence:
    """A MOTChallenge sequence folder.

    Attributes:
        name: the folder's name (or ``seqinfo.ini``'s ``name``).
        root: the folder.
        images: the frame files in order (frame ``k`` is ``images[k - 1]``).
        fps: frame rate (``seqinfo.ini`` ``frameRate``; 30 when it does not say).
        width, height: frame size from ``seqinfo.ini`` (0 when it does not say).
    """

    name: str
    root: Path
    images: List[Path]
    fps: float
    width: int = 0
    height: int = 0

    @property
    def gt_path(self) -> Path:
        return self.root / "gt" / "gt.txt"

    @property
    def det_path(self) -> Path:
        return self.root / "det" / "det.txt"


def read_sequence(root: Path) -> Sequence:
    """A sequence folder: ``img1/`` (or ``seqinfo.ini``'s ``imDir``) with its frames, and an
    optional ``seqinfo.ini``. Raises :class:`MotFormatError` when it has no frames."""
    root = Path(root)
    if not root.is_dir():
        raise MotFormatError(f"{root}: not a folder")
    info = {}
    ini = root / "seqinfo.ini"
    if ini.is_file():
        parser = configparser.ConfigParser()
        try:
            parser.read(ini)
        except configparser.Error as exc:
            raise MotFormatError(f"{ini}: unreadable ({str(exc).splitlines()[0]})") from None
        info = dict(parser["Sequence"]) if parser.has_section("Sequence") else {}
    image_dir = root / info.get("imdir", "img1")
    if not image_dir.is_dir():
        raise MotFormatError(f"{root}: no {image_dir.name}/ folder of frames (a MOTChallenge "
                             "sequence holds img1/000001.jpg, ...)")
    images = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not images:
        raise MotFormatError(f"{image_dir}: no frames (.jpg/.png files)")
    try:
        fps = float(info.get("framerate", 30.0))
        width, height = int(info.get("imwidth", 0)), int(info.get("imheight", 0))
    except ValueError as exc:
        raise MotFormatError(f"{ini}: {exc}") from None
    if not fps > 0:
        raise MotFormatError(f"{ini}: frameRate must be positive, got {fps}")
    return Sequence(info.get("name", root.name), root, images, fps, width, height)


def _read_rows(path: Path, min_columns: int, what: str) -> np.ndarray:
    """``[N, C]`` float rows of a comma-separated MOT file (C >= ``min_columns``)."""
    rows = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                values = [float(v) for v in line.replace(" ", "").split(",") if v != ""]
            except ValueError:
                raise MotFormatError(f"{path}:{number}: not a {what} line (comma-separated "
                                     f"numbers): {line[:60]!r}") from None
            if len(values) < min_columns:
                raise MotFormatError(f"{path}:{number}: {len(values)} values, a {what} line "
                                     f"has at least {min_columns}: {line[:60]!r}")
            rows.append(values[:10] + [0.0] * (10 - len(values[:10])))
    out = np.asarray(rows, dtype=np.float64).reshape(-1, 10)
    bad = ~np.isfinite(out[:, :6]).all(1) | (out[:, 0] < 1) | (out[:, 4] < 0) | (out[:, 5] < 0)
    if bad.any():
        number = int(np.flatnonzero(bad)[0])
        raise MotFormatError(f"{path}: line {number + 1} of the data has a frame below 1, a "
                             "negative size or a non-finite value")
    return out


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    """``[N, 4]`` left, top, width, height -> x1, y1, x2, y2."""
    out = np.asarray(xywh, dtype=np.float64)[:, :4].copy()
    out[:, 2:] += out[:, :2]
    return out


def read_detections(path: Path) -> Dict[int, np.ndarray]:
    """``det.txt`` -> per frame (from 1) boxes ``[N, 5]`` x1, y1, x2, y2, score."""
    path = Path(path)
    if not path.is_file():
        raise MotFormatError(f"detection file not found: {path}")
    rows = _read_rows(path, 7, "detection")
    boxes = np.concatenate([xywh_to_xyxy(rows[:, 2:6]), rows[:, 6:7]], axis=1)
    frames = rows[:, 0].astype(np.int64)
    return {int(f): boxes[frames == f].astype(np.float32) for f in np.unique(frames)}


@dataclass
class GroundTruth:
    """Ground-truth boxes per frame (from 1): ``ids [N]`` and ``boxes [N, 4]`` x1, y1, x2, y2
    of the people to be tracked, and ``ignored [M, 4]`` boxes whose matches are not counted
    (MOT16+ consider flag 0 or other classes, e.g. static persons and reflections)."""

    ids: Dict[int, np.ndarray]
    boxes: Dict[int, np.ndarray]
    ignored: Dict[int, np.ndarray]

    @property
    def frames(self) -> List[int]:
        return sorted(set(self.ids) | set(self.ignored))


def read_ground_truth(path: Path) -> GroundTruth:
    """``gt.txt``: column 7 is the consider flag (0: ignored); in MOT16+ files (integer
    classes 1-12 in column 8, visibilities 0-1 in column 9) only pedestrians (class 1) are
    tracked and the other classes ignored; MOT15 files (world coordinates there) count every
    line."""
    path = Path(path)
    if not path.is_file():
        raise MotFormatError(f"ground truth not found: {path}")
    rows = _read_rows(path, 6, "ground-truth")
    if len(rows) == 0:
        raise MotFormatError(f"{path}: no ground-truth lines")
    frames = rows[:, 0].astype(np.int64)
    keep = rows[:, 6] != 0  # the consider flag (MOT15: always 1)
    classes, visibility = rows[:, 7], rows[:, 8]
    if (np.all(classes == np.round(classes)) and classes.min() >= 1 and classes.max() <= 12
            and visibility.min() >= 0 and visibility.max() <= 1):  # MOT16+: class, visibility
        keep &= np.isin(classes, PEDESTRIAN_CLASSES)
    # else MOT15: world coordinates (or -1) in those columns, every line a pedestrian
    boxes = xywh_to_xyxy(rows[:, 2:6])
    ids, kept, ignored = {}, {}, {}
    for f in np.unique(frames):
        at = frames == f
        ids[int(f)] = rows[at & keep, 1].astype(np.int64)
        kept[int(f)] = boxes[at & keep]
        ignored[int(f)] = boxes[at & ~keep]
    return GroundTruth(ids, kept, ignored)


def write_results(path: Path, rows: List[tuple]) -> None:
    """Writes ``(frame, id, x1, y1, x2, y2, score)`` tuples as a MOTChallenge result file
    (``frame, id, x, y, w, h, score, -1, -1, -1``), atomically."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        for frame, tid, x1, y1, x2, y2, score in rows:
            f.write(f"{int(frame)},{int(tid)},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},"
                    f"{score:.4f},-1,-1,-1\n")


def read_results(path: Path) -> Dict[int, tuple]:
    """A result file -> per frame ``(ids [N], boxes [N, 4] x1, y1, x2, y2)``."""
    rows = _read_rows(Path(path), 6, "result")
    frames = rows[:, 0].astype(np.int64)
    boxes = xywh_to_xyxy(rows[:, 2:6])
    return {int(f): (rows[frames == f, 1].astype(np.int64), boxes[frames == f])
            for f in np.unique(frames)}

