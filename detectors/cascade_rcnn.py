"""Cascade R-CNN person detector: mmdetection 2.x's ``cascade_rcnn_*_fpn`` models in PyTorch.

A reimplementation on ``torchvision.ops`` (no mmcv / mmdet needed) of the network and the
single-image test-time algorithm of mmdetection 2.x (as of 2.28) for
``configs/cascade_rcnn/cascade_rcnn_x101_64x4d_fpn_{1x,20e}_coco.py`` -- the detector whose boxes
the PoseTrack18 literature used. mmdet's published checkpoints load one to one (same
``state_dict`` keys, shapes and order) and give mmdet's boxes: on seeded random weights, the
outputs of all 80 classes were identical (difference 0.0, same order) to those of mmdet 2.28.2's
``inference_detector`` with mmcv 1.7.2 (its NMS; torchvision's RoIAlign), for the full
X-101-64x4d model and for small ones (see ``tests/test_cascade_rcnn.py``).

Test-time steps (``CascadeRCNNConfig`` holds every number):

1. **Resize** keeping the aspect ratio to fit ``img_scale`` = (1333, 800) (long edge <= 1333, short
   edge <= 800): factor ``min(1333 / long, 800 / short)``, new size ``int(side * factor + 0.5)``,
   ``cv2.resize`` bilinear on the uint8 frame. ``scale_factor = (new_w / w, new_h / h)``.
2. **Normalise** RGB with ImageNet mean/std in 0-255 units (mmdet's ``to_rgb=True`` on BGR input;
   frames here are already RGB) with mmcv's ``imnormalize`` operations (:func:`normalize`), then
   **pad** bottom/right with zeros to a multiple of 32.
3. **Backbone** ResNet/ResNeXt (pytorch style: stride on the 3x3 conv), **FPN** with 5 outputs
   (nearest upsampling, extra level by 1x1 max-pool with stride 2).
4. **RPN**: 3 anchors per location (ratios h/w 0.5, 1, 2; size 8 x stride; strides 4..64; anchor
   centres on ``(x * stride, y * stride)``, i.e. centre offset 0), sigmoid objectness, the 1000
   best per level, deltas decoded (stds 1), clipped to the resized image, zero-size boxes dropped,
   NMS 0.7 within each level, the 1000 best kept.
5. **Three cascade stages**: RoIAlign 7x7 (``aligned=True``, adaptive sampling) from the level
   ``floor(log2(sqrt(area) / 56 + 1e-6))`` clamped to P2..P5, two shared FC layers (1024), 81 logits
   (80 COCO classes + background last) and 4 class-agnostic deltas with stds (0.1, 0.1, 0.2, 0.2),
   (0.05, 0.05, 0.1, 0.1), (0.033, 0.033, 0.067, 0.067). Stages 1 and 2 refine the boxes (clipped).
6. **Scores** = softmax of the *mean of the three stages' logits* (mmdet averages the raw
   ``cls_score`` of the stages and applies softmax once); boxes = last stage's deltas applied to its
   input boxes, clipped, divided by ``scale_factor`` (back to frame pixels).
7. **Per-class NMS** 0.5 over all (box, class) pairs scoring > 0.05, the 100 best over all classes
   kept; :class:`CascadeRCNNDetector` then returns the person (COCO class 0) ones.

Boxes are ``x1, y1, x2, y2`` in pixels, continuous coordinates (a box covering pixel columns 0..9
has ``x2 = 10``), as mmdet 2.x (no +1 conventions).

NMS reproduces mmcv's ``batched_nms``: the groups are separated by mmcv's coordinate offset
``group * (max coordinate + 1)`` and one ``torchvision.ops.nms`` runs on the offset boxes (IoUs
from the very same float32 numbers), visiting boxes in ``torch.sort`` order as mmcv's CPU kernel
does, so that even exact score ties resolve alike (mmcv's CUDA kernel may order ties otherwise).

Frames of one padded size go through the network together (``batch_size`` per forward pass);
frames of different sizes are never padded to a common size, so every frame gets exactly the boxes
mmdet's single-image test gives it (bigger padding would change the features near the borders).
"""
from __future__ import annotations

