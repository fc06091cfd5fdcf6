"""The one error type that data_prep raises for bad input, and the one line a user sees for an error."""

from __future__ import annotations

import json
import os


class DataPrepError(Exception):
    """Bad input or a refused operation; the message names the file and the problem."""


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def user_error_message(err: BaseException) -> str | None:
    """The one line (``<file>: <problem>``) to show for ``err`` instead of a traceback, or None.

    A line for what bad input or a bad place to write causes: :class:`DataPrepError` (and its subclasses,
    e.g. the exporter's ``ExportError``), an ``OSError`` that names its file (``out/x: not a directory``)
    and a JSON or text decoding error. None for anything else, a programming error, whose traceback is
    what a bug report needs. Command lines (``data_prep.cli.run_command``) and the bundles' excepthook
    print it after ``error: ``.
    """
    if isinstance(err, DataPrepError):
        return _one_line(str(err)) or type(err).__name__
    if isinstance(err, OSError) and err.filename is not None:
        problem = err.strerror or _one_line(str(err)) or type(err).__name__
        problem = problem[:1].lower() + problem[1:]
        if err.filename2 is not None:
            problem += f" ({err.filename2})"
        name = err.filename
        return f"{os.fsdecode(name) if isinstance(name, str | bytes | os.PathLike) else name}: {problem}"
    if isinstance(err, json.JSONDecodeError):
        return f"not valid JSON ({err.msg}: line {err.lineno} column {err.colno})"
    if isinstance(err, UnicodeDecodeError):
        return f"not UTF-8 text ({err.reason} at byte {err.start})"
    return None
