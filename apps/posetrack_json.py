"""Tracking results as PoseTrack18-format JSON, written as the video is processed.

The file (one per video) has the layout of PoseTrack18 annotation files, which the built-in
evaluator (``python -m benchmarks.posetrack18.evaluate``) reads:

- ``images``: one entry per processed frame, in order: ``id`` (= the frame index), ``file_name``
  (``<video>/<frame:06d>.jpg``), ``frame_index`` (frame number in the video, from 0),
  ``vid_id``, ``nframes``, ``is_labeled``, ``width``, ``height``, ``timestamp`` (seconds: the
  frame's presentation time in the source, exact also for variable frame rates);
- ``annotations``: one per tracked person and frame: ``id``, ``image_id``, ``track_id``,
  ``category_id`` 1, ``keypoints`` (J x [x, y, score] flattened, pixels), ``scores`` (J per-joint
  confidences), ``bbox`` ([x, y, w, h] pixels of the person box), ``score`` (the box's score);
  when tracking boxes alone (``--pose-model none``) there are no ``keypoints`` and ``scores``;
- ``categories``: the person category with the joint ``keypoints`` names and ``skeleton``
  (1-based pairs, as in the PoseTrack18 and COCO files);
- ``info``: the video's name, frame rate and the run's options; ``complete`` (written by
  ``hrtrack track``): whether the run reached the end of the frames it was asked for (false
  after Ctrl-C or a video that breaks off).

While running, every frame is appended as one JSON line to ``<output>.partial.jsonl`` (claimed by
the run: a second run writing the same output is refused); at the end (also after Ctrl-C or a
video that breaks off) the final JSON is written atomically from it and the partial file removed.
A run that is killed outright leaves the ``.partial.jsonl`` with every finished frame;
:func:`finalize` (``python -m apps.posetrack_json OUT.json.partial.jsonl``) turns it into the
JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional, Union

import numpy as np

from pose.errors import BadInputError, UnreadableFileError, report_errors
from pose.safe_output import claim, write_failure, write_json_atomic
from pose.keypoints import KeypointSet, get_keypoint_set


def partial_path(path: Union[str, Path]) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".partial.jsonl")


def person_annotation(image_id: int, track_id: int, pose: Optional[np.ndarray],
                      box: np.ndarray, annotation_id: Optional[int] = None) -> dict:
    """One PoseTrack18 annotation from a pose ``[J, 3]`` (x, y pixels, score; None when
    tracking boxes alone: no ``keypoints``/``scores``) and a box ``[4+]`` (x1, y1, x2, y2[,
    score] pixels)."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    ann = {"image_id": int(image_id), "track_id": int(track_id), "category_id": 1}
    if pose is not None:
        pose = np.asarray(pose, dtype=np.float64)
        ann.update(keypoints=[round(float(v), 2) for v in pose.ravel()],
                   scores=[round(float(s), 4) for s in pose[:, 2]])
    ann.update(bbox=[round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
               score=round(float(box[4]), 4) if len(box) > 4 else 1.0)
    if annotation_id is not None:
        ann["id"] = int(annotation_id)
    return ann


def category(keypoint_set: Optional[KeypointSet]) -> dict:
    """The person category (without keypoints when tracking boxes alone)."""
    if keypoint_set is None:
        return {"id": 1, "name": "person", "supercategory": "person"}
    return {"id": 1, "name": "person", "supercategory": "person",
            "keypoints": list(keypoint_set.names),
            "skeleton": [[a + 1, b + 1] for a, b in keypoint_set.skeleton]}


class PoseTrackJsonWriter:
    """Collects frames into a PoseTrack18-format file (see the module doc).

    Args:
        path: the final ``.json``.
        video_name: used in ``file_name`` and ``vid_id``.
        keypoints: joint layout name of the poses (``"coco"``, ``"posetrack18"``...); None
            when tracking boxes alone (annotations without ``keypoints``).
        width, height: frame size.
        fps: for ``timestamp``.
        nframes: frames in the video, if known.
        info: extra metadata (models, options) stored under ``info``.
    """

    def __init__(self, path: Union[str, Path], video_name: str, keypoints: Optional[str],
                 width: int,
                 height: int, fps: float, nframes: Optional[int] = None,
                 info: Optional[dict] = None) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise UnreadableFileError(f"cannot write {self.path}: the folder {self.path.parent} "
                                      "does not exist")
        self.partial = partial_path(self.path)
        header = {"video": video_name, "keypoints": keypoints, "width": width, "height": height,
                  "fps": fps, "nframes": nframes, "info": info or {}}
        if keypoints is not None:
            get_keypoint_set(keypoints)  # fail early on an unknown layout
        self._claim = claim(self.partial, f"--output-json {self.path}")
        self._file = open(self.partial, "w")
        self.frames = 0
        self.people = 0
        self.last_frame: Optional[int] = None
        self._write_line({"header": header})

    def _write_line(self, record: dict) -> None:
        try:
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._file.flush()
        except OSError as exc:
            kept = (f"the frames up to {self.last_frame} are in {self.partial}"
                    if self.last_frame is not None else "no frame was written")
            raise write_failure(self.partial, exc, f"{kept}; {self.path} was not changed"
                                ) from None

    def add_frame(self, frame_index: int, poses: Optional[np.ndarray], boxes: np.ndarray,
                  track_ids: np.ndarray, seconds: Optional[float] = None) -> None:
        """Appends one frame: poses ``[N, J, 3]`` (or None: boxes alone), boxes ``[N, 4+]``,
        ids ``[N]``; people with id -1 (not tracked) are left out. ``seconds``: the frame's
        presentation time (default ``frame_index / fps``)."""
        people = [person_annotation(0, tid, None if poses is None else poses[i], boxes[i])
                  for i, tid in enumerate(np.asarray(track_ids)) if tid >= 0]
        for ann in people:
            del ann["image_id"]
        record = {"frame": int(frame_index), "people": people}
        if seconds is not None:
            record["time"] = round(float(seconds), 6)
        self._write_line(record)
        self.frames += 1
        self.people += len(people)
        self.last_frame = int(frame_index)

    def close(self, complete: Optional[bool] = None) -> Path:
        """Writes the final JSON (atomically) and removes the partial file; ``complete``, when
        given, is stored as ``info["complete"]``."""
        if complete is not None and not self._file.closed:
            self._write_line({"complete": bool(complete)})
        if not self._file.closed:
            self._file.close()
        try:
            return finalize(self.partial, self.path)
        finally:
            self._claim.release()

    def abandon(self) -> Path:
        """Stops writing and keeps the partial file as it is (a run that failed); returns it."""
        if not self._file.closed:
            try:
                self._file.close()
            except OSError:
                pass  # the lines that reached the disk are what is kept
        self._claim.release()
        return self.partial

    def discard(self) -> None:
        """Stops writing and removes the partial file (a run that failed before any frame)."""
        self.abandon()
        self.partial.unlink(missing_ok=True)


def _read_partial(partial: Path) -> tuple:
    header, frames = None, []
    with open(partial) as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                break  # a line cut off by a kill: everything before it is complete
            if "header" in record:
                header = record["header"]
            elif "complete" in record:
                header = {**(header or {}), "complete": record["complete"]}
            else:
                frames.append(record)
    if header is None:
        raise BadInputError(f"{partial} is not a partial hrtrack result (no header line)")
    return header, frames


def finalize(partial: Union[str, Path], path: Optional[Union[str, Path]] = None) -> Path:
    """Builds the PoseTrack18 JSON from a ``.partial.jsonl`` (written by
    :class:`PoseTrackJsonWriter`), writes it atomically to ``path`` (default: the partial
    name without ``.partial.jsonl``) and removes the partial file."""
    partial = Path(partial)
    if path is None:
        path = partial.with_name(partial.name[:-len(".partial.jsonl")])
    header, frames = _read_partial(partial)
    video = header["video"]
    images: List[dict] = []
    annotations: List[dict] = []
    for record in frames:
        index = record["frame"]
        image_id = index
        seconds = record.get("time")
        if seconds is None and header["fps"]:
            seconds = round(index / header["fps"], 6)
        images.append({"id": image_id, "file_name": f"{video}/{index:06d}.jpg",
                       "frame_index": index, "vid_id": video, "nframes": header["nframes"],
                       "is_labeled": True, "width": header["width"], "height": header["height"],
                       "timestamp": seconds})
        for person in record["people"]:
            annotations.append({"id": len(annotations), "image_id": image_id, **person})
    info = {"video": video, "fps": header["fps"], **header["info"]}
    if "complete" in header:
        info["complete"] = header["complete"]
    data = {"info": info, "images": images, "annotations": annotations,
            "categories": [category(get_keypoint_set(header["keypoints"])
                                    if header["keypoints"] else None)]}
    write_json_atomic(data, Path(path))
    partial.unlink()
    return Path(path)


def is_complete(path: Union[str, Path]) -> bool:
    """Whether ``path`` is the JSON of a run that reached the end of its frames
    (``info["complete"]``). Reads the file's head only: the ``info`` object comes first."""
    prefix = '{"info": '
    try:
        with open(path) as f:
            head = f.read(1 << 16)
        if head.startswith(prefix):
            info, _ = json.JSONDecoder().raw_decode(head, len(prefix))
        else:
            with open(path) as f:
                info = json.load(f).get("info", {})
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(info, dict) and info.get("complete") is True


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Turn the partial results of a run that was stopped (OUT.json.partial.jsonl) "
                    "into the PoseTrack18 JSON (OUT.json).")
    parser.add_argument("partial", type=Path, help="the .partial.jsonl file")
    args = parser.parse_args(argv)
    return report_errors(lambda: _finalize(args.partial))


def _finalize(partial: Path) -> int:
    if not partial.name.endswith(".partial.jsonl") or not partial.is_file():
        raise BadInputError(f"{partial}: not a .partial.jsonl file")
    with claim(partial, str(partial)):
        try:
            path = finalize(partial)
        except KeyError as exc:
            raise BadInputError(f"{partial}: a record lacks the field {exc}") from None
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
