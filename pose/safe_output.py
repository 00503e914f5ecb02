"""Writing output files safely: never over an input, never half-written, never two runs at once.

Every command that writes files follows the same three rules, all from this module:

1. **Checked before any work** (:func:`check_outputs`): an output that is (after resolving
   symlinks, ``..`` and hard links) one of the inputs or another output is refused, and so is one
   whose folder is missing or not writable. The message is one line naming the option and the fix.
2. **Written aside, then renamed** (:func:`atomic_path`, :func:`write_json_atomic`,
   :func:`write_bytes_atomic`): the file is written under a temporary name in the target's folder
   and renamed over the target in one step when complete. A failure (full disk, Ctrl-C, a bug)
   removes the temporary file and leaves the target exactly as it was; two runs writing the same
   target never mix their bytes (the last complete one wins).
3. **Long outputs grow under a clear partial name** (:func:`partial_name`, :func:`claim`): a video
   or a frame log written during a run lives as ``<name>.partial<ext>`` until the run ends, locked
   so that a second run writing the same output is refused instead of interleaving with it.

Write failures become :class:`OutputError`, whose message names the file and says what is on disk.
"""
from __future__ import annotations

import errno
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, List, Optional, Tuple, Union

from .errors import UnreadableFileError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the other rules still hold
    fcntl = None

PathLike = Union[str, os.PathLike]
Named = Tuple[str, Optional[PathLike]]  # (what the user calls it, e.g. "--output-json", path)


class OutputError(UnreadableFileError, ValueError):
    """An output that must not or cannot be written; the message names the file and what is on
    disk. Both a ``ValueError`` (a bad option) and an ``OSError`` (a failed write), so handlers
    of either see it."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once: the umask is process-wide, and other threads create files too


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether two paths name one file: same resolved path (symlinks, ``..``) or, when both
    exist, the same inode (hard links)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _folder_problem(path: Path, create_folders: bool) -> Optional[str]:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        if not create_folders:
            return f"the folder {folder} does not exist"
        folder = next((p for p in folder.parents if p.is_dir()), Path("."))
    try:
        fd, probe = tempfile.mkstemp(prefix=".hrtrack-write-test-", dir=folder)
    except OSError as exc:
        return f"cannot write there (creating a file in {folder}: {exc.strerror or exc})"
    os.close(fd)
    os.unlink(probe)
    return None


def check_outputs(outputs: Iterable[Named], inputs: Iterable[Named] = (),
                  create_folders: bool = False) -> None:
    """Refuses, before any work, outputs that would destroy an input or another output, or that
    cannot be written.

    Args:
        outputs: ``(label, path)`` pairs of every file the command will write (partial and
            companion files included); None paths are skipped.
        inputs: ``(label, path)`` pairs of every file the command reads.
        create_folders: missing folders will be created (their nearest existing parent must be
            writable); otherwise a missing folder is an error.

    Raises:
        OutputError: one line naming the option and what to do.
    """
    inputs = [(label, Path(p)) for label, p in inputs if p is not None]
    seen: List[Tuple[str, Path]] = []
    for label, path in outputs:
        if path is None:
            continue
        path = Path(path)
        if path.is_dir():
            raise OutputError(f"{label} {path} is a folder; give a file name")
        for input_label, source in inputs:
            if same_file(path, source):
                raise OutputError(f"{label} {path} is the same file as {input_label} {source}: "
                                  "choose another output name (inputs are never overwritten)")
        for other_label, other in seen:
            if same_file(path, other):
                what = (f"{other_label} {other}" if other_label != label
                        else f"another file {label} writes ({other})")
                raise OutputError(f"{label} {path} is the same file as {what}: give each "
                                  "output its own name")
        problem = _folder_problem(path, create_folders)
        if problem:
            raise OutputError(f"{label} {path}: {problem}")
        seen.append((label, path))


def write_failure(path: PathLike, exc: OSError, kept: str) -> OutputError:
    """The one-line message of a failed write: the file, the system's reason, what ``kept``
    (a sentence about what is safe on disk) and, for a full disk, the fix."""
    reason = exc.strerror or str(exc)
    fix = (" Free some disk space and run again." if exc.errno in (errno.ENOSPC, errno.EDQUOT,
                                                                  errno.EFBIG) else "")
    return OutputError(f"writing {path} failed ({reason}): {kept}.{fix}")


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yields a temporary path beside ``path`` (its folder created if needed) to write; on
    success the file gets ordinary permissions and is moved onto ``path`` in one rename, on any
    error (or Ctrl-C) it is removed and ``path`` is left as it was. An ``OSError`` while writing
    (full disk, read-only folder) becomes :class:`OutputError` saying so."""
    path = Path(path)
    existed = path.exists()
    kept = (f"{path} is unchanged" if existed else f"{path} was not created") + \
        " (nothing half-written was left)"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise write_failure(path, exc, kept) from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it private; results are ordinary files
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise write_failure(path, exc, kept) from None
        raise


def write_json_atomic(data: Any, path: PathLike, **json_kwargs) -> None:
    """Writes ``data`` as JSON to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(data, f, **json_kwargs)


def write_bytes_atomic(data: bytes, path: PathLike) -> None:
    """Writes ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)


def partial_name(path: PathLike) -> Path:
    """Where a long output grows until its run ends: ``out.mp4`` -> ``out.partial.mp4`` (the
    extension kept, so that players and decoders open it)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.partial{path.suffix}")


class Claim:
    """An exclusive hold on a file being written (see :func:`claim`); :meth:`release` (or the
    end of the process, however it ends) lets it go."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd = path, fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def claim(path: PathLike, label: str = "the output") -> Claim:
    """Creates (or takes over) ``path`` for writing by this process only: refused with
    :class:`OutputError` while another process holds it (a second run writing the same
    output). A file left by a run that was killed is taken over (its lock died with it)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise write_failure(path, exc, f"{path} was not created") from None
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise OutputError(f"{label}: {path} is being written by another run right now; "
                              "wait for it to finish or choose another output name") from None
    return Claim(path, fd)
