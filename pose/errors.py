"""Errors that hrtrack reports to users as one line.

An :class:`HrtrackError` is a problem the user can fix (an option, an input file, missing weights): the
command-line tools print its message on one line and exit with status 2. Any other exception is a bug in
hrtrack and keeps its traceback.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Callable, Optional


class HrtrackError(Exception):
    """A problem the user can fix; ``str(error)`` says in one line what is wrong and what to do."""


class BadInputError(HrtrackError, ValueError):
    """An option, argument or file content that hrtrack cannot use."""


class UnreadableFileError(HrtrackError, OSError):
    """A file or folder that is missing, unreadable, or cannot be written."""


class MissingWeightsError(HrtrackError):
    """Model weights that are neither on disk nor downloadable (offline, refused, or failing the hash check)."""


class UnknownNameError(BadInputError, KeyError):
    """A name (model, detector, joint layout...) that is not among the known ones; also a
    ``KeyError`` for code that looks names up."""

    def __str__(self) -> str:  # the message, not KeyError's quoted repr
        return str(self.args[0]) if self.args else ""


class MissingFileError(UnreadableFileError, FileNotFoundError):
    """An input file or folder that does not exist."""


class MissingPackageError(HrtrackError, ImportError):
    """An optional package that the asked-for feature needs; the message says what to install."""


def report_errors(body: Callable[[], int], on_interrupt: Optional[Callable[[], int]] = None,
                  stop_on_sigterm: bool = False) -> int:
    """Runs a command's ``body() -> exit code``: an :class:`HrtrackError` is printed as
    ``error: MESSAGE`` on stderr and gives exit code 2 (``HRTRACK_DEBUG=1``: raised with its
    traceback instead). Any other exception is a bug and propagates with its traceback.

    Args:
        on_interrupt: called on Ctrl-C (KeyboardInterrupt); returns the exit code. None: the
            interrupt propagates.
        stop_on_sigterm: ``kill`` (SIGTERM) raises KeyboardInterrupt in the main thread, so that
            the body finishes its outputs as on Ctrl-C.
    """
    if stop_on_sigterm and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return body()
    except HrtrackError as exc:
        if os.environ.get("HRTRACK_DEBUG"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if on_interrupt is None:
            raise
        return on_interrupt()


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
