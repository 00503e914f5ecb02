"""Training states: everything needed to continue a run exactly, saved atomically.

A :data:`TrainingState` is a dict with ``state_dict`` (the model's weights, so that
:func:`pose.load_checkpoint` and ``build_model(..., weights=path)`` read its file like any
checkpoint),
``optimizer``, ``scheduler``, ``scaler`` (or None), ``epoch`` (epochs completed), ``best``,
``rng`` (torch, CUDA, numpy and Python generator states) and ``meta`` (model preset and
configuration). Only tensors and plain Python values are stored: it loads with
``weights_only=True``.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Dict, Union

import numpy as np
import torch

from ..safe_output import atomic_path
from ..checkpoint_reader import CheckpointError, read_checkpoint
from ..errors import MissingFileError

TrainingState = Dict[str, Any]


def save_atomic(obj: Any, path: Union[str, os.PathLike]) -> None:
    """``torch.save`` through :func:`pose.safe_output.atomic_path`: an interrupted write never
    leaves a truncated file."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_training_state(path: Union[str, os.PathLike]) -> TrainingState:
    """Reads the training state the training engine saved at ``path`` (onto the CPU)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"checkpoint to resume from not found: {path}")
    state = read_checkpoint(path)
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a training checkpoint of this engine (it holds a "
                              f"{type(state).__name__})")
    missing = [k for k in ("state_dict", "optimizer", "scheduler", "epoch") if k not in state]
    if missing:
        raise CheckpointError(f"{path} is not a training checkpoint of this engine (it lacks "
                              f"{', '.join(missing)}); to start from its weights, use it as the "
                              "initial weights instead of resuming")
    return state


def rng_state() -> Dict[str, Any]:
    """The global random generators' states (torch CPU and CUDA, numpy, Python)."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
            "python": random.getstate()}


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restores what :func:`rng_state` captured (CUDA states only where CUDA is present)."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy_state = state["numpy"]
    np.random.set_state(("MT19937", numpy_state["keys"].numpy().astype(np.uint32),
                         numpy_state["pos"], numpy_state["has_gauss"],
                         numpy_state["cached_gaussian"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
