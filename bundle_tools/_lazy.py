"""Lazy re-exports for the rooms' ``__init__`` (PEP 562): a name is imported from its module on first use,
so importing ``bundle_tools.handlers.checkpoints`` does not import matplotlib for ``TrainingCurves``."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` whose public ``names`` live in the given submodules.

    Args:
        package: the package's ``__name__``.
        names: public name -> module inside the package (``{"BestModelSaver": "checkpoints"}``), or a module's
            full name (starting with the top-level package's name).
    """
    top = package.split(".")[0] + "."

    def __getattr__(name: str) -> Any:
        if name not in names:
            if (
                importlib.util.find_spec(f"{package}.{name}") is not None
            ):  # a submodule: bundle_tools.handlers.checkpoints
                return importlib.import_module(f"{package}.{name}")
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = names[name] if names[name].startswith(top) else f"{package}.{names[name]}"
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
