"""The per-frame pipeline shared by the apps and the PoseTrack18 runner:
frame -> person boxes -> poses -> track ids.

Boxes come from (in this order): boxes given by the caller (ground truth, a detection file),
the detector on every ``detect_every``-th frame, or, in between, the tracked people of the
previous frame moved into this one by optical flow (the paper's box propagation). On detector
frames the propagated boxes are also united with the detections, which recovers people the
detector missed.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, Iterator, Optional

import numpy as np

from pose.estimator import TopDownEstimator
from pose.nms import select_poses
from pose.transforms import box_to_center_scale
from tracker.similarity import add_missed_boxes, clip_boxes
from tracker.tracker import PoseTracker


@dataclass
class FrameResult:
    """What the pipeline found in one frame.

    Attributes:
        index: frame index.
        boxes: ``[N, 5]`` x1, y1, x2, y2, score (pixels) of the persons.
        poses: ``[N, J, 3]`` x, y (pixels), joint score; smoothed when the tracker smooths.
        track_ids: ``[N]``; -1 for poses too weak to track.
        detected: whether the detector ran on this frame.
    """

    index: int
    boxes: np.ndarray
    poses: np.ndarray
    track_ids: np.ndarray
    detected: bool


class StageTimer:
    """Wall time per pipeline stage, summed over frames (seconds)."""

    def __init__(self) -> None:
        self.seconds: Dict[str, float] = OrderedDict()

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - start)

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def summary(self, frames: int) -> str:
        """``stage ms/frame`` pairs, e.g. ``detect 31.2 ms, pose 80.1 ms, ...``."""
        n = max(frames, 1)
        return ", ".join(f"{k} {1000 * v / n:.1f} ms" for k, v in self.seconds.items())


class PoseTrackingPipeline:
    """Detects (or takes) person boxes, estimates their poses and tracks them.

    Args:
        estimator: the top-down pose estimator.
        tracker: the pose tracker (its joint layout must be the estimator's).
        detector: a :class:`detectors.Detector`-like callable ``frame -> [N, 5]`` boxes; may be
            None when boxes are always given to :meth:`process`.
        detect_every: run the detector every K frames; between, boxes come from flow
            propagation.
        propagate_boxes: unite propagated boxes with the detections on detector frames.
        min_box_score: boxes scoring lower are dropped (detections and propagated boxes).
        pose_nms: OKS threshold of the official pose NMS (duplicate poses of one person, e.g.
            from overlapping detections, are removed; 0.9 in the published evaluations); None:
            off.
        max_propagated_frames: a person is carried by propagated boxes for at most this many
            consecutive frames without being detected (default ``2 * detect_every``), so a
            false detection, once tracked, does not live on as a ghost.
        timer: where stage times are added (a new one if None).
    """

    def __init__(self, estimator: TopDownEstimator, tracker: PoseTracker, detector=None,
                 detect_every: int = 1, propagate_boxes: bool = True,
                 min_box_score: float = 0.0, pose_nms: Optional[float] = None,
                 max_propagated_frames: Optional[int] = None,
                 timer: Optional[StageTimer] = None) -> None:
        if detect_every < 1:
            raise ValueError(f"detect_every must be at least 1, got {detect_every}")
        self.estimator = estimator
        self.tracker = tracker
        self.detector = detector
        self.detect_every = detect_every
        self.propagate_boxes = propagate_boxes
        self.min_box_score = min_box_score
        self.pose_nms = pose_nms
        self.max_propagated_frames = (2 * detect_every if max_propagated_frames is None
                                      else max_propagated_frames)
        self.timer = timer or StageTimer()
        self._frames = 0
        self._carried: Dict[int, int] = {}

    def start_sequence(self, tracker: PoseTracker) -> None:
        """Starts a new video with a fresh ``tracker`` (identities do not carry over)."""
        self.tracker = tracker
        self._frames = 0
        self._carried = {}

    def _boxes(self, frame: np.ndarray) -> tuple:
        """``(boxes [N, 5], from_detector [N] bool, detector_ran)`` for a frame."""
        detect = self.detector is not None and self._frames % self.detect_every == 0
        propagated = np.zeros((0, 5), np.float32)
        if self.propagate_boxes or not detect:
            with self.timer("flow"):  # the flow is computed here, then reused by update()
                propagated, ids = self.tracker.propagated_boxes(frame, return_ids=True)
            carried = np.array([self._carried.get(int(i), 0) for i in ids], dtype=np.int64)
            propagated = propagated[carried < self.max_propagated_frames]
        if not detect:
            boxes = clip_boxes(propagated, frame.shape[:2])
            return boxes, np.zeros(len(boxes), bool), False
        with self.timer("detect"):
            detections = self.detector(frame)
        boxes = add_missed_boxes(detections, propagated, frame.shape[:2]) if len(propagated) \
            else detections
        return boxes, np.arange(len(boxes)) < len(detections), True

    def _count_carried(self, ids: np.ndarray, from_detector: np.ndarray) -> None:
        """Consecutive frames each tracked person was carried by propagation alone."""
        carried = {}
        for tid, detected in zip(ids.tolist(), from_detector.tolist()):
            if tid >= 0:
                carried[tid] = 0 if detected else self._carried.get(tid, 0) + 1
        self._carried = carried

    def process(self, frame: np.ndarray, index: Optional[int] = None,
                boxes: Optional[np.ndarray] = None,
                poses: Optional[np.ndarray] = None) -> FrameResult:
        """Runs one frame (RGB uint8 ``[H, W, 3]``). ``boxes`` (``[N, 4]`` or ``[N, 5]``
        pixels) replace the detector for this frame; ``poses`` (``[N, J, 3]``, with ``boxes``)
        replace the pose network (an oracle for testing what follows)."""
        index = self._frames if index is None else index
        detected = False
        if boxes is None:
            if poses is not None:
                raise ValueError("poses given without their boxes")
            boxes, from_detector, detected = self._boxes(frame)
        else:
            from_detector = np.ones(len(boxes), bool)
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, np.shape(boxes)[-1] or 5)
        if boxes.shape[1] == 4:
            boxes = np.concatenate([boxes, np.ones((len(boxes), 1), np.float32)], axis=1)
        keep = boxes[:, 4] >= self.min_box_score
        boxes, from_detector = boxes[keep], from_detector[keep]
        if poses is None:
            with self.timer("crop"):
                prepared = self.estimator.prepare(frame, boxes)
            with self.timer("network"):
                heatmaps = self.estimator.heatmaps(prepared.inputs)
            with self.timer("decode heatmaps"):
                poses = self.estimator.decode_heatmaps(heatmaps, prepared)
        else:
            poses = np.asarray(poses, dtype=np.float64)[keep]
        if self.pose_nms is not None and len(poses) > 1:
            with self.timer("nms"):
                kept = self._suppress_duplicates(boxes, poses)
                boxes, poses, from_detector = boxes[kept], poses[kept], from_detector[kept]
        with self.timer("track"):
            ids = self.tracker.update(poses, boxes, frame)
            poses = self.tracker.smoothed_poses(ids, poses)
            self._count_carried(ids, from_detector)
        self._frames += 1
        return FrameResult(index, boxes, poses, ids, detected)

    def _suppress_duplicates(self, boxes: np.ndarray, poses: np.ndarray) -> np.ndarray:
        """Rows kept by the official rescoring and OKS-NMS (:func:`pose.nms.select_poses`, with
        the padded crop regions' areas), in their order."""
        _, scale = box_to_center_scale(boxes[:, :4], self.estimator.input_size)
        keep, _ = select_poses(poses, boxes[:, 4], scale, self.tracker.sigmas, self.pose_nms)
        return np.sort(keep)