import math
import os
import urllib.parse
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import nms, roi_align

from pose.checkpoint_reader import CheckpointError, read_checkpoint
from pose.checkpoints import download_checkpoint
from pose.zoo import hash_prefix_from_name

from .base import Detector, as_boxes

PERSON = 0  # COCO class index of "person" in mmdet's 80-class heads

# ----------------------------------------------------------------------------------------------
# Configuration and published checkpoints


@dataclass(frozen=True)
class CascadeRCNNConfig:
    """Architecture and test-time settings; the defaults are mmdet 2.x's X-101-64x4d-FPN model.

    Architecture: ``depth`` 50/101/152 picks the blocks per stage (``stage_blocks`` overrides it),
    ``groups`` x ``base_width`` the ResNeXt cardinality and width (``groups=1``: plain ResNet),
    ``base_channels`` the stem width (64; smaller only for tests). Test time: see the module doc.
    """

    depth: int = 101
    groups: int = 64
    base_width: int = 4
    base_channels: int = 64
    stage_blocks: Optional[Tuple[int, int, int, int]] = None
    fpn_channels: int = 256
    fc_channels: int = 1024
    num_classes: int = 80
    # pre-processing (RGB order)
    img_scale: Tuple[int, int] = (1333, 800)
    size_divisor: int = 32
    mean: Tuple[float, float, float] = (123.675, 116.28, 103.53)
    std: Tuple[float, float, float] = (58.395, 57.12, 57.375)
    # RPN
    anchor_strides: Tuple[int, ...] = (4, 8, 16, 32, 64)
    anchor_ratios: Tuple[float, ...] = (0.5, 1.0, 2.0)
    anchor_scales: Tuple[float, ...] = (8.0,)
    rpn_nms_pre: int = 1000
    rpn_max_per_img: int = 1000
    rpn_iou: float = 0.7
    rpn_min_size: float = 0.0
    # cascade RoI heads
    roi_size: int = 7
    roi_strides: Tuple[int, ...] = (4, 8, 16, 32)
    finest_scale: float = 56.0
    stage_stds: Tuple[Tuple[float, float, float, float], ...] = (
        (0.1, 0.1, 0.2, 0.2), (0.05, 0.05, 0.1, 0.1), (0.033, 0.033, 0.067, 0.067))
    score_thr: float = 0.05
    nms_iou: float = 0.5
    max_per_img: int = 100

    @property
    def blocks(self) -> Tuple[int, ...]:
        if self.stage_blocks is not None:
            return tuple(self.stage_blocks)
        table = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
        if self.depth not in table:
            raise ValueError(f"depth must be 50, 101 or 152 (bottleneck ResNets), got {self.depth}")
        return table[self.depth]


CONFIGS: Dict[str, CascadeRCNNConfig] = {
    "x101_64x4d": CascadeRCNNConfig(),
    "x101_32x4d": CascadeRCNNConfig(groups=32),
    "r101": CascadeRCNNConfig(groups=1),
    "r50": CascadeRCNNConfig(depth=50, groups=1),
    # 0.2 M parameters, for tests: the same code paths on small images
    "tiny": CascadeRCNNConfig(stage_blocks=(1, 1, 1, 1), groups=2, base_width=4, base_channels=8,
                              fpn_channels=16, fc_channels=32, img_scale=(256, 192)),
}


def get_config(config: Union[str, CascadeRCNNConfig]) -> CascadeRCNNConfig:
    """A :class:`CascadeRCNNConfig` from itself or a name in :data:`CONFIGS`."""
    if isinstance(config, CascadeRCNNConfig):
        return config
    if config not in CONFIGS:
        raise KeyError(f"unknown Cascade R-CNN config {config!r}; known: {', '.join(CONFIGS)}")
    return CONFIGS[config]


