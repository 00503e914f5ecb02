"""Identities across frames: flow propagation, OKS/IoU similarity, greedy or Hungarian matching,
track life cycle, smoothing.

>>> from tracker import PoseTracker, TrackerConfig
>>> tracker = PoseTracker(TrackerConfig(similarity="both", matching="greedy"))
>>> ids = tracker.update(poses, boxes, frame)   # poses [N, J, 3] -> track ids [N]
"""
from .tracker import PoseTracker, Track, TrackerConfig

__all__ = ["PoseTracker", "Track", "TrackerConfig"]
