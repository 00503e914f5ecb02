"""Dense optical flow between consecutive frames: keypoints moved by it, and the camera's
motion (the background's flow).

Methods: ``"dis"`` (OpenCV DIS, default: fast on CPU), ``"farneback"`` (OpenCV), ``"raft"``
(torchvision's RAFT-small; its weights are downloaded once into the torch hub cache). Flow is
computed on frames scaled so that their longer side is at most ``max_side`` pixels and returned
in full-resolution pixels.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

FLOW_METHODS = ("dis", "farneback", "raft")


class OpticalFlow:
    """Flow ``[H', W', 2]`` (dx, dy in full-frame pixels) from one RGB frame to the next.

    Args:
        method: ``"dis"``, ``"farneback"`` or ``"raft"``.
        max_side: longer side of the frames the flow is computed on.
        device: for RAFT.
    """

    def __init__(self, method: str = "dis", max_side: int = 640, device: str = "cpu") -> None:
        if method not in FLOW_METHODS:
            raise ValueError(f"flow method must be one of {', '.join(map(repr, FLOW_METHODS))} "
                             f"or None, got {method!r}")
        self.method = method
        self.max_side = max_side
        self.device = device
        self._dis = (cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
                     if method == "dis" else None)
        self._raft = None

    def _prepare(self, frame: np.ndarray):
        h, w = frame.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        if scale < 1.0:
            frame = cv2.resize(frame, (round(w * scale), round(h * scale)),
                               interpolation=cv2.INTER_AREA)
        return frame, scale

    def __call__(self, previous: np.ndarray, current: np.ndarray) -> "Flow":
        prev, scale = self._prepare(previous)
        cur, _ = self._prepare(current)
        if self.method == "raft":
            field = self._raft_flow(prev, cur)
        else:
            g0 = cv2.cvtColor(prev, cv2.COLOR_RGB2GRAY)
            g1 = cv2.cvtColor(cur, cv2.COLOR_RGB2GRAY)
            if self.method == "dis":
                field = self._dis.calc(g0, g1, None)
            else:
                field = cv2.calcOpticalFlowFarneback(g0, g1, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        return Flow(field / scale, scale)

    def _raft_flow(self, prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
        import torch
        from torchvision.models.optical_flow import Raft_Small_Weights, raft_small

        if self._raft is None:
            from pose.checkpoint_reader import read_checkpoint
            from pose.downloads import fetch_to_cache

            model = raft_small(weights=None)
            path = fetch_to_cache(Raft_Small_Weights.DEFAULT.url)
            model.load_state_dict(read_checkpoint(path))
            self._raft = model.eval().to(self.device)
        h, w = prev.shape[:2]
        ph, pw = (8 - h % 8) % 8, (8 - w % 8) % 8

        def tensor(img):
            x = torch.from_numpy(np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="edge"))
            return x.permute(2, 0, 1)[None].float().div(127.5).sub(1).to(self.device)

        with torch.inference_mode():
            flow = self._raft(tensor(prev), tensor(cur))[-1][0]
        return flow.permute(1, 2, 0)[:h, :w].cpu().numpy()


class Flow:
    """A flow field at ``scale`` of the frame, values in full-frame pixels."""

    def __init__(self, field: np.ndarray, scale: float) -> None:
        self.field = field.astype(np.float32)
        self.scale = scale

    def displacement(self, points: np.ndarray) -> np.ndarray:
        """``[..., 2]`` flow at full-frame points ``[..., 2]`` (x, y), bilinearly sampled."""
        pts = np.asarray(points, dtype=np.float32).reshape(-1, 2) * self.scale
        if not len(pts):
            return np.zeros(np.shape(points), np.float32)
        map_x = np.ascontiguousarray(pts[:, 0].reshape(-1, 1))
        map_y = np.ascontiguousarray(pts[:, 1].reshape(-1, 1))
        d = cv2.remap(self.field, map_x, map_y, cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
        return d.reshape(np.shape(points))

    def camera_motion(self, exclude: Optional[np.ndarray] = None,
                      min_fraction: float = 0.1) -> np.ndarray:
        """``[2]`` the camera's motion (x, y full-frame pixels): the median flow of the
        background - the frame outside the boxes ``exclude`` ``[N, 4+]`` (the people, who move
        on their own). Zero when less than ``min_fraction`` of the frame is background."""
        step = 4  # every 4th row and column: plenty for a median
        field = self.field[::step, ::step]
        h, w = field.shape[:2]
        background = np.ones((h, w), bool)
        if exclude is not None and len(exclude):
            scaled = np.asarray(exclude, np.float64)[:, :4] * (self.scale / step)
            scaled = np.concatenate([np.floor(scaled[:, :2]), np.ceil(scaled[:, 2:])], 1)
            for x1, y1, x2, y2 in np.clip(scaled, 0, [w, h, w, h]).astype(int):
                background[y1:y2, x1:x2] = False
        if background.mean() < min_fraction:
            return np.zeros(2)
        return np.median(field[background], axis=0).astype(np.float64)

    def move(self, points: np.ndarray) -> np.ndarray:
        """Points ``[..., 2]`` moved to the next frame."""
        return np.asarray(points, dtype=np.float64) + self.displacement(points)


def build_flow(method: Optional[str], max_side: int = 640, device: str = "cpu"
               ) -> Optional[OpticalFlow]:
    return None if method in (None, "none") else OpticalFlow(method, max_side, device)
