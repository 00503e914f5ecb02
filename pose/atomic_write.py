"""Writing result files so that an interruption never leaves a half-written file."""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Union


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once: the umask is process-wide, and other threads create files too


@contextmanager
def atomic_path(path: Union[str, os.PathLike]) -> Iterator[Path]:
    """Yields a temporary path beside ``path`` (its folder created if needed) to write; on
    success the file gets ordinary permissions and is moved onto ``path`` in one rename, on any
    error (or Ctrl-C) it is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it private; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json_atomic(data: Any, path: Union[str, os.PathLike], **json_kwargs) -> None:
    """Writes ``data`` as JSON to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(data, f, **json_kwargs)
