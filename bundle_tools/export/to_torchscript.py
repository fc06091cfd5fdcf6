"""TorchScript export: ``models/model.ts``, scripted (any input size the network accepts), checked.

The file carries the bundle's ``metadata.json`` and ``inference.json`` as extra files, as MONAI's
``ckpt_export`` does, so ``torch.jit.load(path, _extra_files={"metadata.json": ""})`` reads them back.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .checks import TORCHSCRIPT_TOLERANCE, check_outputs, check_shapes
from .errors import ExportError
from .report import export_model_file
from .source import BundleSource

__all__ = ["export_torchscript", "save_torchscript"]


def save_torchscript(
    source: BundleSource, path: Path, extra_files: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Script ``source.network``, save it to ``path`` and check the saved file against the eager network.

    Args:
        source: the loaded bundle.
        path: the ``.ts`` file to write.
        extra_files: ``{name: JSON-able}`` stored in the file; default the bundle's metadata and inference
            config.

    Returns:
        The record of the check (see :func:`~bundle_tools.export.checks.check_outputs`).
    """
    extra = (
        extra_files
        if extra_files is not None
        else {
            "metadata.json": source.metadata,
            "inference.json": source.configs["inference.json"],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", DeprecationWarning
        )  # torch.jit is deprecated, not gone: MONAI Label loads .ts
        try:
            scripted = torch.jit.script(source.network)
        except Exception as err:  # noqa: BLE001 - TorchScript compiler errors are many types
            raise ExportError(
                f"{source.root}: the network cannot be scripted with torch.jit.script: {err}"
            ) from err
        path.parent.mkdir(parents=True, exist_ok=True)
        extra_text = {k: json.dumps(v, indent=4) for k, v in extra.items()}
        torch.jit.save(scripted, str(path), _extra_files=extra_text)
        loaded = torch.jit.load(str(path), map_location="cpu").eval()
    check = check_outputs(
        loaded, source.network, check_shapes(source.spec), TORCHSCRIPT_TOLERANCE, "TorchScript", path
    )
    return {"file": path.name, "dynamic_sizes": True, "check": check}


def export_torchscript(
    bundle_dir: str | os.PathLike,
    out: str | os.PathLike,
    ckpt: str | os.PathLike | None = None,
    args_file: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Export a trained bundle to ``OUT/models/model.ts`` (and ``OUT/export.json``, the check's record).

    Args:
        bundle_dir: the bundle folder.
        out: a folder that does not exist yet.
        ckpt: the weights; default ``models/model.pt`` of the bundle.
        args_file: the overrides the model was trained with (``monai.bundle run --args_file``).
    """
    return export_model_file(
        bundle_dir, out, ckpt, "torchscript", "models/model.ts", save_torchscript, args_file
    )
