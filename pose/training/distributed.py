"""Multi-process training through ``torchrun``: process group, device, rank-0 duties.

``torchrun --nproc_per_node=N -m benchmarks.coco.train ...`` sets ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE``; :func:`init_distributed` then joins the process group (NCCL with GPUs, gloo on the
CPU). Without those variables everything runs in one process.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

import torch
import torch.distributed as dist

from ..distributed import RankInfo, rank_info

# Rank 0 validates alone while the other processes wait at a barrier: a COCO validation on
# detection boxes can outlast NCCL's default 10-minute collective timeout.
TIMEOUT = timedelta(hours=2)


@dataclass(frozen=True)
class DistributedContext(RankInfo):
    """This process's place in the run (:class:`pose.distributed.RankInfo`) and the collective
    operations of its process group."""

    @classmethod
    def current(cls) -> "DistributedContext":
        """The initialised process group's rank and size (one process when there is none)."""
        if dist.is_available() and dist.is_initialized():
            local_rank = rank_info().local_rank if "LOCAL_RANK" in os.environ else dist.get_rank()
            return cls(dist.get_rank(), dist.get_world_size(), local_rank)
        return cls()

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        """The sum of ``value`` over all processes (itself with one process)."""
        if not self.distributed:
            return value
        value = value.detach().clone()
        dist.all_reduce(value)
        return value

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The mean of ``value`` over all processes (itself with one process)."""
        return self.sum(value) / self.world_size if self.distributed else value


def init_distributed(backend: Optional[str] = None) -> DistributedContext:
    """Joins the process group described by torchrun's environment variables, if any."""
    info = rank_info()
    if info.distributed and not dist.is_initialized():
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        if torch.cuda.is_available():
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend, timeout=TIMEOUT)
    return DistributedContext.current()


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
