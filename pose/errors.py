"""Errors that hrtrack reports to users as one line.

An :class:`HrtrackError` is a problem the user can fix (an option, an input file, missing weights): the
command-line tools print its message on one line and exit with status 2. Any other exception is a bug in
hrtrack and keeps its traceback.
"""
from __future__ import annotations


class HrtrackError(Exception):
    """A problem the user can fix; ``str(error)`` says in one line what is wrong and what to do."""


class BadInputError(HrtrackError, ValueError):
    """An option, argument or file content that hrtrack cannot use."""


class UnreadableFileError(HrtrackError, OSError):
    """A file or folder that is missing, unreadable, or cannot be written."""


class MissingWeightsError(HrtrackError):
    """Model weights that are neither on disk nor downloadable (offline, refused, or failing the hash check)."""
