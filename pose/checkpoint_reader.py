"""Reading checkpoint files without running code from them.

A ``.pth`` file is a pickle, and unpickling can call any Python function the file names, so a
checkpoint from a stranger could run anything. :func:`read_checkpoint` reads every file with
``torch.load(weights_only=True)`` (tensors, containers, numbers, strings) and allow-lists exactly
the other types published checkpoints store (``torch.serialization.safe_globals``):

- numpy arrays, dtypes and scalars (mmpose 1.x keeps ``dataset_meta`` arrays in ``meta``, mmcv's
  evaluation hook a numpy ``best_score``), and the ``datetime`` types;
- the metadata classes mmpose / mmdet / mmengine checkpoints pickle in ``meta`` or beside it
  (:data:`METADATA_CLASSES`: mmengine's ``HistoryBuffer``, ``argparse.Namespace``, mmcv /
  mmengine ``Config`` and ``ConfigDict``, addict's ``Dict``). They are read as inert stand-ins
  that keep the stored data: :class:`PickledObject` for plain classes, an ``OrderedDict`` of the
  items for dict-like classes. The classes themselves are never imported and none of their code
  runs.

Any other global (``os.system``, ``builtins.exec``, a pickled model class...) is refused by
PyTorch's weights-only unpickler before anything is called, and :func:`read_checkpoint` raises
:class:`UnsafeCheckpointError` naming the file and the global. There is no fallback to full
unpickling.
"""
from __future__ import annotations

import datetime
import os
import pickle
import re
from collections import OrderedDict
from pathlib import Path
from typing import List, Tuple, Union

import numpy as np
import torch

from .errors import BadInputError, MissingFileError


class CheckpointError(BadInputError):
    """The checkpoint cannot be read or does not fit the model."""


class UnsafeCheckpointError(CheckpointError):
    """The checkpoint would run code when loaded; it is refused."""


# Classes of metadata that published checkpoints pickle (module path as stored in the files):
# plain classes, read as PickledObject, and dict-like classes, read as an OrderedDict of items.
METADATA_CLASSES = frozenset({
    "mmengine.logging.history_buffer.HistoryBuffer",  # mmengine message_hub log buffers
    "argparse.Namespace",  # training arguments saved by many repositories
    "mmcv.utils.config.Config", "mmengine.config.config.Config",  # mmcv 1.x / mmengine
})
DICT_METADATA_CLASSES = frozenset({
    "mmcv.utils.config.ConfigDict", "mmengine.config.config.ConfigDict", "addict.addict.Dict",
})


class PickledObject:
    """Inert stand-in for an object of a known metadata class (:data:`METADATA_CLASSES`).

    It keeps what the file stored: ``state`` (e.g. a buffer's ``__dict__`` or a Config's
    ``(cfg_dict, filename, text)``) and, for a state dict, the same items as attributes
    (``buffer._log_history``). ``pickled_class`` names the original class."""

    pickled_class = "?"

    def __init__(self) -> None:
        self.state = None

    def __setstate__(self, state) -> None:
        self.state = state
        if isinstance(state, dict):
            self.__dict__.update({k: v for k, v in state.items() if isinstance(k, str)})

    def __repr__(self) -> str:
        return f"<{self.pickled_class} (not loaded) {self.state!r}>"


class _DictLike:
    """Stand-in for a dict-like metadata class: creating one gives a plain ``OrderedDict``
    (the unpickler then fills it with the stored items)."""

    def __new__(cls, *args, **kwargs):
        return OrderedDict()


def _stand_in(full_name: str, base: type) -> Tuple[type, str]:
    name = full_name.rsplit(".", 1)[-1]
    return type(name, (base,), {"pickled_class": full_name}), full_name


def _numpy_globals() -> List[Tuple[object, str]]:
    reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy.(_)core.multiarray._reconstruct
    scalar = np.float64(0).__reduce__()[0]  # numpy.(_)core.multiarray.scalar
    names: List[Tuple[object, str]] = [(np.ndarray, "numpy.ndarray"), (np.dtype, "numpy.dtype")]
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):  # numpy 1.x / 2.x files
        names += [(reconstruct, f"{module}._reconstruct"), (scalar, f"{module}.scalar")]
    dtype_classes = {type(np.dtype(code)) for code in np.typecodes["All"] if code not in "Mm"}
    dtype_classes |= {type(np.dtype("M8[s]")), type(np.dtype("m8[s]"))}
    names += [(cls, f"{cls.__module__}.{cls.__name__}") for cls in dtype_classes]
    return names


def _safe_globals() -> List[Tuple[object, str]]:
    names = _numpy_globals()
    names += [(cls, f"datetime.{cls.__name__}") for cls in
              (datetime.datetime, datetime.date, datetime.time, datetime.timedelta,
               datetime.timezone)]
    names += [_stand_in(name, PickledObject) for name in sorted(METADATA_CLASSES)]
    names += [_stand_in(name, _DictLike) for name in sorted(DICT_METADATA_CLASSES)]
    return names


_SAFE_GLOBALS = _safe_globals()
_GLOBAL_NAME = re.compile(r"GLOBAL ([\w.]+)|unrecognized function ([^\s]+)")


def _unreadable(path: Path, exc: BaseException) -> CheckpointError:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return CheckpointError(f"{path} is not a readable PyTorch checkpoint ({reason}). If it was "
                           "downloaded, it may be truncated: delete it and download it again.")


def _refused(path: Path, exc: pickle.UnpicklingError) -> CheckpointError:
    found = _GLOBAL_NAME.search(str(exc))
    if found is None:  # not a refused name: a malformed pickle
        return _unreadable(path, exc)
    name = found.group(1) or found.group(2)
    name = name if "." in name else f"builtins.{name}"  # PyTorch names builtins bare
    return UnsafeCheckpointError(
        f"{path} was refused: loading it would call {name}, which a checkpoint has no need for "
        "(it may be malicious). Nothing from it was run. Use the checkpoint from its official "
        "source, or, if you made it, save only its state_dict "
        "(torch.save(model.state_dict(), path)).")


def read_checkpoint(path: Union[str, os.PathLike]) -> object:
    """The object stored in a ``torch.save`` file, read onto the CPU without running any code
    from it (see the module doc).

    Raises:
        FileNotFoundError: no such file.
        UnsafeCheckpointError: the file names a function or class outside the allowed ones.
        CheckpointError: not a readable checkpoint (truncated, not a PyTorch file).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"checkpoint file not found: {path}")
    try:
        with torch.serialization.safe_globals(_SAFE_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise _refused(path, exc) from None
    except (RuntimeError, EOFError, OSError, ValueError, TypeError, AttributeError) as exc:
        raise _unreadable(path, exc) from None
