"""``--args_file`` of an export: the overrides a model was trained and run with travel into the export.

A bundle run with ``python -m monai.bundle run ... --args_file F`` (a head other than the default, such as the
polyp bundle's ``configs/sigmoid_head.json``, or the fold ensemble ``ensemble.json`` that ``bundle_tools cv``
writes) builds another network or another inferer than the bundle's configs alone. The exporter reads the same
file and splits it:

* the weights it names (``ckpt_path``, ``ckpt_paths``, ``postprocessing_file``) are the exporter's: the files
  are checked and copied into the export, and the exported configs name the copies;
* ids that name places on this machine (:data:`LOCAL_IDS`: ``dataset_dir``, ``datalist``, ``bundle_root``, ...)
  are dropped, since the exported bundle runs elsewhere;
* every other id is set in ``train.json`` and ``inference.json`` as ``monai.bundle run --args_file`` sets it
  (MONAI's ``ConfigParser.update``; a nested id ``a#b`` only where ``a`` exists in that file).
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ExportError

__all__ = ["LOCAL_IDS", "ExportArgs", "apply_overrides", "read_export_args"]

LOCAL_IDS = ("dataset_dir", "datalist", "bundle_root", "ckpt_dir", "output_dir", "input_dir", "config_file")
"""Ids of an args file that name places on this machine; an export leaves them out."""

OVERRIDDEN_FILES = ("train.json", "inference.json")
"""The configs an args file is applied to (the whole configs MONAI Label runs)."""


@dataclass
class ExportArgs:
    """An args file split into what the exporter copies and what it sets in the configs.

    Attributes:
        overrides: ids set in :data:`OVERRIDDEN_FILES`.
        ckpt_path: the weights of ``ckpt_path`` (the model whose plan drives preprocessing), or None.
        ckpt_paths: the weights of an ensemble (``ckpt_paths``), ``[]`` for one model.
        postprocessing: the ``postprocessing_file``, or None.
        dropped: the :data:`LOCAL_IDS` that were left out.
    """

    overrides: dict[str, Any] = field(default_factory=dict)
    ckpt_path: Path | None = None
    ckpt_paths: list[Path] = field(default_factory=list)
    postprocessing: Path | None = None
    dropped: list[str] = field(default_factory=list)


def _path(value: Any, key: str, args_file: Path) -> Path:
    if not isinstance(value, (str, os.PathLike)) or str(value).startswith(("$", "@")):
        raise ExportError(
            f"{args_file}: {key} must be a file path (not an expression) for an export, got {value!r}"
        )
    return Path(value).absolute()


def read_export_args(args_file: str | os.PathLike | None) -> ExportArgs:
    """Read and split an args file (a JSON object of bundle ids); ``ExportArgs()`` for None."""
    from ..inferers.ensemble import checkpoint_paths

    if args_file is None:
        return ExportArgs()
    path = Path(args_file)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"{path}: missing") from None
    except (OSError, ValueError) as err:
        raise ExportError(f"{path}: not readable JSON ({err})") from None
    if not isinstance(data, dict):
        raise ExportError(f"{path}: an args file is a JSON object of bundle ids, got {type(data).__name__}")
    args = ExportArgs()
    for key, value in data.items():
        if key in LOCAL_IDS:
            args.dropped.append(key)
        elif key == "ckpt_path":
            args.ckpt_path = _path(value, key, path)
        elif key == "ckpt_paths":
            args.ckpt_paths = [_path(p, key, path) for p in checkpoint_paths(value)]
        elif key == "postprocessing_file":
            args.postprocessing = _path(value, key, path)
        else:
            args.overrides[key] = value
    return args


def apply_overrides(config: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``config`` with ``overrides`` set as ``monai.bundle run --args_file`` sets them (a copy).

    A nested id ``a#b`` is set only where ``a`` exists in ``config``: a training id (``loss_options#...``)
    does not belong in ``inference.json``.
    """
    from monai.bundle import ConfigParser

    parser = ConfigParser(copy.deepcopy(config))
    for key, value in overrides.items():
        parent = key.rsplit("#", 1)[0] if "#" in key else None
        if parent is None or parent in parser:
            parser[key] = copy.deepcopy(value)
    return parser.get()
