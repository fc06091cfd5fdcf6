"""Reading a JSON file with an error that names it; standard library only (the contract, which bundle
configs import at inference, reads through it; ``data_prep.io`` re-exports it)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import DataPrepError

__all__ = ["read_json"]


def read_json(path: str | os.PathLike, missing: str = "file") -> Any:
    """The parsed JSON of ``path``.

    Args:
        path: the file.
        missing: what a missing file is called in the error (``<path>: no such <missing>``).

    Raises:
        DataPrepError: the file is missing, a folder, unreadable, not UTF-8 or not valid JSON (the message
            names it).
    """
    path = Path(path)
    if path.is_dir():
        raise DataPrepError(f"{path}: is a folder, not a JSON file")
    if not path.is_file():
        raise DataPrepError(f"{path}: no such {missing}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise DataPrepError(f"{path}: cannot be read ({(err.strerror or str(err)).lower()})") from None
    except UnicodeDecodeError as err:
        raise DataPrepError(f"{path}: not valid JSON ({err})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataPrepError(f"{path}: not valid JSON ({err})") from None
