"""Detection on overlapping tiles, for frames much larger than a detector's input.

A small-input detector (YOLOX-nano: 416x416) sees a 1920x1080 frame shrunk 4.6 times, and people
of 100 pixels become 20. Running it also on a grid of overlapping tiles, each shrunk less, and
merging with NMS recovers them. Boxes that a tile cut at one of its inner borders are dropped
(the whole frame or a neighbouring tile sees those people whole).
"""
from __future__ import annotations

import math
from typing import Callable, List, Tuple

import numpy as np
import torch
from torchvision.ops import nms

Region = Tuple[int, int, int, int]


def auto_grid(frame_size: Tuple[int, int], input_size: Tuple[int, int],
              max_shrink: float = 2.6) -> Tuple[int, int]:
    """(columns, rows) so that each tile is shrunk at most ``max_shrink`` times to fit the
    input; (1, 1) when the frame itself is."""
    h, w = frame_size
    shrink = max(w / input_size[1], h / input_size[0])
    if shrink <= max_shrink:
        return 1, 1
    return max(1, math.ceil(w / (input_size[1] * max_shrink))), \
        max(1, math.ceil(h / (input_size[0] * max_shrink)))


def tile_regions(frame_size: Tuple[int, int], grid: Tuple[int, int],
                 overlap: float = 0.2) -> List[Region]:
    """``x0, y0, x1, y1`` of a ``grid = (columns, rows)`` of tiles overlapping by ``overlap``."""
    h, w = frame_size
    cols, rows = grid
    tw = w / (cols - (cols - 1) * overlap)
    th = h / (rows - (rows - 1) * overlap)
    regions = []
    for r in range(rows):
        for c in range(cols):
            x0, y0 = int(round(c * tw * (1 - overlap))), int(round(r * th * (1 - overlap)))
            regions.append((x0, y0, min(w, int(round(x0 + tw))), min(h, int(round(y0 + th)))))
    return regions


def detect_tiled(detect: Callable, frame: np.ndarray, grid: Tuple[int, int],
                 iou_threshold: float = 0.5, border: float = 2.0,
                 batched: bool = False) -> np.ndarray:
    """Boxes ``[N, 5]`` of ``frame`` from ``detect`` run on the whole frame and on each tile,
    merged by NMS. ``detect`` maps one image to its boxes ``[M, 5]``, or with ``batched`` a list
    of images (the frame, then the tiles) to a list of boxes in one call."""
    h, w = frame.shape[:2]
    regions = tile_regions((h, w), grid) if grid != (1, 1) else []
    images = [frame] + [np.ascontiguousarray(frame[y0:y1, x0:x1]) for x0, y0, x1, y1 in regions]
    results = detect(images) if batched else [detect(image) for image in images]
    found = [results[0]]
    for (x0, y0, x1, y1), boxes in zip(regions, results[1:]):
        boxes = boxes.copy()
        boxes[:, [0, 2]] += x0
        boxes[:, [1, 3]] += y0
        cut = np.zeros(len(boxes), dtype=bool)  # touching an inner tile border
        if x0 > 0:
            cut |= boxes[:, 0] <= x0 + border
        if y0 > 0:
            cut |= boxes[:, 1] <= y0 + border
        if x1 < w:
            cut |= boxes[:, 2] >= x1 - border
        if y1 < h:
            cut |= boxes[:, 3] >= y1 - border
        found.append(boxes[~cut])
    boxes = np.concatenate(found).astype(np.float32)
    if len(found) > 1 and len(boxes):
        keep = nms(torch.from_numpy(boxes[:, :4]), torch.from_numpy(boxes[:, 4]),
                   iou_threshold).numpy()
        boxes = boxes[keep]
    return boxes[np.argsort(-boxes[:, 4], kind="stable")]
