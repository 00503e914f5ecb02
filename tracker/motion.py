"""The box motion model: a constant-velocity Kalman filter per track, run on all tracks at once.

State per track (8 values): box centre ``cx, cy``, aspect ratio ``a = w / h``, height ``h``, and
their velocities per frame - the parametrisation of SORT's successors DeepSORT and ByteTrack,
whose noise is proportional to the box height, so the same filter serves people of 50 and 500
pixels. Measurements are boxes (``cx, cy, a, h``).

The noise is frame-rate aware: DeepSORT's standard deviations (1/20 of the height for
positions, 1/160 for velocities) are per frame at 30 frames/s; at ``fps`` the velocity noise
grows with the frame interval (a person's changes of speed add more motion per frame at 7
frames/s than at 30). With this scaling the filter's normalised innovations keep the same
distribution at 8, 12.5 and 25 frames/s on ``python -m benchmarks.mot.synthetic``'s sequences
(scaling the position noise too, or the velocity noise with the interval squared, makes the
filter ever more uncertain at low frame rates).

The equations are the textbook (and ``filterpy.kalman``) ones, written on stacked arrays
(``means [T, 8]``, ``covariances [T, 8, 8]``) so that predicting 20 tracks is one batched
product instead of 20 filter objects (a ``filterpy.kalman.KalmanFilter`` costs about 0.1 ms per
track and frame, the whole tracker's budget); ``tests/test_tracker_motion.py`` checks them
against ``filterpy``.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

DIM = 4  # measured: cx, cy, a, h
POSITION_STD = 1.0 / 20  # DeepSORT / ByteTrack, of the height, per frame at 30 frames/s
VELOCITY_STD = 1.0 / 160
ASPECT_STD, ASPECT_VELOCITY_STD = 1e-2, 1e-5
MEASURED_ASPECT_STD = 1e-1
REFERENCE_FPS = 30.0

#: chi-square 0.95 quantile with 4 degrees of freedom: the gate of a box measurement
GATE_4DOF = 9.4877


def to_xyah(boxes: np.ndarray) -> np.ndarray:
    """``[N, 4+]`` x1, y1, x2, y2 -> ``[N, 4]`` cx, cy, w / h, h (heights kept >= 1e-3)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    out = np.empty((len(boxes), 4))
    w = boxes[:, 2] - boxes[:, 0]
    h = np.maximum(boxes[:, 3] - boxes[:, 1], 1e-3)
    out[:, 0] = boxes[:, 0] + w / 2
    out[:, 1] = boxes[:, 1] + h / 2
    out[:, 2] = w / h
    out[:, 3] = h
    return out


def to_xyxy(xyah: np.ndarray) -> np.ndarray:
    """``[N, 4+]`` cx, cy, a, h (extra columns ignored) -> ``[N, 4]`` x1, y1, x2, y2."""
    xyah = np.asarray(xyah, dtype=np.float64)
    half = np.empty((len(xyah), 2))
    half[:, 1] = xyah[:, 3] / 2
    half[:, 0] = xyah[:, 2] * half[:, 1]
    return np.concatenate([xyah[:, :2] - half, xyah[:, :2] + half], axis=1)


