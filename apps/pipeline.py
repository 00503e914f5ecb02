"""The per-frame pipeline shared by the apps and the PoseTrack18 runner:
frame -> person boxes -> poses (optional) -> track ids.

Boxes come from (in this order): boxes given by the caller (ground truth, a detection file), or
the detector on every ``detect_every``-th frame. The detector keeps boxes down to the tracker's
``low_box_threshold``; of those below its ``box_threshold`` only the ones a tracked person's
predicted box overlaps enough for the tracker's second association are kept (and sent to the
pose network). Between detector frames, and on detector frames for tracked people the detector
missed (the paper's box propagation), the tracker's predicted boxes are added - for a short time
(``TrackerConfig.propagation``) and kept only where the pose network finds a person (enough
confident joints); propagated boxes never replace or duplicate a detection. Without a pose
network (``estimator=None``) the boxes alone are tracked, and the people the detector misses are
reported at their predicted boxes for that time (:meth:`tracker.PoseTracker.bridged_boxes`).
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
from tracker.propagation import missed_boxes
from tracker.tracker import PoseTracker

NO_IDS = np.zeros(0, np.int64)


@dataclass
class FrameResult:
    """What the pipeline found in one frame.

    Attributes:
        index: frame index.
        boxes: ``[N, 5]`` x1, y1, x2, y2, score (pixels) of the persons.
        poses: ``[N, J, 3]`` x, y (pixels), joint score (smoothed when the tracker smooths);
            None when tracking boxes alone.
        track_ids: ``[N]``; -1 for people of no confirmed track (a new track's first frame,
            poses too weak to start one).
        detected: whether the detector ran on this frame.
        track_keys: ``[N]`` the tracker's key of each person's track, tentative ones too (-1:
            none), for offline users that give a track's first frames its identity once it
            is confirmed (:meth:`tracker.PoseTracker.identities`).
    """

    index: int
    boxes: np.ndarray
    poses: Optional[np.ndarray]
    track_ids: np.ndarray
    detected: bool
    track_keys: Optional[np.ndarray] = None


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
        estimator: the top-down pose estimator, or None to track boxes alone.
        tracker: the tracker (its joint layout must be the estimator's).
        detector: a :class:`detectors.Detector`-like callable ``frame -> [N, 5]`` boxes (asked
            for boxes down to ``tracker.config.low_box_threshold``); may be None when boxes
            are always given to :meth:`process`.
        detect_every: run the detector every K frames; between, boxes come from propagation.
        propagate_boxes: on detector frames, also look for the tracked people the detector
            missed at their predicted boxes (needs an estimator).
        min_box_score: boxes scoring lower are dropped before anything else (the PoseTrack18
            recipe's detection threshold; 0: the tracker decides).
        pose_nms: OKS threshold of the official pose NMS (duplicate poses of one person, e.g.
            from overlapping detections, are removed; 0.9 in the published evaluations); None:
            off.
        timer: where stage times are added (a new one if None).
    """

    def __init__(self, estimator: Optional[TopDownEstimator], tracker: PoseTracker,
                 detector=None, detect_every: int = 1, propagate_boxes: bool = True,
                 min_box_score: float = 0.0, pose_nms: Optional[float] = None,
                 timer: Optional[StageTimer] = None) -> None:
        if detect_every < 1:
            raise ValueError(f"detect_every must be at least 1, got {detect_every}")
        self.estimator = estimator
        self.tracker = tracker
        self.detector = detector
        self.detect_every = detect_every
        self.propagate_boxes = propagate_boxes and estimator is not None
        self.min_box_score = min_box_score
        self.pose_nms = pose_nms
        self.timer = timer or StageTimer()
        self._frames = 0

    def start_sequence(self) -> None:
        """Starts a new video: the tracker forgets every track (identities start again)."""
        self.tracker.reset()
        self._frames = 0

    def _boxes(self, frame: np.ndarray) -> tuple:
        """``(boxes [N, 5], propagated_from [N] (-1: detected), detector_ran)`` for a frame."""
        detect = self.detector is not None and self._frames % self.detect_every == 0
        propagated, ids = np.zeros((0, 5), np.float32), NO_IDS
        if self.estimator is not None and (self.propagate_boxes or not detect):
            # between detector frames people are carried until the next one, and a few more
            limit = self.tracker.config.propagation_frames + self.detect_every - 1
            with self.timer("track"):  # the prediction (and flow) is made here, once
                propagated, ids = self.tracker.propagated_boxes(frame, return_ids=True,
                                                                max_frames=limit)
        if not detect:
            no_detections = np.zeros((0, 5), np.float32)
            return self._with_propagated(no_detections, propagated, ids, frame) + (False,)
        with self.timer("detect"):
            detections = np.asarray(self.detector(frame), np.float32).reshape(-1, 5)
        detections = detections[detections[:, 4] >= self.min_box_score]
        with self.timer("track"):  # the prediction (and flow) is made here if not before
            detections = detections[self.tracker.select_boxes(detections, frame)]
        return self._with_propagated(detections, propagated, ids, frame) + (True,)

    def _with_propagated(self, detections, propagated, ids, frame) -> tuple:
        """The detections plus the propagated boxes that duplicate none, with the identities
        they were propagated from (-1 for detections)."""
        missed, rows = missed_boxes(detections, propagated, frame.shape[:2])
        return (np.concatenate([detections, missed]),
                np.concatenate([np.full(len(detections), -1, np.int64), ids[rows]]))

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
            boxes, propagated, detected = self._boxes(frame)
        else:
            boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, np.shape(boxes)[-1] or 5)
            if boxes.shape[1] == 4:
                boxes = np.concatenate([boxes, np.ones((len(boxes), 1), np.float32)], axis=1)
            keep = boxes[:, 4] >= self.min_box_score
            boxes = boxes[keep]
            poses = None if poses is None else np.asarray(poses, dtype=np.float64)[keep]
            propagated = np.full(len(boxes), -1, np.int64)
        if poses is None and self.estimator is not None:
            with self.timer("crop"):
                prepared = self.estimator.prepare(frame, boxes)
            with self.timer("network"):
                heatmaps = self.estimator.heatmaps(prepared.inputs)
            with self.timer("decode heatmaps"):
                poses = self.estimator.decode_heatmaps(heatmaps, prepared)
        if poses is not None and self.pose_nms is not None and len(poses) > 1:
            with self.timer("nms"):
                kept = self._suppress_duplicates(boxes, poses)
                boxes, poses, propagated = boxes[kept], poses[kept], propagated[kept]
        with self.timer("track"):
            ids = self.tracker.update(poses, boxes, frame, propagated=propagated,
                                      frame_shape=frame.shape[:2])
            # reported: the tracked people and the confident detections not yet tracked
            # (dropped: low-score boxes and propagated boxes of no track)
            report = (ids >= 0) | ((propagated < 0)
                                   & (boxes[:, 4] >= self.tracker.config.box_threshold))
            boxes, ids, keys = boxes[report], ids[report], self.tracker.last_keys[report]
            if poses is not None:
                poses = self.tracker.smoothed_poses(ids, poses[report])
            elif self.estimator is None and self.tracker.config.propagation > 0:
                bridged, bridged_ids = self.tracker.bridged_boxes(frame.shape[:2])
                boxes = np.concatenate([boxes, bridged])
                ids = np.concatenate([ids, bridged_ids])
                keys = np.concatenate([keys, np.full(len(bridged_ids), -1, np.int64)])
        self._frames += 1
        return FrameResult(index, boxes, poses, ids, detected, keys)

    def _suppress_duplicates(self, boxes: np.ndarray, poses: np.ndarray) -> np.ndarray:
        """Rows kept by the official rescoring and OKS-NMS (:func:`pose.nms.select_poses`, with
        the padded crop regions' areas), in their order."""
        _, scale = box_to_center_scale(boxes[:, :4], self.estimator.input_size)
        keep, _ = select_poses(poses, boxes[:, 4], scale, self.tracker.sigmas, self.pose_nms)
        return np.sort(keep)
