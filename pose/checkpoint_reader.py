"""Reading checkpoint files without running code from them.

A ``.pth`` file is a pickle, and unpickling can call any Python function the file names, so a
checkpoint from a stranger could run anything. :func:`read_checkpoint` never does:

1. it reads the file with ``torch.load(weights_only=True)``: tensors, containers and numbers only;
2. if PyTorch refuses a global the file names, it reads the file again with a restricted unpickler
   (:class:`_RestrictedUnpickler`) that knows exactly

   - what ``weights_only`` allows (tensors, storages, ``OrderedDict``...),
   - numpy arrays, dtypes and scalars (mmpose 1.x keeps ``dataset_meta`` arrays, mmcv's eval hook a
     numpy ``best_score``), and
   - the metadata classes published mmpose / mmdet / mmengine checkpoints pickle in ``meta`` or
     beside it (:data:`METADATA_CLASSES`: mmcv / mmengine ``Config`` and ``ConfigDict``, addict's
     ``Dict``, mmengine's ``HistoryBuffer``, ``argparse.Namespace``...), which become inert
     :class:`PickledObject` stand-ins holding their data (the classes are never imported, none of
     their code runs);

   any other global (``os.system``, ``builtins.exec``, a pickled model class...) is refused with
   :class:`UnsafeCheckpointError` naming the file and the global, and nothing is called.

There is no fallback to full unpickling.
"""
from __future__ import annotations

import _compat_pickle
import datetime
import io
import os
import pickle
import types
from collections import OrderedDict
from pathlib import Path
from typing import Dict, Union

import numpy as np
import torch


class CheckpointError(ValueError):
    """The checkpoint cannot be read or does not fit the model."""


class UnsafeCheckpointError(CheckpointError):
    """The checkpoint would run code when loaded; it is refused."""


# Classes of metadata that published checkpoints pickle (module path as stored in the files).
METADATA_CLASSES = frozenset({
    "mmcv.utils.config.Config", "mmcv.utils.config.ConfigDict",  # mmcv 0.x / 1.x
    "mmengine.config.config.Config", "mmengine.config.config.ConfigDict",  # mmengine
    "mmengine.logging.history_buffer.HistoryBuffer",  # mmengine message_hub log buffers
    "addict.addict.Dict",  # base class of ConfigDict
    "argparse.Namespace",  # training arguments saved by many repositories
})


class PickledObject(dict):
    """Inert stand-in for an object of a known metadata class (:data:`METADATA_CLASSES`).

    It keeps what the file stored: the constructor arguments (``args``), the state
    (``state``, e.g. a Config's ``(cfg_dict, filename, text)``), dict items (the object itself is a
    dict of them) and list items (``list_items``). ``pickled_class`` names the original class.
    """

    pickled_class = "?"

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        obj.args, obj.state, obj.list_items = args, None, []
        return obj

    def __init__(self, *args, **kwargs) -> None:  # the data arrive through the pickle opcodes
        super().__init__()

    def __setstate__(self, state) -> None:
        self.state = state
        if isinstance(state, dict) and state is not self:  # dict-like classes keep their items
            self.update(state)

    def append(self, item) -> None:
        self.list_items.append(item)

    def extend(self, items) -> None:
        self.list_items.extend(items)

    def __repr__(self) -> str:
        return f"<{self.pickled_class} (not loaded) {dict.__repr__(self)}>"


def _placeholder(full_name: str) -> type:
    return type(full_name.rsplit(".", 1)[-1], (PickledObject,), {"pickled_class": full_name})


def _numpy_globals() -> Dict[str, object]:
    reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy.(_)core.multiarray._reconstruct
    scalar = np.float64(0).__reduce__()[0]  # numpy.(_)core.multiarray.scalar
    names = {"numpy.ndarray": np.ndarray, "numpy.dtype": np.dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):  # numpy 1.x / 2.x files
        names[f"{module}._reconstruct"] = reconstruct
        names[f"{module}.scalar"] = scalar
    return names


def _torch_globals() -> Dict[str, object]:
    """What ``torch.load(weights_only=True)`` allows (tensors, storages, dtypes, OrderedDict)."""
    from torch import _weights_only_unpickler

    allowed = getattr(_weights_only_unpickler, "_get_allowed_globals", None)
    if allowed is not None:
        return dict(allowed())
    return {"collections.OrderedDict": OrderedDict,  # older torch: the essential ones
            "torch._utils._rebuild_tensor_v2": torch._utils._rebuild_tensor_v2,
            "torch._utils._rebuild_parameter": torch._utils._rebuild_parameter,
            "torch.Size": torch.Size, "torch.device": torch.device}


def _allowed_globals() -> Dict[str, object]:
    names = _torch_globals()
    names.update(_numpy_globals())
    names.update({"builtins.set": set, "builtins.frozenset": frozenset,
                  "builtins.bytearray": bytearray, "builtins.complex": complex,
                  "builtins.slice": slice, "builtins.range": range,
                  "datetime.datetime": datetime.datetime, "datetime.date": datetime.date,
                  "datetime.time": datetime.time, "datetime.timedelta": datetime.timedelta,
                  "datetime.timezone": datetime.timezone})
    names.update({name: _placeholder(name) for name in METADATA_CLASSES})
    return names


class _RefusedGlobal(pickle.UnpicklingError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :func:`_allowed_globals`; it never imports a module."""

    _allowed: Dict[str, object] = {}

    def find_class(self, module: str, name: str):
        if (module, name) in _compat_pickle.NAME_MAPPING:  # Python 2 names of protocol 2 files
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        full_name = f"{module}.{name}"
        if full_name not in self._allowed:
            raise _RefusedGlobal(full_name)
        return self._allowed[full_name]


def _restricted_pickle_module() -> types.ModuleType:
    """A module with pickle's interface whose unpickler is restricted, for ``torch.load``."""
    module = types.ModuleType("hrtrack_restricted_pickle")
    _RestrictedUnpickler._allowed = _allowed_globals()
    module.Unpickler = _RestrictedUnpickler
    module.UnpicklingError = pickle.UnpicklingError
    module.load = lambda file, **kwargs: _RestrictedUnpickler(file, **kwargs).load()
    module.loads = lambda data, **kwargs: _RestrictedUnpickler(io.BytesIO(data), **kwargs).load()
    return module


def _unreadable(path: Path, exc: BaseException) -> CheckpointError:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return CheckpointError(f"{path} is not a readable PyTorch checkpoint ({reason}). If it was "
                           "downloaded, it may be truncated: delete it and download it again.")


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
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass  # a global beyond tensors: read again, allowing exactly the known metadata
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise _unreadable(path, exc) from None
    try:
        # weights_only=False with a restricted pickle module: this unpickler resolves only the
        # allowed globals above and refuses every other (it is not full unpickling).
        return torch.load(path, map_location="cpu", weights_only=False,
                          pickle_module=_restricted_pickle_module())
    except _RefusedGlobal as exc:
        raise UnsafeCheckpointError(
            f"{path} was refused: loading it would call {exc.name}, which a checkpoint has no "
            "need for (it may be malicious). Nothing from it was run. Use the checkpoint from "
            "its official source, or, if you made it, save only its state_dict "
            "(torch.save(model.state_dict(), path)).") from None
    except Exception as exc:  # noqa: BLE001 - a corrupt pickle may fail in many ways
        raise _unreadable(path, exc) from None