class BoxKalman:
    """Constant-velocity Kalman filter on ``cx, cy, a, h`` for many tracks at once.

    ``F`` (state transition, :attr:`motion`) adds each velocity to its value once per frame;
    ``H`` (:attr:`observation`) takes the first four values. Products with them are written
    as the index operations they amount to.

    Args:
        fps: frame rate of the video (scales the process noise, see the module doc).
    """

    def __init__(self, fps: float = REFERENCE_FPS) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.motion = np.eye(2 * DIM)  # F: x += v per frame
        self.motion[:DIM, DIM:] = np.eye(DIM)
        self.observation = np.eye(DIM, 2 * DIM)  # H: the box part of the state
        self.position_noise = POSITION_STD
        self.velocity_noise = VELOCITY_STD * REFERENCE_FPS / fps  # per frame interval
        # variances = height^2 * scaled + fixed (the aspect ratio's noise does not scale)
        p2, v2 = self.position_noise ** 2, self.velocity_noise ** 2
        self._q_scaled = np.array([p2, p2, 0, p2, v2, v2, 0, v2])
        self._q_fixed = np.array([0, 0, ASPECT_STD ** 2, 0, 0, 0, ASPECT_VELOCITY_STD ** 2, 0])
        self._r_scaled = np.array([1, 1, 0, 1]) * POSITION_STD ** 2
        self._r_fixed = np.array([0, 0, MEASURED_ASPECT_STD ** 2, 0])

    def initiate(self, xyah: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """New tracks at boxes ``[K, 4]`` (cx, cy, a, h): means ``[K, 8]`` (velocity 0) and
        covariances ``[K, 8, 8]`` (wide velocity uncertainty)."""
        xyah = np.asarray(xyah, dtype=np.float64).reshape(-1, DIM)
        h = xyah[:, 3]
        mean = np.concatenate([xyah, np.zeros_like(xyah)], axis=1)
        p, v = 2 * POSITION_STD * h, 10 * VELOCITY_STD * h
        std = np.stack([p, p, np.full_like(h, 1e-2), p, v, v, np.full_like(h, 1e-5), v], axis=1)
        return mean, _diagonal(std ** 2)

    def process_variances(self, mean: np.ndarray) -> np.ndarray:
        """``[T, 8]`` the diagonal of Q (one frame) at the tracks' heights."""
        return (mean[:, 3:4] ** 2) * self._q_scaled + self._q_fixed

    def measurement_variances(self, mean: np.ndarray) -> np.ndarray:
        """``[T, 4]`` the diagonal of R at the tracks' heights."""
        return (mean[:, 3:4] ** 2) * self._r_scaled + self._r_fixed

    def predict(self, mean: np.ndarray, covariance: np.ndarray
                ) -> Tuple[np.ndarray, np.ndarray]:
        """One frame ahead: ``x = F x``, ``P = F P F' + Q`` (new arrays)."""
        mean = mean.copy()
        mean[:, :DIM] += mean[:, DIM:]
        p = covariance.copy()  # F P F': rows, then columns, of position += velocity
        p[:, :DIM] += covariance[:, DIM:]
        p[:, :, :DIM] += p[:, :, DIM:]
        _diagonal_view(p)[:] += self.process_variances(mean)
        return mean, p

    def project(self, mean: np.ndarray, covariance: np.ndarray
                ) -> Tuple[np.ndarray, np.ndarray]:
        """The predicted measurement ``[T, 4]`` and its covariance ``H P H' + R`` ``[T, 4, 4]``."""
        s = covariance[:, :DIM, :DIM].copy()
        _diagonal_view(s)[:] += self.measurement_variances(mean)
        return mean[:, :DIM], s

    def update(self, mean: np.ndarray, covariance: np.ndarray, xyah: np.ndarray
               ) -> Tuple[np.ndarray, np.ndarray]:
        """Corrects ``mean [K, 8]``, ``covariance [K, 8, 8]`` with measured boxes ``[K, 4]``:
        ``K = P H' S^-1``, ``x += K (z - H x)``, ``P = (I - K H) P`` (new arrays)."""
        projected, s = self.project(mean, covariance)
        ph = covariance[:, :, :DIM]  # P H'  [K, 8, 4]
        gain = ph @ np.linalg.inv(s)  # [K, 8, 4]
        innovation = np.asarray(xyah, dtype=np.float64) - projected
        mean = mean + (gain @ innovation[:, :, None])[:, :, 0]
        covariance = covariance - gain @ covariance[:, :DIM, :]  # K H P
        return mean, covariance

    def gating_distance(self, mean: np.ndarray, covariance: np.ndarray, xyah: np.ndarray
                        ) -> np.ndarray:
        """``[T, N]`` squared Mahalanobis distances of boxes ``[N, 4]`` from the tracks'
        predicted measurements (compare with :data:`GATE_4DOF`)."""
        projected, s = self.project(mean, covariance)
        d = np.asarray(xyah, dtype=np.float64)[None, :, :] - projected[:, None, :]  # [T, N, 4]
        return np.einsum("tni,tij,tnj->tn", d, np.linalg.inv(s), d)


def _diagonal(values: np.ndarray) -> np.ndarray:
    """``[T, D]`` -> ``[T, D, D]`` diagonal matrices."""
    out = np.zeros(values.shape + values.shape[-1:])
    _diagonal_view(out)[:] = values
    return out


def _diagonal_view(matrices: np.ndarray) -> np.ndarray:
    """``[T, D]`` writable view of the diagonals of contiguous ``[T, D, D]`` matrices."""
    d = matrices.shape[-1]
    return matrices.reshape(len(matrices), d * d)[:, ::d + 1]
