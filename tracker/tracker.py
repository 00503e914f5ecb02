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

The tracks' state is kept as stacked arrays (:class:`TrackArrays`, one row per track in creation
order), so a frame costs a fixed number of array operations whatever the number of people.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from pose.keypoints import get_keypoint_set
from pose.oks import oks_matrix

from .flow import Flow, build_flow
from .matching import match_indices
from .similarity import box_area, box_iou, combined, pose_box
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
        box_enlarge: enlargement of propagated pose boxes (0.15 = 15%).
        propagation: how :meth:`PoseTracker.propagated_boxes` carries a person into the next
            frame: ``"pose"`` (the paper: the box around the flow-moved joints, enlarged by
            ``box_enlarge``) or ``"box"`` (the person's last box, shifted by the median flow
            displacement of its confident joints; the size is kept, so a poor pose estimate
            cannot grow or shrink the box from frame to frame).
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
    propagation: str = "pose"
    smoothing: Optional[str] = None
    keypoints: str = "coco"
    fps: float = 30.0


@dataclass
class Track:
    """One identity, as :attr:`PoseTracker.tracks` reports it (a copy of the tracker's state).
    ``pose`` is the last observed pose, ``predicted`` its prediction for the current frame (both
    ``[J, 3]``), ``velocity`` the per-joint motion per frame ``[J, 2]``."""

    track_id: int
    pose: np.ndarray
    box: np.ndarray
    predicted: np.ndarray
    velocity: np.ndarray
    hits: int = 1
    lost: int = 0
    smoother: object = None
    smoothed: Optional[np.ndarray] = None


