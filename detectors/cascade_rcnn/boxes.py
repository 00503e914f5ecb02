"""Box operations of mmdet 2.x's test-time algorithm, on ``x1, y1, x2, y2`` tensors in pixels:
delta decoding, anchor grids and mmcv's grouped NMS (see :mod:`detectors.cascade_rcnn`)."""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torchvision.ops import nms

_MAX_LOG_RATIO = abs(math.log(16 / 1000))  # mmdet's wh_ratio_clip


def decode_boxes(boxes: Tensor, deltas: Tensor, stds: Sequence[float],
                 max_hw: Optional[Tensor] = None) -> Tensor:
    """Applies ``(dx, dy, dw, dh)`` deltas (normalised by ``stds``) to ``x1y1x2y2`` boxes.

    Args:
        boxes: ``[..., 4]`` reference boxes (anchors or RoIs).
        deltas: ``[..., 4]`` network outputs; ``dw, dh`` are clamped to ``|log(0.016)|``.
        stds: the 4 de-normalisation factors (means are 0 in every config).
        max_hw: ``[..., 2]`` image ``(height, width)`` broadcastable to ``boxes``; when given,
            x is clipped to ``[0, width]`` and y to ``[0, height]``.

    Returns:
        ``[..., 4]`` boxes, same dtype as ``boxes``.
    """
    d = deltas * deltas.new_tensor(stds)
    centre = (boxes[..., :2] + boxes[..., 2:]) * 0.5
    size = boxes[..., 2:] - boxes[..., :2]
    centre = centre + size * d[..., :2]
    size = size * d[..., 2:].clamp(min=-_MAX_LOG_RATIO, max=_MAX_LOG_RATIO).exp()
    out = torch.cat([centre - size * 0.5, centre + size * 0.5], dim=-1)
    if max_hw is not None:
        bound = max_hw.flip(-1).to(out.dtype)  # (w, h)
        out = torch.minimum(out.clamp(min=0), torch.cat([bound, bound], -1))
    return out


def grid_anchors(stride: int, feat_hw: Tuple[int, int], ratios: Sequence[float],
                 scales: Sequence[float], base_size: Optional[float] = None,
                 device: Union[str, torch.device] = "cpu") -> Tensor:
    """mmdet 2.x anchors of one level: ``[H * W * A, 4]``, location-major (rows, then columns),
    then ratio-major over ``A = len(ratios) * len(scales)``. An anchor of ratio ``r`` (= h / w) and
    scale ``s`` is ``base_size * s / sqrt(r)`` wide and ``base_size * s * sqrt(r)`` tall, centred
    on ``(x * stride, y * stride)``; ``base_size`` defaults to the stride."""
    ratios_t = torch.tensor(ratios, dtype=torch.float32, device=device)
    scales_t = torch.tensor(scales, dtype=torch.float32, device=device)
    base = stride if base_size is None else base_size
    h_ratios = torch.sqrt(ratios_t)
    w_ratios = 1 / h_ratios
    ws = (base * w_ratios[:, None] * scales_t[None, :]).reshape(-1)
    hs = (base * h_ratios[:, None] * scales_t[None, :]).reshape(-1)
    base_anchors = torch.stack([-0.5 * ws, -0.5 * hs, 0.5 * ws, 0.5 * hs], dim=-1)
    h, w = feat_hw
    xs = torch.arange(w, device=device).to(torch.float32) * stride
    ys = torch.arange(h, device=device).to(torch.float32) * stride
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    shifts = torch.stack([xx, yy, xx, yy], dim=-1).reshape(-1, 1, 4)
    return (base_anchors[None] + shifts).reshape(-1, 4)


def batched_nms(boxes: Tensor, scores: Tensor, groups: Tensor, iou: float) -> Tensor:
    """NMS within each group as mmcv's ``batched_nms`` computes it: indices kept, best first.

    Groups are separated by mmcv's offset ``group * (max coordinate + 1)``; boxes are visited in
    ``scores.sort(descending=True)`` order as in mmcv's CPU kernel (torchvision's own sort is
    stable, which would break exact score ties differently)."""
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    offsets = groups.to(boxes) * (boxes.max() + torch.tensor(1).to(boxes))
    order = scores.sort(descending=True)[1]
    return order[nms((boxes + offsets[:, None])[order], scores[order], iou)]
