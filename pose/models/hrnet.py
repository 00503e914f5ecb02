"""HRNet for top-down pose estimation (Sun et al., CVPR 2019), the official ``pose_hrnet`` layout.

Structure for width ``W`` (W32 and W48 are the published ones):

* stem: two 3x3 stride-2 convolutions (3 -> 64 -> 64), each followed by BN and ReLU;
* ``layer1``: four Bottlenecks 64 -> 256 at 1/4 resolution;
* ``stage2/3/4``: 1/4/3 high-resolution modules with 2/3/4 branches of ``[W, 2W, 4W, 8W]``
  channels, four BasicBlocks per branch; ``transition1/2/3`` open the new lower-resolution
  branches (3x3 stride-2 conv + BN + ReLU);
* fuse layers sum all branches into each output branch: lower-resolution inputs by 1x1 conv + BN
  + *nearest* upsampling, higher-resolution inputs by chains of 3x3 stride-2 conv + BN (ReLU
  between them, not after the last); a ReLU follows each sum;
* the last module of stage 4 only outputs the highest-resolution branch, to which ``final_layer``
  (a 1x1 conv with bias) maps to ``num_joints`` heatmaps.

Input ``[N, 3, H, W]`` normalised float; output ``[N, num_joints, H/4, W/4]``.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch
from torch import nn

from .blocks import BasicBlock, Bottleneck, batch_norm, conv3x3, make_res_layer


class HighResolutionModule(nn.Module):
    """Parallel branches of residual blocks followed by multi-resolution fusion.

    Args:
        num_inchannels: channels of each input branch.
        num_channels: channels of each branch's blocks (BasicBlock: also its output).
        num_blocks: blocks per branch.
        multi_scale_output: if False only the highest-resolution output is produced.
    """

    def __init__(self, block: type, num_blocks: Sequence[int], num_inchannels: Sequence[int],
                 num_channels: Sequence[int], multi_scale_output: bool = True) -> None:
        super().__init__()
        if not (len(num_blocks) == len(num_inchannels) == len(num_channels)):
            raise ValueError("num_blocks, num_inchannels and num_channels need one entry per branch")
        self.num_branches = len(num_channels)
        self.multi_scale_output = multi_scale_output
        self.branches = nn.ModuleList(
            make_res_layer(block, num_inchannels[i], num_channels[i], num_blocks[i])
            for i in range(self.num_branches))
        self.num_inchannels = [c * block.expansion for c in num_channels]
        self.fuse_layers = self._make_fuse_layers()
        self.relu = nn.ReLU(inplace=True)

    def _make_fuse_layers(self) -> Optional[nn.ModuleList]:
        if self.num_branches == 1:
            return None
        channels = self.num_inchannels
        num_outputs = self.num_branches if self.multi_scale_output else 1
        fuse_layers = []
        for i in range(num_outputs):
            row: List[Optional[nn.Module]] = []
            for j in range(self.num_branches):
                if j > i:  # lower resolution: 1x1 conv, BN, nearest upsampling
                    row.append(nn.Sequential(
                        nn.Conv2d(channels[j], channels[i], 1, 1, 0, bias=False),
                        batch_norm(channels[i]),
                        nn.Upsample(scale_factor=2 ** (j - i), mode="nearest")))
                elif j == i:
                    row.append(None)
                else:  # higher resolution: (i - j) stride-2 3x3 convs
                    steps = []
                    for k in range(i - j):
                        if k == i - j - 1:
                            steps.append(nn.Sequential(conv3x3(channels[j], channels[i], 2),
                                                       batch_norm(channels[i])))
                        else:
                            steps.append(nn.Sequential(conv3x3(channels[j], channels[j], 2),
                                                       batch_norm(channels[j]),
                                                       nn.ReLU(inplace=True)))
                    row.append(nn.Sequential(*steps))
            fuse_layers.append(nn.ModuleList(row))
        return nn.ModuleList(fuse_layers)

    def forward(self, x: List[torch.Tensor]) -> List[torch.Tensor]:
        if self.num_branches == 1:
            return [self.branches[0](x[0])]
        x = [branch(xi) for branch, xi in zip(self.branches, x)]
        out = []
        for i, row in enumerate(self.fuse_layers):
            # Summation order as the official code: branch 0 first, then 1, 2, ...
            y = x[0] if i == 0 else row[0](x[0])
            for j in range(1, self.num_branches):
                y = y + (x[j] if i == j else row[j](x[j]))
            out.append(self.relu(y))
        return out


def _transition_layer(pre_channels: Sequence[int], cur_channels: Sequence[int]) -> nn.ModuleList:
    """Adapts branches between stages: existing branches get a 3x3 conv only if their width
    changes (never, for HRNet presets); each new branch is made from the last old one by 3x3
    stride-2 convs + BN + ReLU."""
    layers: List[Optional[nn.Module]] = []
    for i, out_ch in enumerate(cur_channels):
        if i < len(pre_channels):
            if pre_channels[i] != out_ch:
                layers.append(nn.Sequential(conv3x3(pre_channels[i], out_ch),
                                            batch_norm(out_ch), nn.ReLU(inplace=True)))
            else:
                layers.append(None)
        else:
            steps = []
            for k in range(i + 1 - len(pre_channels)):
                in_ch = pre_channels[-1]
                step_out = out_ch if k == i - len(pre_channels) else in_ch
                steps.append(nn.Sequential(conv3x3(in_ch, step_out, 2), batch_norm(step_out),
                                           nn.ReLU(inplace=True)))
            layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


class HRNet(nn.Module):
    """HRNet pose network (official ``PoseHighResolutionNet``).

    Args:
        width: channels of the highest-resolution branch (32 for W32); branch k has ``width*2**k``.
        num_joints: heatmap channels.
        num_modules: high-resolution modules in stages 2, 3, 4.
        num_blocks: BasicBlocks per branch in every module.
        final_conv_kernel: kernel of the final layer (1 in all published configs; 3 pads by 1).
    """

    def __init__(self, width: int = 32, num_joints: int = 17,
                 num_modules: Sequence[int] = (1, 4, 3), num_blocks: int = 4,
                 final_conv_kernel: int = 1) -> None:
        super().__init__()
        if width < 1 or num_joints < 1:
            raise ValueError(f"width and num_joints must be positive, got {width}, {num_joints}")
        self.width = width
        self.num_joints = num_joints
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = batch_norm(64)
        self.conv2 = nn.Conv2d(64, 64, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn2 = batch_norm(64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = make_res_layer(Bottleneck, 64, 64, 4)

        pre_channels = [64 * Bottleneck.expansion]
        stages, transitions = [], []
        for s, modules in enumerate(num_modules):
            channels = [width * 2 ** b for b in range(s + 2)]
            transitions.append(_transition_layer(pre_channels, channels))
            last_stage = s == len(num_modules) - 1
            stage = []
            in_channels = list(channels)
            for m in range(modules):
                module = HighResolutionModule(
                    BasicBlock, [num_blocks] * len(channels), in_channels, channels,
                    multi_scale_output=not (last_stage and m == modules - 1))
                in_channels = module.num_inchannels
                stage.append(module)
            stages.append(nn.Sequential(*stage))
            pre_channels = in_channels
        # Official attribute names: transition1..3, stage2..4.
        for s, (transition, stage) in enumerate(zip(transitions, stages)):
            setattr(self, f"transition{s + 1}", transition)
            setattr(self, f"stage{s + 2}", stage)
        self.num_stages = len(num_modules)
        self.final_layer = nn.Conv2d(pre_channels[0], num_joints, kernel_size=final_conv_kernel,
                                     stride=1, padding=1 if final_conv_kernel == 3 else 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.layer1(x)
        y_list = [x]
        for s in range(self.num_stages):
            transition = getattr(self, f"transition{s + 1}")
            x_list = []
            for i, layer in enumerate(transition):
                if layer is None:
                    x_list.append(y_list[i])
                else:
                    # The official code feeds every transition from the last branch of the previous
                    # stage (for stage 2 there is only one).
                    x_list.append(layer(y_list[-1]))
            y_list = getattr(self, f"stage{s + 2}")(x_list)
        return self.final_layer(y_list[0])