class TrackArrays:
    """The state of all tracks, one row each in creation order (so ``ids`` ascend).

    Attributes:
        ids: ``[T]`` track ids.
        pose, predicted: ``[T, J, 3]`` last observed pose; its prediction for the current frame.
        box: ``[T, 4]`` box of the last observation.
        velocity: ``[T, J, 3]`` per-joint motion per frame (x, y; the score column stays 0, so
            that ``predicted + velocity`` is the next prediction).
        hits, lost: ``[T]`` observations so far; frames since the last one.
        smoothed: ``[T, J, 3]`` the smoothed last pose (None without smoothing: ``pose``).
        smoothers: ``T`` smoother objects (empty without smoothing).
    """

    ARRAYS = ("ids", "pose", "predicted", "box", "velocity", "hits", "lost", "smoothed")

    def __init__(self, num_joints: int, smoothing: bool = False) -> None:
        self.ids = np.zeros(0, np.int64)
        self.pose = np.zeros((0, num_joints, 3))
        self.predicted = np.zeros((0, num_joints, 3))
        self.box = np.zeros((0, 4))
        self.velocity = np.zeros((0, num_joints, 3))
        self.hits = np.zeros(0, np.int64)
        self.lost = np.zeros(0, np.int64)
        self.smoothed = np.zeros((0, num_joints, 3)) if smoothing else None
        self.smoothers: list = []

    def __len__(self) -> int:
        return len(self.ids)

    def output(self) -> np.ndarray:
        """``[T, J, 3]`` the poses the tracker outputs (smoothed, or the last observed)."""
        return self.pose if self.smoothed is None else self.smoothed

    def keep(self, mask: np.ndarray) -> None:
        """Keeps the rows where ``mask`` ``[T]`` is True."""
        for name in self.ARRAYS:
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name)[mask])
        if self.smoothers:
            self.smoothers = [s for s, k in zip(self.smoothers, mask.tolist()) if k]

    def append(self, ids: np.ndarray, poses: np.ndarray, boxes: np.ndarray,
               smoothers: list) -> None:
        """New tracks ``ids`` ``[K]`` first seen with ``poses`` ``[K, J, 3]`` in ``boxes``
        ``[K, 4]``: zero velocity, one hit, smoothed pose = pose (until smoothed)."""
        k = len(ids)
        new = dict(ids=ids, pose=poses, predicted=poses, box=boxes,
                   velocity=np.zeros(poses.shape), hits=np.ones(k, np.int64),
                   lost=np.zeros(k, np.int64), smoothed=poses)
        for name in self.ARRAYS:  # concatenate copies
            if getattr(self, name) is not None:
                setattr(self, name, np.concatenate([getattr(self, name), new[name]]))
        if self.smoothed is not None:
            self.smoothers.extend(smoothers)


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
        if self.config.propagation not in ("pose", "box"):
            raise ValueError(f"propagation must be 'pose' or 'box', "
                             f"got {self.config.propagation!r}")
        self.sigmas = get_keypoint_set(self.config.keypoints).sigma_array()
        self.flow = build_flow(self.config.flow, self.config.flow_max_side, device)
        self.state = TrackArrays(len(self.sigmas), self.config.smoothing not in (None, "none"))
        self._next_id = 0
        self._previous_frame: Optional[np.ndarray] = None
        self._pending_flow: Optional[Flow] = None
        self._pending_frame: Optional[np.ndarray] = None

    @property
    def tracks(self) -> List[Track]:
        """The current tracks in creation order, as :class:`Track` copies of :attr:`state`."""
        s = self.state
        return [Track(int(s.ids[i]), s.pose[i].copy(), s.box[i].copy(), s.predicted[i].copy(),
                      s.velocity[i, :, :2].copy(), int(s.hits[i]), int(s.lost[i]),
                      s.smoothers[i] if s.smoothers else None, s.output()[i].copy())
                for i in range(len(s))]

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
        predicted = self.state.predicted
        if not len(predicted):  # no tracks: nothing to move, no flow needed
            return
        flow = self._flow_to(frame)
        if flow is not None:
            predicted[..., :2] = flow.move(predicted[..., :2])
        else:
            predicted += self.state.velocity

    def propagated_boxes(self, frame: np.ndarray, return_ids: bool = False):
        """Boxes ``[M, 5]`` of the tracks seen in the previous frame, moved into ``frame`` by
        the flow (or their velocity) as ``config.propagation`` says; score = the pose's mean
        confident-joint score. With ``return_ids``, also their track ids ``[M]``. Call before
        :meth:`update` with the same frame (the flow is computed once)."""
        live = self.state.lost == 0
        if not live.any():
            empty = np.zeros((0, 5), np.float32)
            return (empty, np.zeros(0, np.int64)) if return_ids else empty
        flow = self._flow_to(frame)
        previous = self.state.pose[live]
        poses = previous.copy()
        if flow is not None:
            poses[..., :2] = flow.move(poses[..., :2])
        else:
            poses += self.state.velocity[live]
        conf = poses[..., 2] > self.config.joint_threshold
        if self.config.propagation == "box":
            shift = poses[..., :2] - previous[..., :2]  # [M, J, 2]
            weights = np.where(conf.any(1, keepdims=True), conf, True)
            masked = np.where(weights[..., None], shift, np.nan)
            step = np.nan_to_num(np.nanmedian(masked, axis=1))  # [M, 2]
            boxes = self.state.box[live] + np.tile(step, 2)
        else:
            boxes = pose_box(poses, self.config.joint_threshold, self.config.box_enlarge)
        score = np.where(conf.any(1), (poses[..., 2] * conf).sum(1) / np.maximum(conf.sum(1), 1),
                         0.0)
        out = np.concatenate([boxes, score[:, None]], axis=1).astype(np.float32)
        return (out, self.state.ids[live].copy()) if return_ids else out

    # -- association -------------------------------------------------------------------------
    def _similarity(self, rows, cols, current: dict) -> np.ndarray:
        """``[tracks, poses]`` similarity of track ``rows`` and pose ``cols`` (index arrays, or
        ``slice(None)`` for all). ``current``: the frame's ``poses`` ``[N, J, 3]``, ``boxes``
        ``[N, 4]``, ``area`` ``[N]``, and the predicted ``track_boxes`` ``[T, 4]``,
        ``track_area`` ``[T]``."""
        cfg = self.config
        track_area, area = current["track_area"][rows], current["area"][cols]
        iou = (box_iou(current["track_boxes"][rows], current["boxes"][cols], track_area, area)
               if cfg.similarity in ("iou", "both") else None)
        if cfg.similarity == "iou":
            return iou
        oks = oks_matrix(self.state.predicted[rows], current["poses"][cols], track_area, area,
                         self.sigmas, cfg.joint_threshold)
        return combined(iou, oks, cfg.oks_weight)

    def _associate(self, current: dict):
        """Matches the poses of ``current`` (see :meth:`_similarity`) first to the live tracks,
        then the rest to the lost ones. Returns ``(rows, cols, live)``: matched track rows and
        pose indices, the first ``live`` of them matched to live tracks."""
        cfg, state = self.config, self.state
        lost = state.lost.nonzero()[0]
        if len(lost):
            live = (state.lost == 0).nonzero()[0]
            rows, cols = match_indices(self._similarity(live, slice(None), current),
                                       cfg.threshold, cfg.matching)
            rows = live[rows]
        else:  # all tracks live: views instead of copies
            rows, cols = match_indices(self._similarity(slice(None), slice(None), current),
                                       cfg.threshold, cfg.matching)
        matched, n = len(rows), len(current["poses"])
        if not len(lost) or matched == n:
            return rows, cols, matched
        free = np.ones(n, dtype=bool)
        free[cols] = False
        free = free.nonzero()[0]
        more_rows, more_cols = match_indices(self._similarity(lost, free, current),
                                             cfg.lost_threshold, cfg.matching)
        return (np.concatenate([rows, lost[more_rows]]), np.concatenate([cols, free[more_cols]]),
                matched)

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
        cfg, state = self.config, self.state
        poses = np.asarray(poses, dtype=np.float64).reshape(-1, len(self.sigmas), 3)
        n, t = len(poses), len(state)
        self._predict(frame)
        if boxes is not None:
            boxes = np.asarray(boxes, dtype=np.float64)[:, :4]
        ids = np.full(n, -1, dtype=np.int64)
        starts = np.add.reduce(poses[..., 2] > cfg.joint_threshold, axis=1) >= cfg.min_joints
        rows = ()
        if t and n:
            # the boxes of the predicted tracks and of the poses (when not given) in one call
            if boxes is None:
                all_boxes = pose_box(np.concatenate([state.predicted, poses]), cfg.joint_threshold)
                boxes = all_boxes[t:]
            else:
                all_boxes = np.concatenate([pose_box(state.predicted, cfg.joint_threshold), boxes])
            area = box_area(all_boxes)
            rows, cols, live = self._associate(dict(
                poses=poses, boxes=boxes, area=area[t:], track_boxes=all_boxes[:t],
                track_area=area[:t]))
        elif boxes is None:
            boxes = pose_box(poses, cfg.joint_threshold)
        state.lost += 1  # one more frame since each track's last sighting (0 if matched below)
        if len(rows):
            self._observe(rows, poses.take(cols, 0), boxes.take(cols, 0), live)
            ids[cols] = state.ids.take(rows)
            starts[cols] = False
        if np.count_nonzero(state.lost > cfg.max_lost):
            state.keep(state.lost <= cfg.max_lost)
        new = starts.nonzero()[0]
        if len(new):
            ids[new] = np.arange(self._next_id, self._next_id + len(new))
            self._next_id += len(new)
            smoothers = ([build_smoother(cfg.smoothing, len(self.sigmas), cfg.fps)
                          for _ in range(len(new))] if state.smoothed is not None else [])
            state.append(ids[new], poses[new], boxes[new], smoothers)
            self._smooth(range(len(state) - len(new), len(state)))
        if frame is not None:
            self._previous_frame = frame
        self._pending_frame = self._pending_flow = None
        return ids

    def _observe(self, rows: np.ndarray, poses: np.ndarray, boxes: np.ndarray,
                 live: int) -> None:
        """Tracks ``rows`` ``[K]`` (distinct; the first ``live`` were seen in the previous
        frame, and ``lost`` already counts this frame) observed as ``poses`` ``[K, J, 3]`` in
        ``boxes`` ``[K, 4]``: the velocity becomes the motion per frame since the last
        sighting (averaged with the previous velocity from the third sighting on) where the
        joint is confident in both poses."""
        s, threshold = self.state, self.config.joint_threshold
        old = s.pose.take(rows, 0)
        step = poses - old
        step[..., 2] = 0.0
        if live < len(rows):  # over the frames since the last sighting
            step /= s.lost.take(rows)[:, None, None]
        velocity = s.velocity.take(rows, 0)
        hits = s.hits.take(rows)
        first = hits == 1  # no velocity yet: the step itself
        n_first = np.count_nonzero(first)
        if n_first == len(rows):
            blended = step
        else:
            blended = 0.5 * velocity
            blended += 0.5 * step
            if n_first:
                blended[first] = step[first]
        seen = poses[..., 2] > threshold
        seen &= old[..., 2] > threshold
        s.velocity[rows] = np.where(seen[..., None], blended, velocity)
        s.pose[rows] = poses
        s.predicted[rows] = poses
        s.box[rows] = boxes
        s.hits[rows] = hits + 1
        s.lost[rows] = 0
        self._smooth(rows)

    def _smooth(self, rows) -> None:
        """Smooths the last pose of tracks ``rows`` (nothing without smoothing)."""
        s = self.state
        if s.smoothed is None:
            return
        for i in rows:
            s.smoothed[i] = s.pose[i]
            s.smoothed[i, :, :2] = s.smoothers[i](s.pose[i, :, :2].copy())

    def smoothed_poses(self, ids: np.ndarray, poses: np.ndarray) -> np.ndarray:
        """The poses of the last :meth:`update` with each tracked pose replaced by its track's
        smoothed pose (unchanged without smoothing)."""
        out = np.array(poses, dtype=np.float64, copy=True)
        s, ids = self.state, np.asarray(ids)
        if len(s) and ids.size:
            at = np.minimum(np.searchsorted(s.ids, ids), len(s) - 1)
            hit = (s.ids[at] == ids) & (s.lost[at] == 0)
            out[hit] = s.output()[at[hit]]
        return out