@dataclass(frozen=True)
class ZooEntry:
    """A checkpoint of mmdetection's 2.x model zoo (``configs/cascade_rcnn/metafile.yml``)."""

    name: str
    config: str  # key of CONFIGS
    url: str
    sha256: str  # prefix, as in the file name
    box_ap: float  # COCO val2017 box AP, all 80 classes, as reported by mmdet
    epochs: int


_MMDET = "https://download.openmmlab.com/mmdetection/v2.0/cascade_rcnn/"
MMDET_ZOO: Dict[str, ZooEntry] = {e.name: e for e in (
    ZooEntry("cascade_rcnn_x101_64x4d_fpn_20e_coco", "x101_64x4d",
             _MMDET + "cascade_rcnn_x101_64x4d_fpn_20e_coco/"
             "cascade_rcnn_x101_64x4d_fpn_20e_coco_20200509_224357-051557b1.pth",
             "051557b1", 44.5, 20),
    ZooEntry("cascade_rcnn_x101_64x4d_fpn_1x_coco", "x101_64x4d",
             _MMDET + "cascade_rcnn_x101_64x4d_fpn_1x_coco/"
             "cascade_rcnn_x101_64x4d_fpn_1x_coco_20200515_075702-43ce6a30.pth",
             "43ce6a30", 44.7, 12),
)}
DEFAULT_WEIGHTS = "cascade_rcnn_x101_64x4d_fpn_20e_coco"

# ----------------------------------------------------------------------------------------------
# Box utilities

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


# ----------------------------------------------------------------------------------------------
# Network (module names = mmdet's checkpoint keys)


