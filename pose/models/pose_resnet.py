"""SimpleBaseline / PoseResNet (Xiao et al., ECCV 2018), the official ``pose_resnet`` layout.

A ResNet backbone without its classifier (stem: 7x7 stride-2 conv, BN, ReLU, 3x3 stride-2 max
pool; ``layer1..4``), then ``deconv_layers``: three 4x4 stride-2 transposed convolutions of 256
channels (padding 1, no bias), each followed by BN and ReLU, and ``final_layer``: a 1x1 conv with
bias to ``num_joints`` heatmaps.

Input ``[N, 3, H, W]`` normalised float; output ``[N, num_joints, H/4, W/4]``.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .blocks import BasicBlock, Bottleneck, batch_norm, make_res_layer

RESNET_LAYERS = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}

_DECONV_PADDING = {4: (1, 0), 3: (1, 1), 2: (0, 0)}  # kernel -> (padding, output_padding)


class PoseResNet(nn.Module):
    """SimpleBaseline pose network.

    Args:
        depth: ResNet depth, one of 18, 34, 50, 101, 152.
        num_joints: heatmap channels.
        deconv_channels: output channels of each deconvolution (256 in all published configs).
        deconv_kernel: 4 (published), 3 or 2.
        final_conv_kernel: 1 (published) or 3.
    """

    def __init__(self, depth: int = 50, num_joints: int = 17,
                 deconv_channels: Sequence[int] = (256, 256, 256), deconv_kernel: int = 4,
                 final_conv_kernel: int = 1) -> None:
        super().__init__()
        if depth not in RESNET_LAYERS:
            raise ValueError(f"ResNet depth must be one of {sorted(RESNET_LAYERS)}, got {depth}")
        if deconv_kernel not in _DECONV_PADDING:
            raise ValueError(f"deconv_kernel must be one of {sorted(_DECONV_PADDING)}")
        self.depth = depth
        self.num_joints = num_joints
        block, layers = RESNET_LAYERS[depth]
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = batch_norm(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = 64
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            setattr(self, f"layer{i + 1}",
                    make_res_layer(block, inplanes, planes, blocks, stride=1 if i == 0 else 2))
            inplanes = planes * block.expansion

        padding, output_padding = _DECONV_PADDING[deconv_kernel]
        deconv = []
        for channels in deconv_channels:
            deconv += [nn.ConvTranspose2d(inplanes, channels, kernel_size=deconv_kernel, stride=2,
                                          padding=padding, output_padding=output_padding,
                                          bias=False),
                       batch_norm(channels),
                       nn.ReLU(inplace=True)]
            inplanes = channels
        self.deconv_layers = nn.Sequential(*deconv)
        self.final_layer = nn.Conv2d(inplanes, num_joints, kernel_size=final_conv_kernel, stride=1,
                                     padding=1 if final_conv_kernel == 3 else 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.final_layer(self.deconv_layers(x))
