"""Identities across frames for person boxes, with or without poses.

Per frame (:meth:`PoseTracker.update`), as ByteTrack's and OC-SORT's update, top to bottom:

1. **predict**: every track's box is moved into the frame by its Kalman motion model
   (:mod:`tracker.motion`; lost tracks too, with their height frozen); a track's predicted pose
   is its last pose moved and scaled with the box. Given the frames, every track is also moved
   with the camera: the median optical flow of the background, outside the boxes of the people
   seen in the last frame. The flow inside a box is never used (in a lost person's box it
   follows whoever hides them).
2. **first association**: the confident detections (score >= ``box_threshold``) against the
   tracked and the lost tracks together (ByteTrack): IoU of predicted and detected boxes, plus
   OKS of predicted and detected poses where both have one (``similarity``); a lost track only
   takes a detection inside its motion gate (the Kalman filter's Mahalanobis distance).
3. **second association**: the low-score detections (``low_box_threshold`` <= score <
   ``box_threshold``, which the detector keeps for this) against the tracked tracks still
   unmatched, by IoU (ByteTrack: an occluded person is often detected with a low score).
4. **propagated boxes**: a tracked track that the pose network confirmed at its predicted box
   (:meth:`PoseTracker.propagated_boxes`, enough confident joints) is carried through the frame
   (its pose updated, its motion model left alone).
5. **recovery**: confident detections left against the tracks detected in the previous frame
   and still unmatched, by IoU with their last detected box (OC-SORT's observation-centric
   recovery, for a sudden stop or turn; only for these tracks, as a track lost for longer would
   "park" there and take the next person walking through).
6. **tentative tracks**: confident detections left against the tracks not yet confirmed.
7. **new tracks** start, tentative, from the confident detections left that score at least
   ``new_track_threshold`` (and have ``min_joints`` confident joints when poses are given); a
   track is confirmed - and gets its identity - after ``min_hits`` consecutive matches (at
   once in the first frame), so a one-frame false detection never becomes an identity.
8. **bookkeeping**: matched tracks update their motion model with the detected box - after a
   gap, along a straight virtual path from the last observation (OC-SORT's observation-centric
   re-update) - unmatched tracked tracks become lost, tentative ones are dropped, and lost ones
   end after ``max_lost`` seconds. Identities are never reused.

The tracks' state is kept as stacked arrays (:class:`TrackArrays`, one row per track in creation
order), so a frame costs a fixed number of array operations whatever the number of people.

This module is longer than the others on purpose: :meth:`PoseTracker.update` reads top to bottom as
the stages above, and the state changes it makes (:meth:`PoseTracker._observe` and the others) stay
beside it; the parameters live in :mod:`tracker.config`, the arrays in :mod:`tracker.state`, the
propagated boxes' rules in :mod:`tracker.propagation`.
"""
from __future__ import annotations

from functools import partial
from typing import List, Optional, Tuple

import numpy as np

from pose.keypoints import get_keypoint_set

from .config import LOST, TENTATIVE, TRACKED, TrackerConfig, TrackState
from .flow import Flow, build_flow
from .matching import get_matcher
from .motion import GATE_4DOF, BoxKalman, measured_xyah
from .similarity import SIMILARITIES, box_iou, pose_box
from .smoothing import build_smoother
from .state import Track, TrackArrays


