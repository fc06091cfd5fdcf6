"""Command-line flags for bundle configs.

``python -m monai.bundle run ... --amp false`` passes the *string* ``"false"`` (python-fire parses only
Python's ``False``), which is truthy. Configs read their on/off ids through :func:`as_bool`, so
``false``/``False``/``0``/``no``/``off`` all switch a feature off.
"""

from __future__ import annotations

from typing import Any

__all__ = ["as_bool"]

_TRUE = {"true", "1", "yes", "on", "y", "t"}
_FALSE = {"false", "0", "no", "off", "n", "f", "none", "null", ""}


def as_bool(value: Any) -> bool:
    """``value`` as a bool; strings are read as words (``"false"`` -> False), anything else by ``bool()``.

    Raises:
        ValueError: a string that is neither a true nor a false word.
    """
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise ValueError(f"{value!r} is not a boolean flag (use true or false)")
    return bool(value)