class Bottleneck(nn.Module):
    """ResNet / ResNeXt bottleneck, stride on the 3x3 convolution (mmdet ``style='pytorch'``)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int, groups: int, base_width: int,
                 base_channels: int, downsample: Optional[nn.Module] = None) -> None:
        super().__init__()
        width = planes
        if groups > 1:
            width = math.floor(planes * (base_width / base_channels)) * groups
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class ResNeXt(nn.Module):
    """mmdet's ``ResNet`` / ``ResNeXt`` backbone; returns the outputs of ``layer1..layer4``
    (strides 4, 8, 16, 32; ``out_channels`` = 4, 8, 16, 32 x ``base_channels``)."""

    def __init__(self, blocks: Sequence[int], groups: int = 1, base_width: int = 4,
                 base_channels: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, base_channels, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes, self.out_channels = base_channels, []
        for i, num in enumerate(blocks):
            planes, stride = base_channels * 2 ** i, 1 if i == 0 else 2
            outplanes = planes * Bottleneck.expansion
            downsample = None
            if stride != 1 or inplanes != outplanes:
                downsample = nn.Sequential(nn.Conv2d(inplanes, outplanes, 1, stride, bias=False),
                                           nn.BatchNorm2d(outplanes))
            layer = [Bottleneck(inplanes, planes, stride, groups, base_width, base_channels,
                                downsample)]
            layer += [Bottleneck(outplanes, planes, 1, groups, base_width, base_channels)
                      for _ in range(num - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*layer))
            inplanes = outplanes
            self.out_channels.append(outplanes)

    def forward(self, x: Tensor) -> List[Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outs = []
        for i in range(len(self.out_channels)):
            x = getattr(self, f"layer{i + 1}")(x)
            outs.append(x)
        return outs


class _Conv(nn.Module):
    """A biased convolution under the name ``conv`` (mmcv ``ConvModule`` without norm/act)."""

    def __init__(self, cin: int, cout: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class FPN(nn.Module):
    """Feature pyramid: 1x1 laterals, top-down nearest upsampling and sum, 3x3 output convs, then
    ``num_outs - len(in_channels)`` extra levels by 1x1 max-pooling with stride 2."""

    def __init__(self, in_channels: Sequence[int], channels: int, num_outs: int) -> None:
        super().__init__()
        self.lateral_convs = nn.ModuleList(_Conv(c, channels, 1) for c in in_channels)
        self.fpn_convs = nn.ModuleList(_Conv(channels, channels, 3) for _ in in_channels)
        self.num_outs = num_outs

    def forward(self, feats: Sequence[Tensor]) -> List[Tensor]:
        lat = [conv(f) for conv, f in zip(self.lateral_convs, feats)]
        for i in range(len(lat) - 1, 0, -1):
            lat[i - 1] = lat[i - 1] + F.interpolate(lat[i], size=lat[i - 1].shape[-2:],
                                                    mode="nearest")
        outs = [conv(x) for conv, x in zip(self.fpn_convs, lat)]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return outs


class RPNHead(nn.Module):
    """Shared 3x3 conv + ReLU, then per anchor one objectness logit and 4 deltas."""

    def __init__(self, channels: int, num_anchors: int) -> None:
        super().__init__()
        self.rpn_conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.rpn_cls = nn.Conv2d(channels, num_anchors, 1)
        self.rpn_reg = nn.Conv2d(channels, num_anchors * 4, 1)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """``[B, C, H, W]`` -> logits ``[B, H*W*A]``, deltas ``[B, H*W*A, 4]`` (anchor order of
        :func:`grid_anchors`)."""
        x = F.relu(self.rpn_conv(x))
        b = x.shape[0]
        logits = self.rpn_cls(x).permute(0, 2, 3, 1).reshape(b, -1)
        deltas = self.rpn_reg(x).permute(0, 2, 3, 1).reshape(b, -1, 4)
        return logits, deltas


class BBoxHead(nn.Module):
    """mmdet ``Shared2FCBBoxHead`` with class-agnostic regression: flatten, 2 x (FC + ReLU), then
    ``num_classes + 1`` logits (background last) and 4 deltas."""

    def __init__(self, in_features: int, channels: int, num_classes: int) -> None:
        super().__init__()
        self.fc_cls = nn.Linear(channels, num_classes + 1)
        self.fc_reg = nn.Linear(channels, 4)
        self.shared_fcs = nn.ModuleList([nn.Linear(in_features, channels),
                                         nn.Linear(channels, channels)])

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        x = x.flatten(1)
        for fc in self.shared_fcs:
            x = F.relu(fc(x))
        return self.fc_cls(x), self.fc_reg(x)


class CascadeRoIHead(nn.Module):
    """The three cascade stages (``bbox_head.0..2``); RoIAlign has no weights."""

    def __init__(self, config: CascadeRCNNConfig) -> None:
        super().__init__()
        feats = config.fpn_channels * config.roi_size ** 2
        self.bbox_head = nn.ModuleList(BBoxHead(feats, config.fc_channels, config.num_classes)
                                       for _ in config.stage_stds)


class CascadeRCNN(nn.Module):
    """mmdet 2.x ``CascadeRCNN`` (ResNet/ResNeXt + FPN + RPN + 3-stage cascade), test mode only.

    ``state_dict()`` keys and shapes equal mmdet's (``backbone.*``, ``neck.*``, ``rpn_head.*``,
    ``roi_head.bbox_head.{0,1,2}.*``), so :func:`load_mmdet_checkpoint` loads its files directly.
    Call :meth:`forward` on images from :func:`preprocess`.
    """

    def __init__(self, config: Union[str, CascadeRCNNConfig] = "x101_64x4d") -> None:
        super().__init__()
        self.config = cfg = get_config(config)
        if len(cfg.blocks) != len(cfg.roi_strides):
            raise ValueError("one RoI stride per backbone stage is needed")
        self.backbone = ResNeXt(cfg.blocks, cfg.groups, cfg.base_width, cfg.base_channels)
        self.neck = FPN(self.backbone.out_channels, cfg.fpn_channels, len(cfg.anchor_strides))
        self.rpn_head = RPNHead(cfg.fpn_channels, len(cfg.anchor_ratios) * len(cfg.anchor_scales))
        self.roi_head = CascadeRoIHead(cfg)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """mmdet's initialisation (only matters without a checkpoint)."""
        for m in self.backbone.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.neck.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.rpn_head.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
        for head in self.roi_head.bbox_head:
            for fc in head.shared_fcs:
                nn.init.xavier_uniform_(fc.weight)
                nn.init.zeros_(fc.bias)
            nn.init.normal_(head.fc_cls.weight, std=0.01)
            nn.init.normal_(head.fc_reg.weight, std=0.001)
            nn.init.zeros_(head.fc_cls.bias)
            nn.init.zeros_(head.fc_reg.bias)

    # -- RPN -------------------------------------------------------------------------------------

    def proposals(self, feats: Sequence[Tensor], image_sizes: Tensor) -> List[Tensor]:
        """RPN boxes ``[n_i <= rpn_max_per_img, 4]`` per image, best first, in input pixels.

        Args:
            feats: FPN outputs ``[B, C, H_l, W_l]``, one per anchor stride.
            image_sizes: ``[B, 2]`` (height, width) of the resized images before padding.
        """
        cfg = self.config
        batch = feats[0].shape[0]
        scores, deltas, anchors, levels = [], [], [], []
        for level, (x, stride) in enumerate(zip(feats, cfg.anchor_strides)):
            logits, reg = self.rpn_head(x)
            score = logits.sigmoid()
            anchor = grid_anchors(stride, tuple(x.shape[-2:]), cfg.anchor_ratios,
                                  cfg.anchor_scales, device=x.device).expand(batch, -1, -1)
            if 0 < cfg.rpn_nms_pre < score.shape[1]:
                score, order = score.sort(dim=1, descending=True)
                score, order = score[:, :cfg.rpn_nms_pre], order[:, :cfg.rpn_nms_pre, None]
                reg = reg.gather(1, order.expand(-1, -1, 4))
                anchor = anchor.gather(1, order.expand(-1, -1, 4))
            scores.append(score)
            deltas.append(reg)
            anchors.append(anchor)
            levels.append(torch.full(score.shape[1:], level, dtype=torch.long, device=x.device))
        scores, levels = torch.cat(scores, 1), torch.cat(levels)
        boxes = decode_boxes(torch.cat(anchors, 1), torch.cat(deltas, 1), (1.0, 1.0, 1.0, 1.0),
                             image_sizes[:, None, :])
        out = []
        for box, score in zip(boxes, scores):  # per image
            level = levels
            size = box[:, 2:] - box[:, :2]
            valid = (size > cfg.rpn_min_size).all(dim=1)
            if not bool(valid.all()):
                box, score, level = box[valid], score[valid], level[valid]
            keep = batched_nms(box, score, level, cfg.rpn_iou)[:cfg.rpn_max_per_img]
            out.append(box[keep])
        return out

    # -- cascade ---------------------------------------------------------------------------------

    def roi_features(self, feats: Sequence[Tensor], rois: Tensor) -> Tensor:
        """RoIAlign features ``[R, C, S, S]`` of ``rois`` ``[R, 5]`` (batch index, x1, y1, x2, y2),
        each from the pyramid level its size maps to."""
        cfg = self.config
        num_levels = len(cfg.roi_strides)
        scale = torch.sqrt((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2]))
        target = torch.floor(torch.log2(scale / cfg.finest_scale + 1e-6))
        target = target.clamp(min=0, max=num_levels - 1).long()
        out = rois.new_zeros(rois.shape[0], feats[0].shape[1], cfg.roi_size, cfg.roi_size)
        for level, stride in enumerate(cfg.roi_strides):
            index = torch.nonzero(target == level).squeeze(1)
            if index.numel():
                out[index] = roi_align(feats[level], rois[index], cfg.roi_size,
                                       spatial_scale=1 / stride, sampling_ratio=0, aligned=True)
        return out

    def forward(self, images: Tensor, image_sizes: Tensor,
                scale_factors: Optional[Tensor] = None) -> List[Tuple[Tensor, Tensor, Tensor]]:
        """Detections of all classes.

        Args:
            images: ``[B, 3, H, W]`` normalised, zero-padded images (see :func:`preprocess`);
                H and W multiples of 32.
            image_sizes: ``[B, 2]`` (height, width) of each image before padding.
            scale_factors: ``[B, 4]`` (w, h, w, h) resize factors; boxes are divided by them
                (i.e. returned in original-frame pixels). None: boxes in ``images`` pixels.

        Returns:
            Per image ``(boxes [K, 4], scores [K], labels [K])``, ``K <= max_per_img``, best first;
            labels are 0-based COCO class indices (0 = person).
        """
        cfg = self.config
        feats = self.neck(self.backbone(images))
        proposals = self.proposals(feats, image_sizes)
        counts = [len(p) for p in proposals]
        rois = torch.cat([torch.cat([p.new_full((len(p), 1), i), p], 1)
                          for i, p in enumerate(proposals)])
        batch_index = rois[:, 0].long()
        max_hw = image_sizes.to(rois)[batch_index]
        logits_sum = None
        heads = self.roi_head.bbox_head
        for stage, (head, stds) in enumerate(zip(heads, cfg.stage_stds)):
            logits, deltas = head(self.roi_features(feats[:len(cfg.roi_strides)], rois))
            logits_sum = logits if logits_sum is None else logits_sum + logits
            if stage < len(heads) - 1:
                rois = torch.cat([rois[:, :1], decode_boxes(rois[:, 1:], deltas, stds, max_hw)], 1)
        scores = F.softmax(logits_sum / float(len(heads)), dim=1)
        boxes = decode_boxes(rois[:, 1:], deltas, cfg.stage_stds[-1], max_hw)
        if scale_factors is not None:
            boxes = boxes / scale_factors.to(boxes)[batch_index]
        return [self._multiclass_nms(b, s) for b, s in zip(boxes.split(counts),
                                                           scores.split(counts))]

    def _multiclass_nms(self, boxes: Tensor, scores: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Per-class NMS of one image's ``[n, 4]`` boxes with ``[n, num_classes + 1]`` scores."""
        cfg = self.config
        roi, label = torch.nonzero(scores[:, :-1] > cfg.score_thr, as_tuple=True)
        boxes, scores = boxes[roi], scores[roi, label]
        keep = batched_nms(boxes, scores, label, cfg.nms_iou)[:cfg.max_per_img]
        return boxes[keep], scores[keep], label[keep]


# ----------------------------------------------------------------------------------------------
# Pre-processing


def resized_size(frame_hw: Tuple[int, int], img_scale: Tuple[int, int]) -> Tuple[int, int]:
    """mmcv ``rescale_size``: ``(height, width)`` of the largest aspect-preserving resize of a
    ``frame_hw`` image that fits ``img_scale`` (long edge <= max, short edge <= min)."""
    h, w = frame_hw
    factor = min(max(img_scale) / max(h, w), min(img_scale) / min(h, w))
    return int(h * float(factor) + 0.5), int(w * float(factor) + 0.5)


def resize_frame(frame: np.ndarray, img_scale: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """mmcv ``imrescale`` (cv2 bilinear) of a uint8 frame to :func:`resized_size`.

    Returns:
        ``(resized uint8 [h', w', 3], scale_factor float32 [4] = (w'/w, h'/h, w'/w, h'/h))``.
    """
    h, w = frame.shape[:2]
    new_h, new_w = resized_size((h, w), img_scale)
    resized = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return resized, np.array([new_w / w, new_h / h] * 2, dtype=np.float32)


def padded_size(frame_hw: Tuple[int, int], config: CascadeRCNNConfig) -> Tuple[int, int]:
    """``(height, width)`` of the network input a frame of ``frame_hw`` pixels becomes."""
    d = config.size_divisor
    return tuple(math.ceil(n / d) * d for n in resized_size(frame_hw, config.img_scale))


def normalize(frame: np.ndarray, config: CascadeRCNNConfig) -> np.ndarray:
    """An RGB uint8 frame ``[H, W, 3]`` -> float32 ``(x - mean) / std``, computed with the very
    operations of mmcv's ``imnormalize`` (float32 image, ``cv2.subtract`` of the float64 mean,
    ``cv2.multiply`` by the float64 ``1 / std``), so the rounding is mmcv's."""
    image = frame.astype(np.float32)
    cv2.subtract(image, np.float64(np.float32(config.mean)).reshape(1, -1), image)
    cv2.multiply(image, 1 / np.float64(np.float32(config.std)).reshape(1, -1), image)
    return image


def preprocess(frames: Sequence[np.ndarray], config: CascadeRCNNConfig,
               device: Union[str, torch.device] = "cpu") -> Tuple[Tensor, Tensor, Tensor]:
    """RGB uint8 frames ``[H_i, W_i, 3]`` -> network inputs as mmdet's test pipeline makes them.

    Returns:
        ``images [B, 3, H, W]`` float32 (normalised, zero-padded to a common multiple of
        ``size_divisor``), ``image_sizes [B, 2]`` long (resized height, width),
        ``scale_factors [B, 4]`` float32 (w, h, w, h).
    """
    resized, factors = zip(*(resize_frame(f, config.img_scale) for f in frames))
    d = config.size_divisor
    height = math.ceil(max(r.shape[0] for r in resized) / d) * d
    width = math.ceil(max(r.shape[1] for r in resized) / d) * d
    images = torch.zeros(len(frames), 3, height, width, device=device)
    for image, r in zip(images, resized):
        pixels = torch.from_numpy(normalize(r, config)).to(device)
        image[:, :r.shape[0], :r.shape[1]] = pixels.permute(2, 0, 1)
    sizes = torch.tensor([r.shape[:2] for r in resized], dtype=torch.long, device=device)
    return images, sizes, torch.from_numpy(np.stack(factors)).to(device)


# ----------------------------------------------------------------------------------------------
# Checkpoints


def resolve_weights(source: Union[str, os.PathLike], progress: bool = True) -> Path:
    """A local checkpoint file from a :data:`MMDET_ZOO` name, a URL (downloaded once into the
    torch hub cache, SHA-256 prefix checked) or a path."""
    text = os.fspath(source)
    if text in MMDET_ZOO:
        entry = MMDET_ZOO[text]
        return download_checkpoint(entry.url, entry.sha256, progress)
    if "://" in text:
        known = [e for e in MMDET_ZOO.values() if e.url == text]
        sha = known[0].sha256 if known else hash_prefix_from_name(
            os.path.basename(urllib.parse.urlparse(text).path))
        return download_checkpoint(text, sha, progress)
    path = Path(text).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {path} (known names: "
                                f"{', '.join(MMDET_ZOO)})")
    return path


def _listing(items: List[str], limit: int = 6) -> str:
    more = f"; ... ({len(items) - limit} more)" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


def load_mmdet_checkpoint(model: CascadeRCNN, source: Union[str, os.PathLike],
                          progress: bool = True) -> dict:
    """Loads an mmdet 2.x checkpoint (``{"meta": ..., "state_dict": ...}`` or a bare state dict)
    into ``model`` in place; keys are used as they are.

    Everything must match: missing, unexpected or differently shaped tensors raise
    :class:`pose.checkpoints.CheckpointError` naming them, and nothing is loaded. Only absent
    BatchNorm ``num_batches_tracked`` counters are tolerated (they do not affect inference).

    Returns:
        the checkpoint's ``meta`` dict (empty if none).
    """
    path = resolve_weights(source, progress)
    obj = read_checkpoint(path)
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: expected a dict, found {type(obj).__name__}")
    meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
    state = obj["state_dict"] if isinstance(obj.get("state_dict"), Mapping) else obj
    expected = model.state_dict()
    state = OrderedDict(state)
    for key, value in expected.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value.clone()
    not_tensors = [k for k, v in state.items() if not isinstance(v, Tensor)]
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected and k not in not_tensors]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
              if isinstance(state.get(k), Tensor) and state[k].shape != v.shape]
    if missing or unexpected or shapes or not_tensors:
        lines = [f"{path} does not fit the Cascade R-CNN model ({_describe(model.config)})."]
        if shapes:
            lines.append(f"{len(shapes)} tensors differ in shape (checkpoint vs model): "
                         + _listing(shapes) + ".")
        if missing:
            lines.append(f"{len(missing)} model keys are missing from the checkpoint: "
                         + _listing(missing) + ".")
        if unexpected:
            lines.append(f"{len(unexpected)} checkpoint keys are not in the model: "
                         + _listing(unexpected) + ".")
        if not_tensors:
            lines.append(f"{len(not_tensors)} entries are not tensors: " + _listing(not_tensors)
                         + ".")
        raise CheckpointError(" ".join(lines))
    model.load_state_dict(state, strict=True)
    return meta


