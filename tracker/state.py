"""A tracker's state: all tracks as stacked arrays (:class:`TrackArrays`), and one track as
:attr:`tracker.PoseTracker.tracks` reports it (:class:`Track`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .config import TrackState
from .motion import to_xyxy


@dataclass
class Track:
    """One track, as :attr:`PoseTracker.tracks` reports it (copies of the tracker's state).

    ``box`` is the last detected box, ``predicted_box`` the motion model's box in the last frame
    (its estimate where matched, its prediction where not; x1, y1, x2, y2); ``pose`` the last
    pose and ``predicted`` its prediction (``[J, 3]``, zero scores without poses); ``velocity``
    the box centre's motion per frame ``[2]``; ``lost`` frames since the last detection."""

    track_id: int
    state: TrackState
    box: np.ndarray
    predicted_box: np.ndarray
    pose: np.ndarray
    predicted: np.ndarray
    velocity: np.ndarray
    hits: int
    lost: int
    smoothed: Optional[np.ndarray] = None


class TrackArrays:
    """The state of all tracks, one row each in creation order.

    Attributes:
        ids: ``[T]`` identities (-1 while tentative; confirmed ones ascend).
        keys: ``[T]`` the tracks' own numbers, given at their start (tentative ones too), never
            reused.
        state: ``[T]`` :class:`TrackState` values.
        mean, covariance: ``[T, 8]``, ``[T, 3, 4]`` the Kalman state (cx, cy, a, h and their
            velocities; predicted for the current frame once :meth:`PoseTracker.update` ran
            its prediction).
        saved_mean, saved_covariance: the Kalman state right after the last observation (the
            start of the observation-centric re-update).
        observed: ``[T, 4]`` the last detected box as cx, cy, a, h.
        box: ``[T, 4]`` the last detected box (x1, y1, x2, y2).
        score: ``[T]`` its detection score.
        pose: ``[T, J, 3]`` the last pose (zero scores when tracking boxes only).
        pose_box: ``[T, 4]`` the box that pose was found in.
        predicted: ``[T, J, 3]`` the pose predicted for the current frame.
        hits: ``[T]`` observations so far.
        since_observed: ``[T]`` frames since the last detection (0: detected in the last
            frame).
        smoothed: ``[T, J, 3]`` the smoothed last pose (None without smoothing).
        smoothers: ``T`` smoother objects (empty without smoothing).
    """

    ARRAYS = ("ids", "keys", "state", "mean", "covariance", "saved_mean", "saved_covariance",
              "observed", "box", "score", "pose", "pose_box", "predicted", "hits",
              "since_observed", "smoothed")

    def __init__(self, num_joints: int, smoothing: bool = False) -> None:
        self.ids = np.zeros(0, np.int64)
        self.keys = np.zeros(0, np.int64)
        self.state = np.zeros(0, np.int8)
        self.mean = np.zeros((0, 8))
        self.covariance = np.zeros((0, 3, 4))
        self.saved_mean = np.zeros((0, 8))
        self.saved_covariance = np.zeros((0, 3, 4))
        self.observed = np.zeros((0, 4))
        self.box = np.zeros((0, 4))
        self.score = np.zeros(0)
        self.pose = np.zeros((0, num_joints, 3))
        self.pose_box = np.zeros((0, 4))
        self.predicted = np.zeros((0, num_joints, 3))
        self.hits = np.zeros(0, np.int64)
        self.since_observed = np.zeros(0, np.int64)
        self.smoothed = np.zeros((0, num_joints, 3)) if smoothing else None
        self.smoothers: list = []

    def __len__(self) -> int:
        return len(self.ids)

    def output(self) -> np.ndarray:
        """``[T, J, 3]`` the poses the tracker outputs (smoothed, or the last observed)."""
        return self.pose if self.smoothed is None else self.smoothed

    def predicted_boxes(self) -> np.ndarray:
        """``[T, 4]`` the motion model's boxes (x1, y1, x2, y2)."""
        return to_xyxy(self.mean)

    def keep(self, mask: np.ndarray) -> None:
        """Keeps the rows where ``mask`` ``[T]`` is True."""
        for name in self.ARRAYS:
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name)[mask])
        if self.smoothers:
            self.smoothers = [s for s, k in zip(self.smoothers, mask.tolist()) if k]

    def append(self, rows: dict, smoothers: list) -> None:
        """New tracks: ``rows`` maps every name of :attr:`ARRAYS` (but ``smoothed``, which
        starts as the pose) to ``[K, ...]`` values."""
        rows = dict(rows, smoothed=rows["pose"])
        for name in self.ARRAYS:
            if getattr(self, name) is not None:
                setattr(self, name, np.concatenate([getattr(self, name), rows[name]]))
        if self.smoothed is not None:
            self.smoothers.extend(smoothers)
