"""This process's place among the processes ``torchrun`` started, and its share of the work.

``torchrun --nproc_per_node=N ...`` starts N processes and gives each ``RANK`` (0..N-1 over all
machines), ``WORLD_SIZE`` (N over all machines) and ``LOCAL_RANK`` (its GPU on this machine).
Without those variables the process is rank 0 of 1. Work split by :func:`shard` needs no
communication: rank ``r`` takes items ``r, r + N, r + 2N, ...`` of a list every rank builds the
same way.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Optional, Sequence, TypeVar

import torch

from .errors import BadInputError

Item = TypeVar("Item")


@dataclass(frozen=True)
class RankInfo:
    """A process's rank among ``world_size`` processes and its ``local_rank`` on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def default_device(self) -> torch.device:
        """``cuda:<local rank>`` (modulo the GPUs present) when CUDA exists, else the CPU."""
        if torch.cuda.is_available():
            return torch.device("cuda", self.local_rank % torch.cuda.device_count())
        return torch.device("cpu")


def rank_info() -> RankInfo:
    """The :class:`RankInfo` of torchrun's ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (rank 0 of
    1 without them)."""
    try:
        info = RankInfo(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                        int(os.environ.get("LOCAL_RANK", 0)))
    except ValueError:
        raise BadInputError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (as torchrun sets "
                            "them)") from None
    if not 0 <= info.rank < info.world_size or info.local_rank < 0:
        raise BadInputError(f"RANK={info.rank} with WORLD_SIZE={info.world_size} and LOCAL_RANK="
                            f"{info.local_rank}: needs 0 <= RANK < WORLD_SIZE (as torchrun sets "
                            "them)")
    return info


def shard(items: Sequence[Item], info: Optional[RankInfo] = None) -> List[Item]:
    """This process's share of ``items``: every ``world_size``-th item from its rank on. The
    shares of ranks ``0..world_size-1`` are disjoint and cover ``items``."""
    info = info or rank_info()
    return list(items[info.rank::info.world_size])


def rank_device(requested: Optional[str], info: Optional[RankInfo] = None) -> Optional[str]:
    """The device option of this process: ``requested`` as given, except that among several
    processes with CUDA, none or plain ``cuda`` means the process's own GPU (``cuda:<local
    rank>``)."""
    info = info or rank_info()
    if info.distributed and requested in (None, "cuda") and torch.cuda.is_available():
        return str(info.default_device())
    return requested
