"""``export.json``: what an export wrote, from which bundle and weights, and how it was checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from bundle_tools.export.source import BundleSource

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
