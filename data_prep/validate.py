"""Check a dataset folder against its ``dataset.json`` before anything trains on it.

For every case: image and label exist and can be read; they share shape, spacing, origin and
direction (within a tolerance); labels hold integers that ``dataset.json`` declares; images hold
no NaN or infinity; every image has the same number of channels (the ``modality`` count). Every
problem is listed with its file; nothing is fixed and nothing in the dataset is written.

Example::

    report = validate_dataset("data/abdominal")
    report["ok"], report["problems"]  # [{"file": "labelsTr/x.nii.gz", "problem": "..."}]
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import SimpleITK as sitk
from tqdm import tqdm

from data_prep.convert import geometry_differences
from data_prep.errors import DataPrepError
from data_prep.io import read_image, read_json

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


def count_non_finite(path: Path, image: sitk.Image) -> int:
    """NaN and infinite voxels of a float image; NIfTI is read with nibabel, as ITK turns NaN into 0."""
    if image.GetPixelID() not in (
        sitk.sitkFloat32,
        sitk.sitkFloat64,
        sitk.sitkVectorFloat32,
        sitk.sitkVectorFloat64,
    ):
        return 0
    if path.name.endswith((".nii", ".nii.gz")):
        array = np.asanyarray(nib.load(str(path)).dataobj)
    else:
        array = sitk.GetArrayViewFromImage(image)
    return int(np.count_nonzero(~np.isfinite(array)))


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


def _relative(entry: str) -> str:
    return entry[2:] if entry.startswith("./") else entry


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
    manifest_path = dataset_dir / "dataset.json"
    manifest = read_json(manifest_path)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("labels"), dict):
        raise DataPrepError(f"{manifest_path}: expected an object with 'labels' and 'training'")
    try:
        classes = sorted(int(k) for k in manifest["labels"])
    except ValueError:
        raise DataPrepError(
            f"{manifest_path}: label keys must be integers, found {list(manifest['labels'])}"
        ) from None
    problems: list[dict[str, str]] = []
    jobs = []
    seen: set[str] = set()
    for i, entry in enumerate(manifest.get("training", [])):
        if not isinstance(entry, dict) or "image" not in entry or "label" not in entry:
            problems.append(
                {"file": "dataset.json", "problem": f"training entry {i} lacks 'image' or 'label'"}
            )
            continue
        image_rel, label_rel = _relative(entry["image"]), _relative(entry["label"])
        for rel in (image_rel, label_rel):
            if rel in seen:
                problems.append({"file": rel, "problem": "listed more than once in dataset.json"})
            seen.add(rel)
        jobs.append((dataset_dir, image_rel, label_rel, classes, tolerance))
    for entry in manifest.get("test", []):
        rel = _relative(entry["image"] if isinstance(entry, dict) else entry)
        jobs.append((dataset_dir, rel, None, classes, tolerance))
    num_training = sum(1 for job in jobs if job[2] is not None)
    if "numTraining" in manifest and manifest["numTraining"] != num_training:
        problems.append(
            {
                "file": "dataset.json",
                "problem": f"numTraining is {manifest['numTraining']} but {num_training} listed",
            }
        )
    if num_training == 0:
        problems.append({"file": "dataset.json", "problem": "no training cases listed"})

    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            results = list(
                tqdm(
                    pool.map(_check_case_args, jobs),
                    total=len(jobs),
                    desc="validate",
                    disable=not progress or None,
                )
            )
    else:
        results = [_check_case_args(job) for job in tqdm(jobs, desc="validate", disable=not progress or None)]

    channels = {r["channels"] for r in results if r["channels"] is not None}
    expected_channels = len(manifest["modality"]) if isinstance(manifest.get("modality"), dict) else None
    if expected_channels is not None and expected_channels > 0:
        channels.add(expected_channels)
    if len(channels) > 1:
        reference = expected_channels if expected_channels else max(channels)
        for r in results:
            if r["channels"] is not None and r["channels"] != reference:
                r["problems"].append(
                    {
                        "file": r["image"],
                        "problem": f"{r['channels']} channel(s) but the dataset declares {reference}",
                    }
                )
    for r in results:
        problems.extend(r["problems"])
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
