"""Where a bundle lives: ``bundle_root()`` for the ``bundle_root`` id of the bundle configs.

A bundle writes its weights (``models/``) and outputs (``runs/``, ``eval/``) into its own folder, whether
it is run from the repository root, from inside the bundle folder, or from a copy elsewhere::

    "imports": ["$import bundle_tools"],
    "bundle_root": "$bundle_tools.config.bundle_root()",

MONAI's convention is a ``bundle_root`` of ``"."`` (the bundle folder is the working directory), replaced by
``--bundle_root /path`` or a ``bundle_root=`` override where it is not (MONAI Label passes one). This
function keeps the override and adds one step, so that the documented commands work from the repository
root:

1. ``--config_file`` on the command line (``python -m monai.bundle run ...``, ``torchrun``, the
   ``verify_net_in_out``/``ckpt_export`` scripts; a single path or the ``"['a.json','b.json']"`` list form):
   the folder of the first config file, or its parent when that folder is named ``configs`` (as MONAI's
   ``ConfigWorkflow`` finds its ``config_root_path``);
2. else the current working directory, as MONAI's ``"."``.

From Python (``ConfigWorkflow(config_file=..., bundle_root=...)``, ``ConfigParser``), pass ``bundle_root``
unless the working directory is the bundle folder. An override replaces the expression and is used as is.
"""

from __future__ import annotations

import ast
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["bundle_root", "bundle_root_from_config", "config_files_from_argv"]


def bundle_root_from_config(config_file: str | os.PathLike | Sequence[str | os.PathLike]) -> str:
    """The bundle folder of ``config_file`` (the first one of a list): its folder, or the parent of
    ``configs/``, as an absolute path.

    Args:
        config_file: a config path, a sequence of paths, or the string form of a list of paths.
    """
    files = _as_file_list(config_file)
    if not files:
        raise ValueError(f"no config file in {config_file!r}")
    folder = Path(files[0]).expanduser().absolute().parent
    return _root_of(folder)


def config_files_from_argv(argv: Sequence[str] | None = None) -> list[str]:
    """The ``--config_file`` value(s) of a command line (``--config_file X`` or ``--config_file=X``)."""
    argv = list(sys.argv if argv is None else argv)
    for i, arg in enumerate(argv):
        if arg == "--config_file" and i + 1 < len(argv):
            return _as_file_list(argv[i + 1])
        if arg.startswith("--config_file="):
            return _as_file_list(arg.split("=", 1)[1])
    return []


def bundle_root(default: str | os.PathLike | None = None) -> str:
    """The absolute path of the folder of the bundle whose config is being run (see the module doc).

    Args:
        default: returned when no ``--config_file`` is on the command line; default the working directory.
    """
    files = config_files_from_argv()
    if files:
        return bundle_root_from_config(files)
    return str(Path(default if default is not None else os.getcwd()).absolute())


def _root_of(folder: Path) -> str:
    folder = Path(os.path.normpath(folder.absolute()))
    return str(folder.parent if folder.name == "configs" else folder)


def _as_file_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        text = str(value).strip()
        if text.startswith(("[", "(")):
            try:
                parsed = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                parsed = [p.strip(" '\"") for p in text.strip("[]()").split(",")]
            return [str(p) for p in parsed if str(p)]
        return [text] if text else []
    if isinstance(value, Sequence):
        return [str(v) for v in value if v is not None]
    return []
