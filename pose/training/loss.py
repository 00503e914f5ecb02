"""Heatmap losses of the official code: JointsMSELoss and its online hard keypoint mining."""
from __future__ import annotations

import torch
from torch import nn


def joint_errors(output: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor,
                 use_target_weight: bool = True) -> torch.Tensor:
    """``[N, J]``: half the mean squared error of each joint's heatmap, both heatmaps multiplied by
    the joint's weight first (official ``0.5 * MSE(pred * w, gt * w)``).

    Args:
        output, target: ``[N, J, h, w]`` heatmaps.
        target_weight: ``[N, J, 1]`` (or ``[N, J]``) joint weights; 0 removes a joint.
    """
    if output.shape != target.shape:
        raise ValueError(f"output {tuple(output.shape)} and target {tuple(target.shape)} differ")
    pred = output.reshape(output.shape[0], output.shape[1], -1)
    gt = target.reshape(pred.shape)
    if use_target_weight:
        w = target_weight.reshape(pred.shape[0], pred.shape[1], 1)
        pred, gt = pred * w, gt * w
    return 0.5 * (pred - gt).pow(2).mean(dim=2)


class JointsMSELoss(nn.Module):
    """Official ``JointsMSELoss``: the mean of :func:`joint_errors` over persons and joints."""

    def __init__(self, use_target_weight: bool = True) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight

    def forward(self, output, target, target_weight):
        return joint_errors(output, target, target_weight, self.use_target_weight).mean()


class JointsOHKMMSELoss(nn.Module):
    """Official ``JointsOHKMMSELoss``: per person, the mean of its ``topk`` largest joint errors,
    averaged over persons."""

    def __init__(self, use_target_weight: bool = True, topk: int = 8) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight
        self.topk = topk

    def forward(self, output, target, target_weight):
        errors = joint_errors(output, target, target_weight, self.use_target_weight)
        if self.topk > errors.shape[1]:
            raise ValueError(f"OHKM topk={self.topk} exceeds the {errors.shape[1]} joints")
        return errors.topk(self.topk, dim=1).values.mean()


def build_loss(use_target_weight: bool = True, ohkm: bool = False, topk: int = 8) -> nn.Module:
    return JointsOHKMMSELoss(use_target_weight, topk) if ohkm else JointsMSELoss(use_target_weight)
