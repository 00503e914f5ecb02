"""Drawing tracked poses on frames: skeletons coloured per identity, id labels, optional boxes."""
from __future__ import annotations

import colorsys
from typing import Optional, Tuple

import cv2
import numpy as np

from pose.keypoints import KeypointSet

UNTRACKED = (160, 160, 160)


def identity_color(track_id: int) -> Tuple[int, int, int]:
    """A bright RGB colour for a track id; consecutive ids get well separated hues (golden
    ratio steps) and the same id always the same colour. Negative ids are grey."""
    if track_id < 0:
        return UNTRACKED
    hue = (track_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_poses(frame: np.ndarray, poses: Optional[np.ndarray], track_ids: np.ndarray,
               keypoint_set: Optional[KeypointSet], boxes: Optional[np.ndarray] = None,
               joint_threshold: float = 0.3, text: Optional[str] = None) -> np.ndarray:
    """A copy of ``frame`` with the poses drawn.

    Args:
        frame: RGB uint8 ``[H, W, 3]``.
        poses: ``[N, J, 3]`` (x, y pixels, score); joints scoring below ``joint_threshold`` and
            limbs touching them are not drawn. None: people tracked as boxes alone (``boxes``
            are drawn, labelled with their ids).
        track_ids: ``[N]`` (-1: untracked, drawn grey without a label).
        keypoint_set: joint layout (skeleton edges); None with ``poses`` None.
        boxes: optional ``[N, 4+]`` x1, y1, x2, y2 pixels to outline.
        text: optional line drawn in the top-left corner (e.g. frames/s).
    """
    if poses is None:
        if boxes is None:
            raise ValueError("draw_poses without poses needs the boxes")
        poses = np.zeros((len(boxes), 0, 3))
        keypoint_set = None
    out = np.ascontiguousarray(frame.copy())
    scale = max(1.0, max(out.shape[:2]) / 720.0)
    thickness = max(1, int(round(2 * scale)))
    radius = max(2, int(round(3 * scale)))
    for n, pose in enumerate(np.asarray(poses)):
        tid = int(track_ids[n]) if n < len(track_ids) else -1
        color = identity_color(tid)
        ok = pose[:, 2] >= joint_threshold
        pts = np.round(pose[:, :2]).astype(np.int32)
        for a, b in (keypoint_set.skeleton if keypoint_set is not None else ()):
            if ok[a] and ok[b]:
                cv2.line(out, tuple(pts[a]), tuple(pts[b]), color, thickness, cv2.LINE_AA)
        for j in np.nonzero(ok)[0]:
            cv2.circle(out, tuple(pts[j]), radius, color, -1, cv2.LINE_AA)
        if boxes is not None and n < len(boxes):
            x1, y1, x2, y2 = np.round(boxes[n][:4]).astype(int)
            cv2.rectangle(out, (x1, y1), (x2, y2), color,
                          thickness if keypoint_set is None else max(1, thickness // 2))
        if tid >= 0:
            anchor = pts[ok].min(0) if ok.any() else (
                np.round(boxes[n][:2]).astype(int) if boxes is not None and n < len(boxes)
                else None)
            if anchor is not None:
                _label(out, str(tid), (int(anchor[0]), int(anchor[1]) - radius * 2), color,
                       scale)
    if text:
        _label(out, text, (int(8 * scale), int(24 * scale)), (255, 255, 255), scale)
    return out


def _label(image: np.ndarray, text: str, origin: Tuple[int, int], color, scale: float) -> None:
    font, size, weight = cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, max(1, int(round(scale)) + 1)
    (w, h), base = cv2.getTextSize(text, font, size, weight)
    x = min(max(origin[0], 0), max(image.shape[1] - w, 0))
    y = min(max(origin[1], h + base), image.shape[0] - base)
    cv2.rectangle(image, (x, y - h - base), (x + w, y + base), (0, 0, 0), -1)
    cv2.putText(image, text, (x, y), font, size, color, weight, cv2.LINE_AA)
