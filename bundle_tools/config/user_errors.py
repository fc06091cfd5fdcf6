"""One line instead of a traceback when a bundle run stops on bad input.

``python -m monai.bundle run`` lets every exception end in a traceback, and MONAI wraps an error raised
while a config item is built in its own ``RuntimeError("Failed to instantiate ...")``: a missing dataset
or a label out of range is named only in the middle of 50 lines. :func:`report_user_errors`, the first
item of a bundle's ``initialize``, installs an excepthook that looks through the chain of causes for an
error of bad input (:func:`data_prep.errors.user_error_message`: the project's own errors, an ``OSError``
naming its file) or of a diverged training (:class:`~bundle_tools.engines.finite.NonFiniteError`), prints
``error: <file>: <problem>`` on stderr and exits 1. Anything else, a bug, keeps its full traceback, as does
every error with ``--debug true`` or the environment variable ``SEG3D_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
from types import TracebackType
from typing import Any

from data_prep.errors import user_error_message

__all__ = ["DEBUG_ENV", "report_user_errors", "reraise_user_error", "user_error_line"]

#: environment variable that keeps full tracebacks (as ``--debug true``)
DEBUG_ENV = "SEG3D_DEBUG"


def user_error_line(err: BaseException) -> str | None:
    """The one line for ``err`` or for the first user error among its causes; None for a bug."""
    from ..engines.finite import NonFiniteError

    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        line = str(err).strip() if isinstance(err, NonFiniteError) else user_error_message(err)
        if line:
            return line
        err = err.__cause__ or err.__context__
    return None


def reraise_user_error(engine: Any, err: Exception) -> None:
    """An engine's first ``EXCEPTION_RAISED`` handler (:class:`~bundle_tools.engines.amp_engine.AmpEngineMixin`
    attaches it before the configs' handlers): a user error leaves the engine at once, before MONAI's
    ``StatsHandler`` logs it with its traceback (``logger.exception``), which would bury the one line. Other
    exceptions reach the other handlers as before."""
    if user_error_line(err):
        raise err


def _excepthook(default):
    def hook(kind: type[BaseException], err: BaseException, tb: TracebackType | None) -> None:
        line = user_error_line(err)
        if line is None:
            default(kind, err, tb)
            return
        print(f"error: {line}", file=sys.stderr, flush=True)

    hook.default = default  # type: ignore[attr-defined]
    return hook


def report_user_errors(debug: bool = False) -> bool:
    """Install the one-line excepthook (once); ``debug`` or ``SEG3D_DEBUG=1`` keeps tracebacks.

    Returns whether the hook is installed.
    """
    if debug or os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes"):
        return False
    if not hasattr(sys.excepthook, "default"):
        sys.excepthook = _excepthook(sys.excepthook)
    return True
