"""Identities across frames for people given as boxes, poses or both: a Kalman box motion model
per track, association in stages (confident, then low-score detections, then recovery), OKS/IoU
similarity, greedy or Hungarian matching, named track states, optional optical flow, smoothing.

>>> from tracker import PoseTracker, TrackerConfig
>>> tracker = PoseTracker(TrackerConfig(fps=25))
>>> ids = tracker.update(poses, boxes)         # poses [N, J, 3], boxes [N, 5] -> ids [N]
>>> ids = tracker.update(boxes=boxes)          # boxes alone (x1, y1, x2, y2, score)
"""
from .tracker import PoseTracker, Track, TrackerConfig, TrackState

__all__ = ["PoseTracker", "Track", "TrackerConfig", "TrackState"]
