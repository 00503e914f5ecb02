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

The equations are the textbook (and ``filterpy.kalman``) ones. With this filter's transition
(each value plus its velocity), observation (the four values) and diagonal noise, a covariance
that starts diagonal stays made of four independent 2x2 blocks, one per value and its velocity;
so the covariance is kept as those blocks - ``[T, 3, 4]``: the values' variances, the
value-velocity covariances and the velocities' variances - and the filter is written
element-wise on all tracks at once (a ``filterpy.kalman.KalmanFilter`` per track costs about
0.1 ms a frame, the whole tracker's budget). ``tests/test_tracker_motion.py`` checks it against
``filterpy``'s full-matrix filter; :func:`full_covariance` gives the ``[T, 8, 8]`` matrices.
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

    Means are ``[T, 8]`` (values, then velocities); covariances ``[T, 3, 4]`` (see the module
    doc). :attr:`motion` and :attr:`observation` are the matrices F and H the filter amounts to.

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
        covariances ``[K, 3, 4]`` (wide velocity uncertainty)."""
        xyah = np.asarray(xyah, dtype=np.float64).reshape(-1, DIM)
        h = xyah[:, 3:4]
        mean = np.concatenate([xyah, np.zeros_like(xyah)], axis=1)
        cov = np.zeros((len(xyah), 3, DIM))
        cov[:, 0] = (2 * POSITION_STD * h) ** 2
        cov[:, 0, 2] = 1e-2 ** 2
        cov[:, 2] = (10 * VELOCITY_STD * h) ** 2
        cov[:, 2, 2] = 1e-5 ** 2
        return mean, cov

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
        pxx, pxv, pvv = covariance[:, 0], covariance[:, 1], covariance[:, 2]
        q = self.process_variances(mean)
        out = np.empty_like(covariance)
        out[:, 0] = pxx + 2 * pxv + pvv + q[:, :DIM]
        out[:, 1] = pxv + pvv
        out[:, 2] = pvv + q[:, DIM:]
        return mean, out

    def project(self, mean: np.ndarray, covariance: np.ndarray
                ) -> Tuple[np.ndarray, np.ndarray]:
        """The predicted measurement ``[T, 4]`` and the variances ``[T, 4]`` of ``H P H' + R``
        (a diagonal matrix)."""
        return mean[:, :DIM], covariance[:, 0] + self.measurement_variances(mean)

    def update(self, mean: np.ndarray, covariance: np.ndarray, xyah: np.ndarray
               ) -> Tuple[np.ndarray, np.ndarray]:
        """Corrects ``mean [K, 8]``, ``covariance [K, 3, 4]`` with measured boxes ``[K, 4]``:
        ``K = P H' S^-1``, ``x += K (z - H x)``, ``P = (I - K H) P`` (new arrays)."""
        projected, s = self.project(mean, covariance)
        pxx, pxv, pvv = covariance[:, 0], covariance[:, 1], covariance[:, 2]
        gain_x, gain_v = pxx / s, pxv / s
        innovation = np.asarray(xyah, dtype=np.float64) - projected
        mean = mean + np.concatenate([gain_x * innovation, gain_v * innovation], axis=1)
        out = np.empty_like(covariance)
        out[:, 0] = pxx - gain_x * pxx
        out[:, 1] = pxv - gain_x * pxv
        out[:, 2] = pvv - gain_v * pxv
        return mean, out

    def gating_distance(self, mean: np.ndarray, covariance: np.ndarray, xyah: np.ndarray
                        ) -> np.ndarray:
        """``[T, N]`` squared Mahalanobis distances of boxes ``[N, 4]`` from the tracks'
        predicted measurements (compare with :data:`GATE_4DOF`)."""
        projected, s = self.project(mean, covariance)
        d = np.asarray(xyah, dtype=np.float64)[None, :, :] - projected[:, None, :]  # [T, N, 4]
        return (d * d / s[:, None, :]).sum(-1)


def full_covariance(covariance: np.ndarray) -> np.ndarray:
    """``[T, 3, 4]`` covariance blocks -> the ``[T, 8, 8]`` matrices."""
    out = np.zeros((len(covariance), 2 * DIM, 2 * DIM))
    i = np.arange(DIM)
    out[:, i, i] = covariance[:, 0]
    out[:, i, i + DIM] = out[:, i + DIM, i] = covariance[:, 1]
    out[:, i + DIM, i + DIM] = covariance[:, 2]
    return out


#: width / height of a standing person, for boxes cut by the frame's edge
PERSON_ASPECT = 0.41
EDGE_MARGIN = 2.0  # pixels: a box this close to the frame's edge is taken as cut by it


def measured_xyah(boxes: np.ndarray, frame_shape=None) -> np.ndarray:
    """``[N, 4+]`` boxes -> ``[N, 4]`` cx, cy, a, h measurements. With ``frame_shape``
    ``(height, width)``, a box cut by the left or right edge of the frame (and not both) is
    measured from its inner edge with at least a standing person's width, so that a person
    walking into or out of the frame is measured moving at their own speed, not half of it."""
    xyah = to_xyah(boxes)
    if frame_shape is None or not len(xyah):
        return xyah
    boxes = np.asarray(boxes, dtype=np.float64)
    x1, x2 = boxes[:, 0], boxes[:, 2]
    left, right = x1 <= EDGE_MARGIN, x2 >= frame_shape[1] - EDGE_MARGIN
    cut = np.flatnonzero(left ^ right)
    if not len(cut):  # the usual frame: nobody at the sides
        return xyah
    width = np.maximum(x2[cut] - x1[cut], PERSON_ASPECT * xyah[cut, 3])
    xyah[cut, 0] = np.where(left[cut], x2[cut] - width / 2, x1[cut] + width / 2)
    xyah[cut, 2] = width / xyah[cut, 3]
    return xyah
