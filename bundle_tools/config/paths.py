"""Where a bundle lives: ``bundle_root()`` for the ``bundle_root`` id of the bundle configs.

A bundle writes its weights (``models/``) and outputs (``runs/``, ``eval/``) into its own folder, whether
it is run from the repository root, from inside the bundle folder, or from a copy elsewhere::

    "imports": ["$import bundle_tools.config.paths"],
    "bundle_root": "$bundle_tools.config.paths.bundle_root()",

The folder is found from the config file being run, in this order:

1. a ``monai.bundle.ConfigWorkflow`` on the call stack (``python -m monai.bundle run ...``, MONAI Label,
   ``check_properties``): its ``config_root_path``;
2. a ``config_file`` argument of a ``monai.bundle`` script on the call stack (``verify_net_in_out``,
   ``ckpt_export``, ...);
3. ``--config_file`` on the command line (a single path or the ``"['a.json','b.json']"`` list form);
4. the current working directory.

The first config file counts (as in MONAI); when its folder is named ``configs`` the bundle root is its
parent. An explicit override (``--bundle_root /path``, as MONAI Label passes) replaces the expression and
is used as is.
"""

from __future__ import annotations

import ast
import inspect
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
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
        default: returned when nothing names a config file; default the current working directory.
    """
    frame = inspect.currentframe()
    try:
        found = _from_stack(frame.f_back if frame is not None else None)
    finally:
        del frame
    if found is not None:
        return found
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


def _from_stack(frame: FrameType | None) -> str | None:
    workflow_cls = _config_workflow_class()
    script_candidate: str | None = None
    while frame is not None:
        owner = frame.f_locals.get("self")
        if workflow_cls is not None and isinstance(owner, workflow_cls):
            root_path = getattr(owner, "config_root_path", None)
            if root_path is not None:
                return _root_of(Path(root_path))
        if script_candidate is None and frame.f_globals.get("__name__", "").startswith("monai.bundle"):
            for name in ("config_file_", "config_file"):
                value = frame.f_locals.get(name)
                files = _as_file_list(value) if isinstance(value, (str, os.PathLike, list, tuple)) else []
                if files:
                    script_candidate = bundle_root_from_config(files)
                    break
        frame = frame.f_back
    return script_candidate


def _config_workflow_class() -> type | None:
    module = sys.modules.get("monai.bundle.workflows")
    return getattr(module, "ConfigWorkflow", None) if module is not None else None
