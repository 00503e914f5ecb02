"""Locating ``../shared`` test data.

A test that needs shared data calls :func:`shared_path`; when the file is absent it skips with the
reason, except under CI (``CI=true``), where absence is a failure.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HRTRACK_SHARED", PROJECT_ROOT.parent / "shared"))


def shared_path(relative: str) -> Path:
    """Path of ``relative`` inside the shared data folder; skips (or fails under CI) if absent."""
    path = SHARED / relative
    if not path.exists():
        message = (f"shared test data missing: {path} (place the shared folder beside the project "
                   "root or set HRTRACK_SHARED)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
