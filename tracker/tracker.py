"""Identities across frames for top-down poses (Simple Baselines' flow tracker, extended).

Per frame (:meth:`PoseTracker.update`): every track's pose is predicted into the frame - moved by
the optical flow from the previous frame when frames are given (the paper's propagation), else
by its constant velocity; similarities (OKS of predicted and new poses, box IoU, or both) are
matched greedily in descending order (the paper) or by the Hungarian method, first against the
tracks seen in the previous frame, then against lost tracks (re-identification after occlusion);
unmatched poses with enough confident joints start new tracks; tracks unseen for more than
``max_lost`` frames end. Identities are never reused.

:meth:`PoseTracker.propagated_boxes` gives the boxes of the tracks moved into the next frame
(enlarged 15%), which a pipeline unites with the detector's boxes so that missed detections are
recovered (the paper's box propagation).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from pose.keypoints import get_keypoint_set

from .flow import Flow, build_flow
from .matching import match
from .similarity import box_iou, combined, pose_box, pose_oks
from .smoothing import build_smoother


@dataclass
class TrackerConfig:
    """Tracker parameters (defaults: the Simple Baselines choices where the paper gives them).

    Attributes:
        similarity: ``"oks"`` (flow-based pose similarity), ``"iou"`` or ``"both"``.
        oks_weight: weight of OKS in ``"both"`` (the rest is IoU).
        matching: ``"greedy"`` (paper) or ``"hungarian"``.
        threshold: minimum similarity of a match.
        lost_threshold: minimum similarity to re-identify a lost track.
        max_lost: frames a track is kept without a match.
        min_joints: confident joints a pose needs to start a track.
        joint_threshold: joint score counted as confident (and used by OKS).
        flow: ``"dis"``, ``"farneback"``, ``"raft"`` or None (constant-velocity prediction).
        flow_max_side: longer side of the frames the flow is computed on.
        box_enlarge: enlargement of propagated boxes (0.15 = 15%).
        smoothing: None, ``"one_euro"`` or ``"kalman"`` (applied to the output poses).
        keypoints: joint layout (for OKS sigmas).
        fps: frame rate (for One-Euro smoothing).
    """

    similarity: str = "both"
    oks_weight: float = 0.5
    matching: str = "greedy"
    threshold: float = 0.2
    lost_threshold: float = 0.2
    max_lost: int = 30
    min_joints: int = 5
    joint_threshold: float = 0.2
    flow: Optional[str] = "dis"
    flow_max_side: int = 640
    box_enlarge: float = 0.15
    smoothing: Optional[str] = None
    keypoints: str = "coco"
    fps: float = 30.0


@dataclass
class Track:
    """One identity. ``pose`` is the last observed pose, ``predicted`` its prediction for the
    current frame (both ``[J, 3]``), ``velocity`` the per-joint motion per frame ``[J, 2]``."""

    track_id: int
    pose: np.ndarray
    box: np.ndarray
    predicted: np.ndarray
    velocity: np.ndarray
    hits: int = 1
    lost: int = 0
    smoother: object = None
    smoothed: Optional[np.ndarray] = None


class PoseTracker:
    """Assigns track ids to the poses of successive frames.

    Args:
        config: :class:`TrackerConfig` (default parameters if None).
        device: for RAFT flow.
    """

    def __init__(self, config: Optional[TrackerConfig] = None, device: str = "cpu") -> None:
        self.config = config or TrackerConfig()
        if self.config.similarity not in ("oks", "iou", "both"):
            raise ValueError(f"similarity must be 'oks', 'iou' or 'both', "
                             f"got {self.config.similarity!r}")
        self.sigmas = get_keypoint_set(self.config.keypoints).sigma_array()
        self.flow = build_flow(self.config.flow, self.config.flow_max_side, device)
        self.tracks: List[Track] = []
        self._next_id = 0
        self._previous_frame: Optional[np.ndarray] = None
        self._pending_flow: Optional[Flow] = None
        self._pending_frame: Optional[np.ndarray] = None

    def new_id(self) -> int:
        """A fresh identity (never handed out again)."""
        self._next_id += 1
        return self._next_id - 1

    # -- prediction ------------------------------------------------------------------------
    def _flow_to(self, frame: Optional[np.ndarray]) -> Optional[Flow]:
        if self.flow is None or frame is None or self._previous_frame is None:
            return None
        if self._pending_frame is frame:
            return self._pending_flow
        flow = self.flow(self._previous_frame, frame)
        self._pending_frame, self._pending_flow = frame, flow
        return flow

    def _predict(self, frame: Optional[np.ndarray]) -> None:
        flow = self._flow_to(frame)
        for t in self.tracks:
            moved = t.predicted.copy()
            if flow is not None:
                moved[:, :2] = flow.move(t.predicted[:, :2])
            else:
                moved[:, :2] = t.predicted[:, :2] + t.velocity
            t.predicted = moved

    def propagated_boxes(self, frame: np.ndarray) -> np.ndarray:
        """Boxes ``[M, 5]`` of the tracks seen in the previous frame, moved into ``frame`` by
        the flow (or their velocity), enlarged by ``box_enlarge``; score = the pose's mean
        confident-joint score. Call before :meth:`update` with the same frame (the flow is
        computed once)."""
        live = [t for t in self.tracks if t.lost == 0]
        if not live:
            return np.zeros((0, 5), np.float32)
        flow = self._flow_to(frame)
        poses = np.stack([t.pose for t in live]).astype(np.float64)
        if flow is not None:
            poses[..., :2] = flow.move(poses[..., :2])
        else:
            poses[..., :2] += np.stack([t.velocity for t in live])
        boxes = pose_box(poses, self.config.joint_threshold, self.config.box_enlarge)
        conf = poses[..., 2] > self.config.joint_threshold
        score = np.where(conf.any(1), (poses[..., 2] * conf).sum(1) / np.maximum(conf.sum(1), 1),
                         0.0)
        return np.concatenate([boxes, score[:, None]], axis=1).astype(np.float32)

    # -- association -------------------------------------------------------------------------
    def _similarity(self, tracks: List[Track], poses: np.ndarray,
                    boxes: np.ndarray) -> np.ndarray:
        cfg = self.config
        predicted = np.stack([t.predicted for t in tracks])
        track_boxes = pose_box(predicted, cfg.joint_threshold)
        iou = box_iou(track_boxes, boxes) if cfg.similarity in ("iou", "both") else None
        oks = (pose_oks(predicted, track_boxes, poses, boxes, self.sigmas, cfg.joint_threshold)
               if cfg.similarity in ("oks", "both") else None)
        return combined(iou, oks, cfg.oks_weight)

    def update(self, poses: np.ndarray, boxes: Optional[np.ndarray] = None,
               frame: Optional[np.ndarray] = None) -> np.ndarray:
        """Tracks the poses of the next frame.

        Args:
            poses: ``[N, J, 3]`` (x, y pixels, score).
            boxes: ``[N, 4+]`` person boxes of the poses (default: boxes around the poses).
            frame: the RGB frame, for optical-flow propagation (optional).
        Returns:
            ``[N]`` track ids; -1 for poses that matched no track and have fewer than
            ``min_joints`` confident joints.
        """
        cfg = self.config
        poses = np.asarray(poses, dtype=np.float64).reshape(-1, len(self.sigmas), 3)
        n = len(poses)
        boxes = (pose_box(poses, cfg.joint_threshold) if boxes is None
                 else np.asarray(boxes, dtype=np.float64)[:, :4])
        self._predict(frame)
        ids = np.full(n, -1, dtype=np.int64)
        free = np.ones(n, dtype=bool)
        matched_tracks = set()
        for stage, threshold in (("live", cfg.threshold), ("lost", cfg.lost_threshold)):
            tracks = [t for t in self.tracks if (t.lost == 0) == (stage == "live")]
            cols = np.nonzero(free)[0]
            if not tracks or not len(cols):
                continue
            sim = self._similarity(tracks, poses[cols], boxes[cols])
            for r, c in match(sim, threshold, cfg.matching):
                self._observe(tracks[r], poses[cols[c]], boxes[cols[c]])
                ids[cols[c]] = tracks[r].track_id
                free[cols[c]] = False
                matched_tracks.add(tracks[r].track_id)
        for t in self.tracks:
            if t.track_id not in matched_tracks:
                t.lost += 1
        self.tracks = [t for t in self.tracks if t.lost <= cfg.max_lost]
        confident = (poses[..., 2] > cfg.joint_threshold).sum(1) >= cfg.min_joints
        for i in np.nonzero(free & confident)[0]:
            track = Track(self.new_id(), poses[i].copy(), boxes[i].copy(), poses[i].copy(),
                          np.zeros((len(self.sigmas), 2)),
                          smoother=build_smoother(cfg.smoothing, len(self.sigmas), cfg.fps))
            self._smooth(track)
            self.tracks.append(track)
            ids[i] = track.track_id
        if frame is not None:
            self._previous_frame = frame
        self._pending_frame = self._pending_flow = None
        return ids

    def _observe(self, track: Track, pose: np.ndarray, box: np.ndarray) -> None:
        gap = track.lost + 1
        seen = (pose[:, 2] > self.config.joint_threshold) & \
            (track.pose[:, 2] > self.config.joint_threshold)
        step = (pose[:, :2] - track.pose[:, :2]) / gap
        blended = step if track.hits == 1 else 0.5 * track.velocity + 0.5 * step
        track.velocity = np.where(seen[:, None], blended, track.velocity)
        track.pose, track.box, track.predicted = pose.copy(), box.copy(), pose.copy()
        track.hits += 1
        track.lost = 0
        self._smooth(track)

    def _smooth(self, track: Track) -> None:
        if track.smoother is None:
            track.smoothed = track.pose
        else:
            track.smoothed = track.pose.copy()
            track.smoothed[:, :2] = track.smoother(track.pose[:, :2])

    def smoothed_poses(self, ids: np.ndarray, poses: np.ndarray) -> np.ndarray:
        """The poses of the last :meth:`update` with each tracked pose replaced by its track's
        smoothed pose (unchanged without smoothing)."""
        out = np.array(poses, dtype=np.float64, copy=True)
        by_id = {t.track_id: t for t in self.tracks}
        for i, tid in enumerate(ids):
            if tid in by_id and by_id[tid].smoothed is not None and by_id[tid].lost == 0:
                out[i] = by_id[tid].smoothed
        return out
