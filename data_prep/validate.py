"""Check a dataset folder against its ``dataset.json`` before anything trains on it.

``dataset.json`` is read by the one loader (:func:`data_prep.contract.load_manifest`): a malformed
manifest is refused with the rule ``split`` and ``analyze`` apply. Then, for every case: image and label
exist and can be read; they share shape, spacing, origin and direction (within a tolerance); labels hold
integers that ``dataset.json`` declares; images hold no NaN or infinity; every image has the
``modality`` count of channels; ``numTraining``/``numTest`` match the lists. The other files of the
folder, where present (``datalist.json``, ``fingerprint.json``, ``plan.json``), must pass their loaders,
name only files that exist, and carry the manifest's labels and modality. Every problem is listed with
its file; nothing is fixed and nothing in the dataset is written.

Example::

    report = validate_dataset("data/abdominal")
    report["ok"], report["problems"]  # [{"file": "labelsTr/x.nii.gz", "problem": "..."}]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from .contract import (
    DATALIST_JSON,
    DATASET_JSON,
    FINGERPRINT_JSON,
    PLAN_JSON,
    Datalist,
    Manifest,
    load_datalist,
    load_fingerprint,
    load_manifest,
    load_plan,
)
from .convert import geometry_differences
from .errors import DataPrepError
from .io import count_non_finite as count_non_finite  # was defined here
from .io import read_image
from .parallel import map_cases

DEFAULT_TOLERANCE = 1e-4


def spatial_part(
    image: sitk.Image,
) -> tuple[tuple[int, ...], tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """Size, spacing, origin, direction of the first three axes (drops the channel axis of a 4D image)."""
    dim = image.GetDimension()
    n = min(dim, 3)
    direction = np.asarray(image.GetDirection()).reshape(dim, dim)[:n, :n]
    return image.GetSize()[:n], image.GetSpacing()[:n], image.GetOrigin()[:n], tuple(direction.flatten())


def spatial_image(image: sitk.Image) -> sitk.Image:
    """An empty image on the spatial grid of ``image`` (for geometry comparisons)."""
    size, spacing, origin, direction = spatial_part(image)
    ref = sitk.Image([int(s) for s in size], sitk.sitkUInt8)
    ref.SetSpacing(spacing)
    ref.SetOrigin(origin)
    ref.SetDirection(direction)
    return ref


def channel_count(image: sitk.Image) -> int:
    """Channels of an image: the 4th axis of a 4D image, or the components of a vector image."""
    if image.GetDimension() == 4:
        return image.GetSize()[3] * image.GetNumberOfComponentsPerPixel()
    return image.GetNumberOfComponentsPerPixel()


def _read(dataset_dir: Path, rel: str, problems: list[dict[str, str]]) -> sitk.Image | None:
    try:
        return read_image(dataset_dir / rel)
    except DataPrepError as err:
        problems.append({"file": rel, "problem": str(err).split(": ", 1)[-1]})
        return None


def check_case(
    dataset_dir: str | os.PathLike,
    image_rel: str,
    label_rel: str | None,
    classes: list[int],
    tolerance: float,
) -> dict[str, Any]:
    """Check one case; returns ``{"image", "label", "channels", "shape", "spacing", "problems"}``."""
    dataset_dir = Path(dataset_dir)
    problems: list[dict[str, str]] = []
    info: dict[str, Any] = {"image": image_rel, "label": label_rel, "channels": None, "problems": problems}
    image = _read(dataset_dir, image_rel, problems)
    if image is not None:
        size, spacing, _, _ = spatial_part(image)
        info.update(channels=channel_count(image), shape=list(size), spacing=list(spacing))
        if image.GetDimension() not in (2, 3, 4):
            problems.append(
                {"file": image_rel, "problem": f"{image.GetDimension()}D image; 2D, 3D or 4D expected"}
            )
        bad = count_non_finite(dataset_dir / image_rel, image)
        if bad:
            problems.append({"file": image_rel, "problem": f"{bad} voxels are NaN or infinite"})
    if label_rel is None:
        return info
    label = _read(dataset_dir, label_rel, problems)
    if label is None:
        return info
    if label.GetNumberOfComponentsPerPixel() != 1 or label.GetDimension() > 3:
        problems.append({"file": label_rel, "problem": "label must be one value per voxel, 2D or 3D"})
        return info
    if image is not None:
        diffs = geometry_differences(label, spatial_image(image), tolerance=tolerance, relative=False)
        if diffs:
            problems.append({"file": label_rel, "problem": "differs from image: " + "; ".join(diffs)})
    array = sitk.GetArrayViewFromImage(label)
    values, counts = np.unique(array, return_counts=True)
    if array.dtype.kind == "f":
        if not np.isfinite(values).all():
            problems.append({"file": label_rel, "problem": "label holds NaN or infinite values"})
            return info
        fractional = values[values != np.round(values)]
        if fractional.size:
            shown = ", ".join(f"{v:g}" for v in fractional[:10])
            problems.append({"file": label_rel, "problem": f"non-integer label values: {shown}"})
            return info
    undeclared = [
        (v, c) for v, c in zip(values.tolist(), counts.tolist(), strict=True) if int(v) not in classes
    ]
    if undeclared:
        shown = ", ".join(f"{v:g} ({c} voxels)" for v, c in undeclared[:10])
        problems.append(
            {
                "file": label_rel,
                "problem": f"label values not declared in dataset.json labels {classes}: {shown}",
            }
        )
    info["label_values"] = [int(v) for v in values.tolist()]
    return info


def _check_case_args(args: tuple) -> dict[str, Any]:
    return check_case(*args)


def validate_dataset(
    dataset_dir: str | os.PathLike,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    workers: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Validate ``dataset_dir`` (see the module docstring); returns the report, never raises for a bad case.

    Raises ``DataPrepError`` only when ``dataset.json`` itself is missing or malformed.
    """
    dataset_dir = Path(dataset_dir)
    manifest = load_manifest(dataset_dir)
    classes = list(range(manifest.num_classes))
    jobs = [(dataset_dir, c.image, c.label, classes, tolerance) for c in manifest.training + manifest.test]
    problems = [
        {"file": DATASET_JSON, "problem": f"{key} is {declared} but {len(listed)} listed"}
        for key, declared, listed in (
            ("numTraining", manifest.num_training, manifest.training),
            ("numTest", manifest.num_test, manifest.test),
        )
        if declared is not None and declared != len(listed)
    ]
    results = map_cases(_check_case_args, jobs, workers=workers, desc="validate", progress=progress)
    for r in results:
        if r["channels"] is not None and r["channels"] != manifest.num_channels:
            r["problems"].append(
                {
                    "file": r["image"],
                    "problem": f"{r['channels']} channel(s) but the dataset declares {manifest.num_channels}",
                }
            )
        problems.extend(r["problems"])
    problems.extend(contract_problems(manifest))
    num_training = len(manifest.training)
    return {
        "dataset": str(dataset_dir),
        "ok": not problems,
        "tolerance": tolerance,
        "num_training": num_training,
        "num_test": len(jobs) - num_training,
        "num_problems": len(problems),
        "problems": problems,
        "cases": [{k: v for k, v in r.items() if k != "problems"} for r in results],
    }


def contract_problems(manifest: Manifest) -> list[dict[str, str]]:
    """Problems of the dataset folder's other contract files, where present: refused by their loader,
    naming a missing file, or made for other labels or modality than ``dataset.json`` declares."""
    problems = []
    for name, load, command in (
        (DATALIST_JSON, load_datalist, "split"),
        (FINGERPRINT_JSON, load_fingerprint, "analyze"),
        (PLAN_JSON, load_plan, "analyze"),
    ):
        path = manifest.path(name)
        if not path.is_file():
            continue
        try:
            contract = load(path)
        except DataPrepError as err:
            problems.append({"file": name, "problem": str(err).split(": ", 1)[-1]})
            continue
        missing = contract.missing_files() if isinstance(contract, Datalist) else []
        for where, key, rel in missing:
            problems.append({"file": rel, "problem": f"no such file (listed by {name} as {where} {key})"})
        for key in ("labels", "modality"):
            if getattr(contract, key) != getattr(manifest, key):
                problems.append(
                    {
                        "file": name,
                        "problem": f"field {key!r} {getattr(contract, key)} differs from {DATASET_JSON}'s "
                        f"{getattr(manifest, key)}; run `python -m data_prep {command}` again",
                    }
                )
    return problems