def _describe(cfg: CascadeRCNNConfig) -> str:
    kind = f"ResNeXt {cfg.groups}x{cfg.base_width}d" if cfg.groups > 1 else "ResNet"
    return (f"{kind}, blocks {cfg.blocks}, base {cfg.base_channels} channels, "
            f"FPN {cfg.fpn_channels}, FC {cfg.fc_channels}, {cfg.num_classes} classes")


# ----------------------------------------------------------------------------------------------
# Detector


class CascadeRCNNDetector(Detector):
    """Person boxes from mmdet's Cascade R-CNN, without mmdet.

    Args:
        weights: a :data:`MMDET_ZOO` name (e.g. ``"cascade_rcnn_x101_64x4d_fpn_20e_coco"``,
            :data:`DEFAULT_WEIGHTS`), a URL or a local mmdet checkpoint; None keeps random weights
            (tests, pipeline checks) and warns.
        device: torch device for the network.
        score_threshold: persons scoring below it are dropped (mmdet's own 0.05 cut and 100-box
            limit over all classes apply first).
        config: a :data:`CONFIGS` name or a :class:`CascadeRCNNConfig`; must fit the checkpoint.
        batch_size: frames per forward pass (frames of one padded size are batched together).
    """

    name = "cascade_rcnn"

    def __init__(self, weights: Optional[Union[str, os.PathLike]] = None, device="cpu",
                 score_threshold: float = 0.5,
                 config: Union[str, CascadeRCNNConfig] = "x101_64x4d",
                 batch_size: int = 2) -> None:
        super().__init__(score_threshold)
        self.model = CascadeRCNN(config).eval()
        self.meta = {}
        if weights is None:
            warnings.warn("CascadeRCNNDetector without weights: the network is randomly "
                          f"initialised (pass weights={DEFAULT_WEIGHTS!r} for the published "
                          "detector)", stacklevel=2)
        else:
            self.meta = load_mmdet_checkpoint(self.model, weights)
        self.device = torch.device(device)
        self.model.to(self.device)
        self.batch_size = max(1, int(batch_size))

    @property
    def config(self) -> CascadeRCNNConfig:
        return self.model.config

    @torch.inference_mode()
    def _detect(self, frames: List[np.ndarray]) -> List[np.ndarray]:
        by_size: Dict[Tuple[int, int], List[int]] = {}
        for i, frame in enumerate(frames):
            by_size.setdefault(padded_size(frame.shape[:2], self.config), []).append(i)
        out: List[Optional[np.ndarray]] = [None] * len(frames)
        for indices in by_size.values():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start:start + self.batch_size]
                images, sizes, factors = preprocess([frames[i] for i in chunk], self.config,
                                                    self.device)
                for i, (boxes, scores, labels) in zip(chunk, self.model(images, sizes, factors)):
                    person = labels == PERSON
                    out[i] = as_boxes(boxes[person].cpu().numpy(), scores[person].cpu().numpy(),
                                      self.score_threshold)
        return out
