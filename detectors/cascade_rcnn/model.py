"""Cascade R-CNN network: mmdet 2.x's ``CascadeRCNN`` architecture and test-time forward pass.

:class:`CascadeRCNNConfig` holds every architecture and test-time number (the defaults are the
X-101-64x4d-FPN model); :class:`CascadeRCNN` is the network, its module names equal to mmdet's
checkpoint keys (``backbone.*``, ``neck.*``, ``rpn_head.*``, ``roi_head.bbox_head.{0,1,2}.*``).
The algorithm is described in :mod:`detectors.cascade_rcnn`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import roi_align

from .boxes import batched_nms, decode_boxes, grid_anchors

# ----------------------------------------------------------------------------------------------
# Configuration


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
