"""``export.json``: what an export wrote, from which bundle and weights, and how it was checked."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .errors import staged_outputs
from .source import BundleSource, load_bundle

__all__ = ["write_report"]


def write_report(path: Path, target: str, source: BundleSource, files: dict[str, Any]) -> dict[str, Any]:
    """Write the record of an export to ``path`` (``export.json``) and return it.

    Args:
        path: the file to write (inside the staging folder).
        target: ``torchscript``, ``onnx`` or ``monailabel``.
        source: the exported bundle.
        files: ``{relative path: record}`` of the exported models.
    """
    report = {
        "target": target,
        "bundle": str(source.root),
        "bundle_version": source.metadata.get("version"),
        "weights": str(source.ckpt_path),
        "input": {
            "key": source.spec.key,
            "channels": source.spec.channels,
            "spatial_shape": source.metadata["network_data_format"]["inputs"][source.spec.key][
                "spatial_shape"
            ],
        },
        "torch_version": torch.__version__,
        "files": files,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def export_model_file(
    bundle_dir: str | os.PathLike,
    out: str | os.PathLike,
    ckpt: str | os.PathLike | None,
    target: str,
    relative: str,
    save: Callable[[BundleSource, Path], dict[str, Any]],
    args_file: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Export one model file: load the bundle (with the overrides of ``args_file``), ``save`` it to
    ``OUT/<relative>`` and record the check in ``OUT/export.json``, all in a staged folder renamed to ``out``
    when whole. An ensemble (``ckpt_paths``) is refused: one file holds one network."""
    source = load_bundle(bundle_dir, ckpt, args_file=args_file, target=target)
    with staged_outputs(out) as (stage, _):
        record = save(source, stage / relative)
        report = write_report(stage / "export.json", target, source, {relative: record})
    return report