class PoseTracker:
    """Assigns identities to the people (boxes, poses or both) of successive frames.

    Call :meth:`update` once per frame, also for frames without detections.

    Args:
        config: :class:`TrackerConfig` (default parameters if None); checked here, so a bad
            name fails before the first frame.
        device: for RAFT flow.
    """

    def __init__(self, config: Optional[TrackerConfig] = None, device: str = "cpu") -> None:
        self.config = cfg = config or TrackerConfig()
        cfg.check()
        self.sigmas = get_keypoint_set(cfg.keypoints).sigma_array()
        self._similarity = partial(SIMILARITIES[cfg.similarity], sigmas=self.sigmas,
                                   joint_threshold=cfg.joint_threshold,
                                   oks_weight=cfg.oks_weight)
        self._match = get_matcher(cfg.matching)
        build_smoother(cfg.smoothing, len(self.sigmas), cfg.fps)  # a bad name fails here
        self.flow = build_flow(cfg.flow, cfg.flow_max_side, device)
        self.kalman = BoxKalman(cfg.fps)
        self.reset()

    def reset(self) -> None:
        """Forgets every track (a new video); identities start again from 0."""
        self.state = TrackArrays(len(self.sigmas),
                                 self.config.smoothing not in (None, "none"))
        self.frame_index = 0  # frames given to update() so far
        self._next_id = 0
        self._next_key = 0
        self.last_keys = np.zeros(0, np.int64)  # per detection of the last update: its track
        self._predicted_for = -1  # frame index whose prediction the state holds
        self._frame_shape = None
        self._predicted_boxes = np.zeros((0, 4))  # its boxes
        self._previous_frame: Optional[np.ndarray] = None
        self._flow_cache: Tuple[int, Optional[Flow]] = (-1, None)
        self._with_poses = False  # whether any frame had poses (else nothing to move)

    @property
    def tracks(self) -> List[Track]:
        """The current tracks in creation order, as :class:`Track` copies of :attr:`state`."""
        s = self.state
        predicted = s.predicted_boxes()
        return [Track(int(s.ids[i]), TrackState(int(s.state[i])), s.box[i].copy(),
                      predicted[i], s.pose[i].copy(), s.predicted[i].copy(),
                      s.mean[i, 4:6].copy(), int(s.hits[i]), int(s.since_observed[i]),
                      s.output()[i].copy() if s.smoothed is not None else None)
                for i in range(len(s))]

    def new_id(self) -> int:
        """A fresh identity (never handed out again)."""
        self._next_id += 1
        return self._next_id - 1

    def identities(self, keys: np.ndarray) -> np.ndarray:
        """``[K]`` the current identities of the tracks with ``keys`` (from
        :attr:`last_keys`): -1 for tracks still tentative or ended. An offline user gives a
        track's tentative detections its identity once it is confirmed."""
        s, keys = self.state, np.asarray(keys, np.int64)
        out = np.full(len(keys), -1, np.int64)
        if len(s):
            at = np.minimum(np.searchsorted(s.keys, keys), len(s) - 1)  # keys ascend
            found = s.keys[at] == keys
            out[found] = s.ids[at[found]]
        return out

    # -- prediction -----------------------------------------------------------------------------
    def _flow_to(self, frame: Optional[np.ndarray]) -> Optional[Flow]:
        """The flow from the previous frame to ``frame``, computed once per frame index."""
        if self.flow is None or frame is None or self._previous_frame is None:
            return None
        index, flow = self._flow_cache
        if index != self.frame_index:
            flow = self.flow(self._previous_frame, frame)
            self._flow_cache = (self.frame_index, flow)
        return flow

    def _predict(self, frame: Optional[np.ndarray]) -> np.ndarray:
        """Moves every track into the current frame (once per frame index); returns their
        predicted boxes ``[T, 4]``."""
        s = self.state
        if self._predicted_for == self.frame_index:
            return self._predicted_boxes
        self._predicted_for = self.frame_index
        if not len(s):
            self._predicted_boxes = np.zeros((0, 4))
            return self._predicted_boxes
        s.mean[s.state != TRACKED, 7] = 0.0  # unseen: height frozen (ByteTrack)
        s.mean, s.covariance = self.kalman.predict(s.mean, s.covariance)
        flow = self._flow_to(frame)
        if flow is not None:
            # the camera's motion, from the background around the people seen in the last
            # frame, moves every track; the flow inside a box (the person, or whoever hides
            # them) never does
            s.mean[:, :2] += flow.camera_motion(s.box[s.since_observed == 0])
        self._predicted_boxes = s.predicted_boxes()
        if self._with_poses:
            s.predicted = _move_poses(s.pose, s.pose_box, self._predicted_boxes)
        return self._predicted_boxes

    def propagated_boxes(self, frame: Optional[np.ndarray] = None, return_ids: bool = False,
                         max_frames: Optional[int] = None):
        """The predicted boxes ``[M, 5]`` (x1, y1, x2, y2, last detection score) of the
        confirmed tracks seen in the previous frame that have gone undetected for fewer than
        ``max_frames`` frames (default ``config.propagation_frames``): where a pipeline may
        look for a person the detector missed (the paper's box propagation). With
        ``return_ids``, also their identities ``[M]``, which :meth:`update` takes back as
        ``propagated``. Call before :meth:`update` with the same frame."""
        predicted = self._predict(frame)
        s = self.state
        limit = self.config.propagation_frames if max_frames is None else max_frames
        rows = np.flatnonzero((s.state == TRACKED) & (s.since_observed < limit))
        out = np.concatenate([predicted[rows], s.score[rows, None]],
                             axis=1).astype(np.float32)
        return (out, s.ids[rows].copy()) if return_ids else out

    def bridged_boxes(self, frame_shape: Optional[Tuple[int, int]] = None):
        """After :meth:`update`: the confirmed tracks the detector missed in that frame within
        ``config.propagation`` seconds of their last detection, at their predicted boxes -
        boxes ``[M, 5]`` (x1, y1, x2, y2, last detection score) and identities ``[M]``. A
        person briefly hidden or missed stays in a box-only output; nothing is fed back to
        the tracker. With ``frame_shape`` ``(height, width)``, boxes reaching out of the frame
        (by more than 5% of their size) are left out: that person is leaving."""
        s = self.state
        rows = np.flatnonzero((s.state == LOST)
                              & (s.since_observed <= self.config.propagation_frames))
        boxes = np.concatenate([s.predicted_boxes()[rows], s.score[rows, None]], axis=1)
        if frame_shape is not None and len(rows):  # leaving the frame: not bridged
            margin = 0.05 * (boxes[:, 2:4] - boxes[:, :2])  # detections are clipped to it
            inside = ((boxes[:, :2] >= -margin).all(1)
                      & (boxes[:, 2:4] <= np.array(frame_shape[::-1]) + margin).all(1))
            boxes, rows = boxes[inside], rows[inside]
        return boxes.astype(np.float32), s.ids[rows].copy()

    def select_boxes(self, boxes: np.ndarray, frame: Optional[np.ndarray] = None) -> np.ndarray:
        """``[N]`` which of the frame's detections ``[N, 5]`` (x1, y1, x2, y2, score)
        :meth:`update` can use: the confident ones, and the low-score ones that overlap a
        tracked track's predicted box enough for the second association (a pipeline runs
        the pose network on these only)."""
        cfg = self.config
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
        confident = boxes[:, 4] >= cfg.box_threshold
        low = ~confident & (boxes[:, 4] >= cfg.low_box_threshold)
        if low.any():
            predicted = self._predict(frame)
            tracked = self.state.state == TRACKED
            if tracked.any():
                iou = box_iou(predicted[tracked], boxes[low])
                low[low] = iou.max(0) > cfg.low_threshold
            else:
                low[:] = False
        return confident | low

    # -- association ----------------------------------------------------------------------------
    def _associate(self, similarity: np.ndarray, allowed: np.ndarray
                   ) -> Tuple[np.ndarray, np.ndarray]:
        """Matches among the ``allowed`` pairs, by ``similarity`` (``[rows, cols]`` >= 0)."""
        rows, cols = np.nonzero(allowed)
        if not len(rows) or (np.bincount(rows).max() == 1 and np.bincount(cols).max() == 1):
            return rows, cols  # no track or detection has a choice: every method agrees
        return self._match(np.where(allowed, similarity, -1.0), -0.5)

    def update(self, poses: Optional[np.ndarray] = None, boxes: Optional[np.ndarray] = None,
               frame: Optional[np.ndarray] = None, *, scores: Optional[np.ndarray] = None,
               propagated: Optional[np.ndarray] = None,
               frame_shape: Optional[Tuple[int, int]] = None) -> np.ndarray:
        """Tracks the people of the next frame.

        Args:
            poses: ``[N, J, 3]`` (x, y pixels, score), or None to track boxes alone.
            boxes: ``[N, 4]`` or ``[N, 5]`` x1, y1, x2, y2 (pixels)[, score]; default: boxes
                around the poses' confident joints.
            frame: the RGB frame (only used with optical flow).
            scores: ``[N]`` detection scores (default: the boxes' fifth column, else 1).
            propagated: ``[N]`` for rows that are :meth:`propagated_boxes` (with their pose),
                the identity they were propagated from; -1 for detections.
            frame_shape: ``(height, width)`` of the frame, where known: a detection cut by
                the frame's left or right edge then updates the motion model from its inner
                edge (:func:`tracker.motion.measured_xyah`).
        Returns:
            ``[N]`` identities; -1 for detections of no confirmed track (tentative tracks,
            unmatched low-score boxes, propagated boxes the pose did not confirm).
        """
        cfg = self.config
        poses, boxes, scores, propagated = self._inputs(poses, boxes, scores, propagated)
        self._frame_shape = None if frame_shape is None else tuple(frame_shape[:2])
        track_boxes = self._predict(frame)
        s = self.state
        if poses is not None and not self._with_poses:  # the first poses: predict them too
            self._with_poses = True
            s.predicted = _move_poses(s.pose, s.pose_box, track_boxes)
        n, t = len(boxes), len(s)
        detected = propagated < 0
        confident = detected & (scores >= cfg.box_threshold)
        low = detected & ~confident & (scores >= cfg.low_box_threshold)
        track_of = np.full(n, -1, np.int64)  # matched track row per detection
        matched = np.zeros(t, bool)
        observed = np.zeros(n, bool)  # rows that update a track's motion model
        state = s.state

        def take(rows: np.ndarray, cols: np.ndarray, observe: bool = True) -> None:
            track_of[cols] = rows
            matched[rows] = True
            observed[cols] = observe

        def left(mask: np.ndarray) -> np.ndarray:
            """The detections of ``mask`` not matched yet."""
            return np.flatnonzero(mask & (track_of < 0))

        # first association: confident detections with the tracked and lost tracks
        pool = np.flatnonzero(state != TENTATIVE)
        dets = np.flatnonzero(confident)
        if len(pool) and len(dets):
            sim = self._similarity(track_boxes[pool], boxes[dets], _take(s.predicted, pool),
                                   _take(poses, dets))
            allowed = sim > cfg.threshold
            lost = np.flatnonzero(state[pool] == LOST)
            if len(lost):  # a lost track only within its motion gate
                allowed[lost] &= self.kalman.gating_distance(
                    s.mean[pool[lost]], s.covariance[pool[lost]],
                    measured_xyah(boxes[dets], self._frame_shape)
                ) <= GATE_4DOF
            rows, cols = self._associate(sim, allowed)
            take(pool[rows], dets[cols])
        unmatched = t - int(np.count_nonzero(matched))

        # second association: low-score detections with the tracked tracks left, by IoU
        if unmatched and low.any():
            pool = np.flatnonzero((state == TRACKED) & ~matched)
            dets = np.flatnonzero(low)
            if len(pool):
                iou = box_iou(track_boxes[pool], boxes[dets])
                rows, cols = self._associate(iou, iou > cfg.low_threshold)
                take(pool[rows], dets[cols])

        # propagated boxes the pose network confirmed: their tracks are carried
        if not detected.all():
            for col in np.flatnonzero(~detected):
                row = np.flatnonzero(s.ids == propagated[col])
                if (len(row) and state[row[0]] == TRACKED and not matched[row[0]]
                        and self._enough_joints(poses, col)):
                    take(row, np.array([col]), observe=False)
        unmatched = t - int(np.count_nonzero(matched))
        dets = left(confident) if unmatched else ()

        # recovery: confident detections left with the tracks detected in the last frame and
        # unmatched now, by their last detected box
        if len(dets):
            pool = np.flatnonzero((state == TRACKED) & ~matched & (s.since_observed == 0))
            if len(pool):
                iou = box_iou(s.box[pool], boxes[dets])
                rows, cols = self._associate(iou, iou > cfg.recovery_threshold)
                take(pool[rows], dets[cols])
                dets = left(confident)

        # tentative tracks: confident detections left
        if len(dets):
            pool = np.flatnonzero((state == TENTATIVE) & ~matched)
            if len(pool):
                sim = self._similarity(track_boxes[pool], boxes[dets],
                                       _take(s.predicted, pool), _take(poses, dets))
                rows, cols = self._associate(sim, sim > cfg.threshold)
                take(pool[rows], dets[cols])

        # update the matched tracks
        cols = np.flatnonzero(observed)
        if len(cols):
            self._observe(track_of[cols], boxes[cols], scores[cols], _take(poses, cols))
        cols = np.flatnonzero((track_of >= 0) & ~observed)
        if len(cols):
            self._carry(track_of[cols], boxes[cols], poses[cols])
        ids = np.full(n, -1, np.int64)
        hit = track_of >= 0
        ids[hit] = s.ids[track_of[hit]]
        keys = np.full(n, -1, np.int64)
        keys[hit] = s.keys[track_of[hit]]

        # bookkeeping: unmatched tracked tracks are lost, tentative ones dropped, old lost ended
        s.since_observed[~matched] += 1
        s.state[(s.state == TRACKED) & ~matched] = LOST
        end = (~matched & (s.state == TENTATIVE)) | (
            (s.state == LOST) & (s.since_observed > cfg.max_lost_frames))
        if end.any():
            s.keep(~end)

        # new tracks from the confident detections left
        start = confident & (track_of < 0) & (scores >= cfg.new_track_threshold)
        if poses is not None and cfg.min_joints:
            start &= _confident_joints(poses, cfg.joint_threshold) >= cfg.min_joints
        new = np.flatnonzero(start)
        if len(new):
            confirmed = self.frame_index == 0 or cfg.min_hits <= 1
            ids[new], keys[new] = self._start(boxes[new], scores[new], _take(poses, new),
                                              confirmed)
        self.last_keys = keys

        if frame is not None:
            self._previous_frame = frame
        self.frame_index += 1
        return ids

    def _inputs(self, poses, boxes, scores, propagated):
        """Checked ``(poses or None, boxes [N, 4], scores [N], propagated [N])``."""
        joints = len(self.sigmas)
        if poses is not None:
            poses = np.asarray(poses, dtype=np.float64).reshape(-1, joints, 3)
        elif self.config.similarity == "oks":
            raise ValueError("similarity 'oks' needs poses; use 'iou' or 'both' to track boxes")
        if boxes is None:
            boxes = pose_box(poses, self.config.joint_threshold) if poses is not None \
                else np.zeros((0, 4))
        else:
            boxes = np.asarray(boxes, dtype=np.float64)
            boxes = boxes.reshape(-1, boxes.shape[-1] if boxes.size else 4)
            if boxes.shape[1] < 4:
                raise ValueError(f"boxes must be [N, 4] or [N, 5], got {boxes.shape}")
            if scores is None and boxes.shape[1] > 4:
                scores = boxes[:, 4]
            boxes = boxes[:, :4]
        n = len(boxes)
        scores = np.ones(n) if scores is None else np.asarray(scores, np.float64).reshape(-1)
        propagated = (np.full(n, -1, np.int64) if propagated is None
                      else np.asarray(propagated, np.int64).reshape(-1))
        if (poses is not None and len(poses) != n) or len(scores) != n or len(propagated) != n:
            raise ValueError(f"update() got {n} boxes but "
                             f"{len(poses) if poses is not None else n} poses, "
                             f"{len(scores)} scores and {len(propagated)} propagated ids")
        return poses, boxes, scores, propagated

    def _enough_joints(self, poses: Optional[np.ndarray], row: int) -> bool:
        if poses is None:
            return False  # nothing confirms a propagated box
        return int(_confident_joints(poses[row:row + 1], self.config.joint_threshold)[0]) \
            >= max(self.config.min_joints, 1)

    # -- state changes --------------------------------------------------------------------------
    def _observe(self, rows: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
                 poses: Optional[np.ndarray]) -> None:
        """Tracks ``rows`` detected in ``boxes`` ``[K, 4]``: Kalman update (after a gap, the
        observation-centric re-update), last box and pose; confirmation."""
        s, cfg = self.state, self.config
        xyah = measured_xyah(boxes, self._frame_shape)
        gap = s.since_observed[rows]
        mean, covariance = self.kalman.update(s.mean[rows], s.covariance[rows], xyah)
        for k in np.flatnonzero(gap > 0):
            mean[k], covariance[k] = self._reupdate(rows[k], xyah[k], int(gap[k]))
        s.mean[rows], s.covariance[rows] = mean, covariance
        s.saved_mean[rows], s.saved_covariance[rows] = mean, covariance
        s.observed[rows] = xyah
        s.box[rows] = boxes
        s.score[rows] = scores
        if poses is not None:
            s.pose[rows] = poses
            s.predicted[rows] = poses
        else:
            s.pose[rows] = 0.0
        s.pose_box[rows] = boxes
        s.hits[rows] += 1
        s.since_observed[rows] = 0
        confirm = rows[(s.state[rows] == TENTATIVE) & (s.hits[rows] >= cfg.min_hits)]
        if len(confirm):
            s.ids[confirm] = np.arange(self._next_id, self._next_id + len(confirm))
            self._next_id += len(confirm)
        s.state[rows] = TRACKED
        s.state[rows[s.ids[rows] < 0]] = TENTATIVE
        self._smooth(rows)

    def _reupdate(self, row: int, xyah: np.ndarray, gap: int) -> Tuple[np.ndarray, np.ndarray]:
        """OC-SORT's observation-centric re-update of a track detected again after ``gap``
        unobserved frames: from its state at the last observation, predict and update along
        the straight path to ``xyah``, one virtual observation per missed frame."""
        s = self.state
        mean, covariance = s.saved_mean[row:row + 1], s.saved_covariance[row:row + 1]
        start = s.observed[row]
        for step in range(1, gap + 2):
            mean, covariance = self.kalman.predict(mean, covariance)
            virtual = start + (xyah - start) * step / (gap + 1)
            mean, covariance = self.kalman.update(mean, covariance, virtual[None])
        return mean[0], covariance[0]

    def _carry(self, rows: np.ndarray, boxes: np.ndarray, poses: np.ndarray) -> None:
        """Tracks ``rows`` confirmed by the pose network at their propagated ``boxes``: the
        pose is taken, the motion model keeps its prediction."""
        s = self.state
        s.pose[rows] = poses
        s.predicted[rows] = poses
        s.pose_box[rows] = boxes
        s.since_observed[rows] += 1
        s.state[rows] = TRACKED
        self._smooth(rows)

    def _start(self, boxes: np.ndarray, scores: np.ndarray, poses: Optional[np.ndarray],
               confirmed: bool) -> np.ndarray:
        """New tracks in ``boxes`` ``[K, 4]``; returns their identities (-1 while tentative)
        and keys."""
        s, cfg, k = self.state, self.config, len(boxes)
        xyah = measured_xyah(boxes, self._frame_shape)
        mean, covariance = self.kalman.initiate(xyah)
        if confirmed:
            ids = np.arange(self._next_id, self._next_id + k)
            self._next_id += k
        else:
            ids = np.full(k, -1, np.int64)
        if poses is None:
            poses = np.zeros((k, len(self.sigmas), 3))
        smoothers = ([build_smoother(cfg.smoothing, len(self.sigmas), cfg.fps)
                      for _ in range(k)] if s.smoothed is not None else [])
        keys = np.arange(self._next_key, self._next_key + k)
        self._next_key += k
        s.append(dict(ids=ids, keys=keys, state=np.full(k, TRACKED if confirmed
                                              else TENTATIVE, np.int8),
                      mean=mean, covariance=covariance, saved_mean=mean,
                      saved_covariance=covariance, observed=xyah, box=boxes, score=scores,
                      pose=poses,
                      pose_box=boxes, predicted=poses, hits=np.ones(k, np.int64),
                      since_observed=np.zeros(k, np.int64)), smoothers)
        self._smooth(range(len(s) - k, len(s)))
        return ids, keys

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
        if s.smoothed is None or not len(s) or not ids.size:
            return out
        for k, tid in enumerate(ids.tolist()):
            if tid >= 0:
                row = np.flatnonzero(s.ids == tid)
                if len(row) and s.state[row[0]] == TRACKED:
                    out[k] = s.smoothed[row[0]]
        return out


def _take(values: Optional[np.ndarray], rows: np.ndarray) -> Optional[np.ndarray]:
    return None if values is None else values[rows]


def _confident_joints(poses: np.ndarray, threshold: float) -> np.ndarray:
    """``[N]`` joints scoring above ``threshold``."""
    return np.add.reduce(poses[..., 2] > threshold, axis=1)


def _move_poses(poses: np.ndarray, from_boxes: np.ndarray, to_boxes: np.ndarray) -> np.ndarray:
    """Poses ``[T, J, 3]`` carried from ``from_boxes`` to ``to_boxes`` ``[T, 4]`` (shifted and
    scaled per axis with the box; scores kept)."""
    out = poses.copy()
    src_wh = np.maximum(from_boxes[:, 2:] - from_boxes[:, :2], 1e-6)
    scale = (to_boxes[:, 2:] - to_boxes[:, :2]) / src_wh  # [T, 2]
    out[..., :2] = (to_boxes[:, None, :2] + (poses[..., :2] - from_boxes[:, None, :2])
                    * scale[:, None, :])
    return out
