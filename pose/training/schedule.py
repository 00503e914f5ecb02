"""Learning-rate schedule: multi-step decay by epoch with an optional linear warm-up by iteration.

Official HRNet: ``MultiStepLR`` over epochs, stepped at the start of every epoch (no warm-up), so
its ``LR_STEP`` is one more than the 0-based ``milestones`` here (see ``benchmarks.configs.coco``).
mmpose: ``policy='step'`` (``step`` = 0-based ``milestones``) with
``warmup='linear'``: during the first ``warmup_iters`` iterations the rate is
``lr * (1 - (1 - i / warmup_iters) * (1 - warmup_ratio))``.
"""
from __future__ import annotations

import bisect
from typing import Sequence

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


class WarmupMultiStepLR(LRScheduler):
    """Stepped once per iteration; the rate of iteration ``i`` (0-based, epoch
    ``e = i // iters_per_epoch``) is ``base_lr * gamma ** (number of milestones <= e) * warmup(i)``.

    Args:
        milestones: epochs (0-based) at which the rate is multiplied by ``gamma``: ``(169,
            199)`` runs epochs 169-198 at 0.1x and 199+ at 0.01x, as the official
            ``LR_STEP: [170, 200]``; mmpose's ``step=[10, 15]`` is ``(10, 15)``.
        iters_per_epoch: optimizer steps per epoch.
        warmup_iters: linear warm-up length in iterations (0: none).
        warmup_ratio: starting fraction of the rate.
    """

    def __init__(self, optimizer: Optimizer, milestones: Sequence[int], iters_per_epoch: int,
                 gamma: float = 0.1, warmup_iters: int = 0, warmup_ratio: float = 0.001,
                 last_epoch: int = -1) -> None:
        if iters_per_epoch < 1:
            raise ValueError(f"iters_per_epoch must be positive, got {iters_per_epoch}")
        self.milestones = sorted(int(m) for m in milestones)
        self.iters_per_epoch = int(iters_per_epoch)
        self.gamma = gamma
        self.warmup_iters = int(warmup_iters)
        self.warmup_ratio = warmup_ratio
        super().__init__(optimizer, last_epoch)

    def factor(self, iteration: int) -> float:
        """Multiplier of the base rate at ``iteration``."""
        epoch = iteration // self.iters_per_epoch
        value = self.gamma ** bisect.bisect_right(self.milestones, epoch)
        if iteration < self.warmup_iters:
            value *= 1 - (1 - iteration / self.warmup_iters) * (1 - self.warmup_ratio)
        return value

    def get_lr(self):
        # ``last_epoch`` counts scheduler steps, i.e. iterations here.
        return [base * self.factor(self.last_epoch) for base in self.base_lrs]
