"""Helpers of the data_prep command tests (``test_cli_errors.py``, ``test_outputs_and_inputs.py``), loaded by
path (``--import-mode=importlib`` imports neither conftest nor sibling modules)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path


def write_manifest(root: Path, names: Sequence[str]) -> Path:
    """``root/dataset.json`` of the cases ``imagesTr/<name>.nii.gz`` / ``labelsTr/<name>.nii.gz`` (one patient
    each; labels background, a, b; one MR channel); returns ``root``."""
    training = [
        {"image": f"imagesTr/{name}.nii.gz", "label": f"labelsTr/{name}.nii.gz", "patient": name}
        for name in names
    ]
    manifest = {
        "name": "t",
        "labels": {"0": "background", "1": "a", "2": "b"},
        "modality": {"0": "MR"},
        "numTraining": len(training),
        "numTest": 0,
        "training": training,
        "test": [],
    }
    (root / "dataset.json").write_text(json.dumps(manifest))
    return root
