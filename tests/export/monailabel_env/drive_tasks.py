"""Drive MONAI Label's bundle tasks on an exported bundle; run by the MONAI Label environment's Python.

    .venv-monailabel/bin/python drive_tasks.py infer BUNDLE IMAGE RESULT.json
    .venv-monailabel/bin/python drive_tasks.py train BUNDLE STUDIES RESULT.json

``infer``: ``BundleInferTask(BUNDLE)`` on the NIfTI ``IMAGE``; records validity, label names and the geometry of
the input and of the label file MONAI Label writes. ``train``: ``BundleTrainTask(BUNDLE)`` for one epoch on
the labelled images of the ``LocalDatastore`` at ``STUDIES`` (``labels/final/``); records ``models/model.pt``
before and after. The project is not importable here; the bundle brings its code in ``scripts/``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any


def _geometry(path: str) -> dict[str, Any]:
    import nibabel as nib
    import numpy as np

    img = nib.load(path)
    data = np.asarray(img.dataobj)
    values = np.unique(data)
    return {
        "shape": list(img.shape),
        "affine": np.asarray(img.affine).round(4).tolist(),
        "dtype": str(data.dtype),
        "values": [float(v) for v in values[:50]],
        "counts": {str(float(v)): int((data == v).sum()) for v in values[:50]},
    }


def infer(bundle: str, image: str) -> dict[str, Any]:
    """Run ``BundleInferTask`` on ``image``."""
    from monailabel.tasks.infer.bundle import BundleInferTask

    task = BundleInferTask(bundle, {"preload": "false"})
    result: dict[str, Any] = {"valid": task.is_valid()}
    if not task.is_valid():
        return result
    result.update(
        labels=task.labels, dimension=task.dimension, type=str(task.type), description=task.description
    )
    label_file, params = task({"image": image, "device": "cpu", "result_extension": ".nii.gz"})
    result.update(label_file=label_file, image=_geometry(image), label=_geometry(label_file))
    os.unlink(label_file)
    return result


def train(bundle: str, studies: str) -> dict[str, Any]:
    """Run ``BundleTrainTask`` for one epoch on the datastore at ``studies``."""
    import torch
    from monailabel.datastore.local import LocalDatastore
    from monailabel.tasks.train.bundle import BundleTrainTask

    model = Path(bundle) / "models" / "model.pt"
    before = torch.load(model, map_location="cpu", weights_only=True)
    datastore = LocalDatastore(studies, extensions=("*.nii.gz",), auto_reload=False)
    task = BundleTrainTask(bundle, {})
    result: dict[str, Any] = {"valid": task.is_valid(), "datalist": len(datastore.datalist())}
    if not task.is_valid():
        return result
    request = {
        "model": Path(bundle).name,
        "max_epochs": 1,
        "device": "cpu",
        "val_split": 0.5,
        "multi_gpu": False,
    }
    task(request, datastore)
    after = torch.load(model, map_location="cpu", weights_only=True)
    changed = any(not torch.equal(after["model"][k], before["model"][k]) for k in before["model"])
    result.update(
        keys_before=sorted(before),
        keys_after=sorted(after),
        epoch=after.get("epoch"),
        weights_changed=changed,
        same_tensors=sorted(after["model"]) == sorted(before["model"]),
    )
    return result


def main(argv: list[str]) -> int:
    """Run one task and write its record as JSON."""
    logging.basicConfig(level=logging.INFO, stream=sys.stdout)
    command, bundle, arg, out = argv[1:5]
    for name in ("custom_networks", "bundle_tools"):
        try:
            __import__(name)
        except ImportError:
            continue
        raise SystemExit(f"{name} is importable in this environment: the test would prove nothing")
    result = infer(bundle, arg) if command == "infer" else train(bundle, arg)
    Path(out).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("MONAI_LABEL_RELOAD_APP_LIB", "true")
    sys.exit(main(sys.argv))
