"""Datasets: annotation readers and person-box sources for evaluation and training."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Type, Union

from ..errors import BadInputError, MissingFileError


def load_json(path: Union[str, os.PathLike], what: str,
              error: Type[Exception] = BadInputError) -> Any:
    """The content of a JSON file; :class:`MissingFileError` naming ``what`` when it is missing,
    ``error`` naming the file when it is not JSON."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: malformed JSON ({exc})") from None
