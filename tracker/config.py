"""The tracker's parameters (:class:`TrackerConfig`) and the states of a track (:class:`TrackState`)."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Optional

from pose.errors import BadInputError

from .matching import get_matcher
from .similarity import SIMILARITIES


class TrackState(enum.IntEnum):
    """Where a track is in its life (removed tracks leave the arrays)."""

    TENTATIVE = 0  #: started, not yet confirmed: no identity reported
    TRACKED = 1  #: confirmed and seen (detected or carried) in the last frame
    LOST = 2  #: confirmed, unseen since; kept ``max_lost`` seconds for re-identification


TENTATIVE, TRACKED, LOST = (int(state) for state in TrackState)  # plain ints: fast compares


@dataclass
class TrackerConfig:
    """Tracker parameters (one set of defaults for pose and box tracking; published trackers'
    values where they give one).

    Attributes:
        similarity: ``"both"`` (IoU, plus OKS where the track and the detection have poses),
            ``"iou"`` or ``"oks"`` (poses required).
        oks_weight: weight of OKS in ``"both"`` (the rest is IoU).
        matching: ``"greedy"`` (Simple Baselines: pairs in descending similarity) or
            ``"hungarian"`` (maximum total similarity, ``lap``).
        box_threshold: detections scoring at least this are confident: they take part in the
            first association and may start tracks (the apps' ``--box-threshold``).
        low_box_threshold: lower-scoring detections down to this are matched in the second
            association only (ByteTrack's 0.1); the detector is asked for boxes down to it.
        new_track_threshold: score a detection needs to start a track (ByteTrack: the
            confident threshold + 0.1).
        threshold: minimum similarity in the first association and for tentative tracks
            (ByteTrack's IoU 0.2).
        low_threshold: minimum IoU in the second association (ByteTrack's 0.5).
        recovery_threshold: minimum IoU with a track's last detected box in the recovery
            (OC-SORT's 0.3).
        min_hits: consecutive matches that confirm a track (ByteTrack's 2).
        max_lost: seconds a lost track is kept for re-identification (ByteTrack's and
            OC-SORT's 30 frames at 30 frames/s).
        propagation: seconds a track the detector misses is still reported at its predicted
            box (the paper's box propagation, from the motion model): with poses, where the
            pose network confirms a person there (:meth:`PoseTracker.propagated_boxes`);
            tracking boxes alone, as it is (:meth:`PoseTracker.bridged_boxes`). 0.2 s bridges
            the 1-5-frame detection gaps of walkers hiding each other at 25 frames/s; 0: off.
        min_joints: confident joints a pose needs to start a track or to confirm a
            propagated box (0: any).
        joint_threshold: joint score counted as confident (and used by OKS).
        flow: ``"dis"`` (OpenCV DIS), ``"farneback"``, ``"raft"`` or None: dense optical
            flow between consecutive frames (when :meth:`PoseTracker.update` is given them),
            from which the camera's motion - the background's, outside the people's boxes - is
            taken and applied to every track. The flow inside a box is never used.
        flow_max_side: longer side of the frames the flow is computed on (320: the camera's
            motion needs no more, and costs a few milliseconds).
        smoothing: None, ``"one_euro"`` or ``"kalman"`` (applied to the output poses).
        keypoints: joint layout (for OKS sigmas).
        fps: frame rate of the video (``max_lost``, the motion model's noise, One-Euro).
    """

    similarity: str = "both"
    oks_weight: float = 0.5
    matching: str = "greedy"
    box_threshold: float = 0.5
    low_box_threshold: float = 0.1
    new_track_threshold: float = 0.6
    threshold: float = 0.2
    low_threshold: float = 0.5
    recovery_threshold: float = 0.3
    min_hits: int = 2
    max_lost: float = 1.0
    propagation: float = 0.2
    min_joints: int = 5
    joint_threshold: float = 0.2
    flow: Optional[str] = "dis"
    flow_max_side: int = 320
    smoothing: Optional[str] = None
    keypoints: str = "coco"
    fps: float = 30.0

    @property
    def max_lost_frames(self) -> int:
        """``max_lost`` in frames at ``fps`` (at least 1)."""
        return max(1, int(round(self.max_lost * self.fps)))

    @property
    def propagation_frames(self) -> int:
        """``propagation`` in frames at ``fps`` (at least 1 unless 0)."""
        return max(1, int(round(self.propagation * self.fps))) if self.propagation > 0 else 0

    def check(self) -> None:
        """Raises :class:`pose.errors.BadInputError` (a ValueError) for a bad choice or value
        (one line naming the field)."""
        if self.similarity not in SIMILARITIES:
            raise BadInputError(f"similarity must be one of "
                                f"{', '.join(map(repr, SIMILARITIES))}, got {self.similarity!r}")
        get_matcher(self.matching)
        if not self.fps > 0:
            raise BadInputError(f"fps must be positive, got {self.fps}")
        if self.min_hits < 1:
            raise BadInputError(f"min_hits must be at least 1, got {self.min_hits}")
        if self.max_lost < 0 or self.propagation < 0 or self.min_joints < 0:
            raise BadInputError("max_lost, propagation and min_joints cannot be negative")
        if self.low_box_threshold > self.box_threshold:
            raise BadInputError(f"low_box_threshold ({self.low_box_threshold}) must not exceed "
                                f"box_threshold ({self.box_threshold})")
