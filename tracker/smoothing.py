"""Temporal smoothing of a track's keypoints: One-Euro filter and a constant-velocity Kalman
filter (filterpy). Both take and return ``[J, 2]`` positions in pixels, one call per frame."""
from __future__ import annotations

import numpy as np


class OneEuroFilter:
    """One-Euro filter (Casiez et al., CHI 2012) per coordinate: a low-pass filter whose cut-off
    rises with speed, so slow motion is smoothed and fast motion is followed.

    Args:
        fps: frame rate. min_cutoff: cut-off (Hz) at rest. beta: speed coefficient.
        d_cutoff: cut-off of the speed estimate.
    """

    def __init__(self, fps: float = 30.0, min_cutoff: float = 1.0, beta: float = 0.05,
                 d_cutoff: float = 1.0) -> None:
        self.dt = 1.0 / fps
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x = None
        self.dx = None

    def _alpha(self, cutoff):
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau / self.dt)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.x is None:
            self.x, self.dx = x.copy(), np.zeros_like(x)
            return x.copy()
        a_d = self._alpha(self.d_cutoff)
        self.dx = a_d * (x - self.x) / self.dt + (1 - a_d) * self.dx
        a = self._alpha(self.min_cutoff + self.beta * np.abs(self.dx))
        self.x = a * x + (1 - a) * self.x
        return self.x.copy()


class KeypointKalman:
    """Constant-velocity Kalman filter over all joints (state: positions and velocities).

    Args:
        num_joints: J. process_noise: acceleration noise (pixels/frame^2).
        measurement_noise: position noise (pixels).
    """

    def __init__(self, num_joints: int, process_noise: float = 1.0,
                 measurement_noise: float = 4.0) -> None:
        from filterpy.kalman import KalmanFilter

        n = 2 * num_joints
        kf = KalmanFilter(dim_x=2 * n, dim_z=n)
        kf.F = np.eye(2 * n)
        kf.F[:n, n:] = np.eye(n)
        kf.H = np.zeros((n, 2 * n))
        kf.H[:, :n] = np.eye(n)
        kf.R *= measurement_noise ** 2
        q = process_noise ** 2
        kf.Q = np.block([[np.eye(n) * q / 4, np.eye(n) * q / 2],
                         [np.eye(n) * q / 2, np.eye(n) * q]])
        kf.P[n:, n:] *= 100.0
        self.kf, self.n, self.started = kf, n, False

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = np.asarray(x, dtype=np.float64).reshape(-1)
        if not self.started:
            self.kf.x[: self.n, 0] = z
            self.started = True
            return z.reshape(-1, 2)
        self.kf.predict()
        self.kf.update(z)
        return self.kf.x[: self.n, 0].reshape(-1, 2).copy()


def build_smoother(method, num_joints: int, fps: float = 30.0):
    if method in (None, "none"):
        return None
    if method == "one_euro":
        return OneEuroFilter(fps)
    if method == "kalman":
        return KeypointKalman(num_joints)
    raise ValueError(f"smoothing must be None, 'one_euro' or 'kalman', got {method!r}")
