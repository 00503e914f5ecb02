"""The detector interface: RGB frames in, person boxes out.

Boxes are float32 arrays ``[N, 5]``: ``x1, y1, x2, y2, score`` in pixels of the frame they were
detected in (x right, y down, corners as continuous coordinates), persons only, sorted by
decreasing score.
"""
from __future__ import annotations

import abc
from typing import List, Sequence

import numpy as np

EMPTY = np.zeros((0, 5), dtype=np.float32)


def as_boxes(boxes: np.ndarray, scores: np.ndarray, score_threshold: float = 0.0) -> np.ndarray:
    """``[N, 4]`` boxes and ``[N]`` scores -> ``[M, 5]`` float32 rows scoring at least
    ``score_threshold``, best first."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    keep = scores >= score_threshold
    out = np.concatenate([boxes[keep], scores[keep, None]], axis=1)
    return out[np.argsort(-out[:, 4], kind="stable")]


def check_frames(frames: Sequence[np.ndarray]) -> List[np.ndarray]:
    """Validates a list of RGB uint8 frames ``[H, W, 3]``."""
    if isinstance(frames, np.ndarray) and frames.ndim == 3:
        raise TypeError("detect() takes a list of frames; wrap a single frame in a list")
    out = []
    for i, frame in enumerate(frames):
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frame {i}: expected an RGB uint8 array [H, W, 3], got "
                             f"{frame.dtype} {frame.shape}")
        out.append(frame)
    return out


class Detector(abc.ABC):
    """A person detector. Subclasses implement :meth:`_detect` on validated frames."""

    name: str = "detector"

    def __init__(self, score_threshold: float = 0.5) -> None:
        self.score_threshold = score_threshold

    def detect(self, frames: Sequence[np.ndarray]) -> List[np.ndarray]:
        """Person boxes ``[N, 5]`` (float32, see module doc) for each RGB uint8 frame."""
        frames = check_frames(frames)
        if not frames:
            return []
        return self._detect(frames)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Boxes of a single frame."""
        return self.detect([frame])[0]

    @abc.abstractmethod
    def _detect(self, frames: List[np.ndarray]) -> List[np.ndarray]:
        ...
