"""Gaussian heatmap targets with per-joint weights, as the official ``generate_target``."""
from __future__ import annotations

from typing import Tuple

import numpy as np


def gaussian_targets(joints: np.ndarray, input_size: Tuple[int, int],
                     heatmap_size: Tuple[int, int], sigma: float = 2.0
                     ) -> Tuple[np.ndarray, np.ndarray]:
    """Unnormalised Gaussians (peak 1) at the joints, on the heatmap grid.

    Args:
        joints: ``[J, 3]`` x, y in network-input pixels and visibility (> 0: labelled).
        input_size, heatmap_size: ``(height, width)``.
        sigma: Gaussian standard deviation in heatmap pixels.
    Returns:
        ``target [J, h, w]`` float32 and ``weight [J, 1]`` float32: the visibility, set to 0 where
        the ``6 sigma + 1`` window lies wholly outside the heatmap. As the official code, the
        centre is ``int(x / stride + 0.5)`` (truncation) and the window is clipped at the border.
    """
    height, width = heatmap_size
    stride_x, stride_y = input_size[1] / width, input_size[0] / height
    num_joints = len(joints)
    target = np.zeros((num_joints, height, width), dtype=np.float32)
    weight = np.asarray(joints[:, 2:3], dtype=np.float32).copy()
    radius = sigma * 3
    size = 2 * radius + 1
    grid = np.arange(0, size, 1, np.float32)
    middle = size // 2
    gaussian = np.exp(-((grid - middle) ** 2 + (grid[:, None] - middle) ** 2) / (2 * sigma ** 2))
    for j in range(num_joints):
        mu_x = int(joints[j, 0] / stride_x + 0.5)
        mu_y = int(joints[j, 1] / stride_y + 0.5)
        left, top = int(mu_x - radius), int(mu_y - radius)
        right, bottom = int(mu_x + radius + 1), int(mu_y + radius + 1)
        if left >= width or top >= height or right < 0 or bottom < 0:
            weight[j] = 0
            continue
        if weight[j] > 0.5:
            gx0, gx1 = max(0, -left), min(right, width) - left
            gy0, gy1 = max(0, -top), min(bottom, height) - top
            target[j, max(0, top):min(bottom, height), max(0, left):min(right, width)] = \
                gaussian[gy0:gy1, gx0:gx1]
    return target, weight
