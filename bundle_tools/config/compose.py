"""The bundles' flat configs, composed from the shared training graph and each bundle's ``task.json``.

Every bundle runs the same graph (data, crops, augmentation, engines, handlers, checkpoints, metrics,
postprocessing); it lives once, in ``bundles/_shared/``:

- ``common.json``: what training, evaluation and inference share (bundle root, plan, device, flags, the
  network, the sliding-window inferer, the preprocessing, activation and discretisation);
- ``train.json``, ``inference.json``: the training and inference graphs on top of it;
- ``evaluate.json``, ``multi_gpu_train.json``: MONAI override files, run after ``train.json``.

A bundle's ``task.json`` holds only what differs, as MONAI config ids (``#`` reaches into a structure),
in four sections: ``common`` (applied to train and inference), ``train``, ``inference``, ``evaluate``.

``python -m bundle_tools configs`` merges them with MONAI's own multi-file rule (``merge_kv``: later files
override, ``#`` ids reach into structures, ``+`` ids append) and writes each bundle's ``configs/*.json``:
flat, complete configs, so ``python -m monai.bundle run --config_file bundles/X/configs/train.json`` works
as in any Model Zoo bundle and a copied-out bundle folder stands alone. ``--check`` fails when a committed
config differs from its sources (the test suite runs it).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from monai.bundle import ConfigParser
from monai.bundle.utils import merge_kv

from data_prep.io import read_json, write_text

__all__ = [
    "SHARED_FOLDER",
    "TASK_FILE",
    "add_parser",
    "bundle_dirs",
    "compose_bundle",
    "dumps",
    "stale_configs",
]

SHARED_FOLDER = "_shared"
"""The folder beside the bundles that holds the shared graph."""

TASK_FILE = "task.json"
"""What one bundle changes in the shared graph."""

_FULL = {"train.json": "train", "inference.json": "inference"}
_OVERRIDES = {"evaluate.json": "evaluate", "multi_gpu_train.json": None}
_WIDTH = 110


def _merged(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    parser = ConfigParser(config={})
    for part in parts:
        for key, value in part.items():
            merge_kv(parser, key, copy.deepcopy(value))
    return parser.get()


def compose_bundle(
    bundle_dir: str | os.PathLike, shared_dir: str | os.PathLike | None = None
) -> dict[str, Any]:
    """The flat configs of ``bundle_dir`` (file name -> config), from ``shared_dir`` and its ``task.json``.

    Args:
        bundle_dir: a bundle folder holding ``task.json``.
        shared_dir: the shared graph (default ``<bundle_dir>/../_shared``).
    """
    bundle_dir = Path(bundle_dir)
    shared_dir = Path(shared_dir) if shared_dir is not None else bundle_dir.parent / SHARED_FOLDER
    task = read_json(bundle_dir / TASK_FILE)
    unknown = set(task) - {"common", *_FULL.values(), "evaluate"}
    if not isinstance(task, dict) or unknown:
        raise ValueError(
            f"{bundle_dir / TASK_FILE}: sections are common, train, inference, evaluate; got {unknown}"
        )
    common = read_json(shared_dir / "common.json")
    configs: dict[str, Any] = {}
    for name, section in _FULL.items():
        configs[name] = _merged(
            [common, read_json(shared_dir / name), task.get("common", {}), task.get(section, {})]
        )
    for name, section in _OVERRIDES.items():
        configs[name] = {**read_json(shared_dir / name), **(task.get(section, {}) if section else {})}
    return configs


def dumps(value: Any, indent: int = 0) -> str:
    """JSON as the bundles write it: a list or dict on one line when it fits, else one item a line."""
    flat = json.dumps(value)
    if not isinstance(value, (dict, list)) or len(flat) + indent <= _WIDTH or not value:
        return flat
    pad = " " * (indent + 4)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(k)}: {dumps(v, indent + 4)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [f"{pad}{dumps(v, indent + 4)}" for v in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def stale_configs(bundle_dir: str | os.PathLike, write: bool = False) -> list[Path]:
    """The configs of ``bundle_dir`` that differ from their sources; rewrite them when ``write``."""
    stale = []
    for name, config in compose_bundle(bundle_dir).items():
        path = Path(bundle_dir) / "configs" / name
        text = dumps(config) + "\n"
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(path)
            if write:
                write_text(text, path)
    return stale


def bundle_dirs(root: str | os.PathLike) -> list[Path]:
    """The bundle folders under ``root`` (those with a ``task.json``)."""
    return sorted(p.parent for p in Path(root).glob(f"*/{TASK_FILE}"))


def run(args: argparse.Namespace) -> int:
    """Write (or with ``--check`` only list) the configs that differ from their sources."""
    bundles = [Path(b) for b in args.bundles] or bundle_dirs(args.root)
    stale = [p for b in bundles for p in stale_configs(b, write=not args.check)]
    if args.check and stale:
        names = ", ".join(str(p) for p in stale)
        raise ValueError(
            f"{names}: differ from bundles/{SHARED_FOLDER} and task.json; run `python -m bundle_tools configs`"
        )
    for path in stale:
        print(f"wrote: {path}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``configs`` command to a ``python -m bundle_tools`` parser."""
    parser = subparsers.add_parser(
        "configs",
        help="write the bundles' flat configs from bundles/_shared and each task.json",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "bundles", nargs="*", help="bundle folders (default: every folder of --root with a task.json)"
    )
    parser.add_argument("--root", default="bundles", help="where the bundles are (default: bundles)")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when a config is out of date"
    )
    parser.set_defaults(func=run)
    return parser
