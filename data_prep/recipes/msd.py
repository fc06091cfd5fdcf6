"""Medical Segmentation Decathlon task folder -> dataset folder of this project.

Layout as shipped::

    TaskNN_Name/dataset.json     labels, modality, training and test lists
    TaskNN_Name/imagesTr/*.nii.gz, labelsTr/*.nii.gz, imagesTs/*.nii.gz
    (and macOS ``._*`` resource files beside them, which are not volumes and are ignored)

Images are checked and copied byte for byte (their geometry stays exactly as published); labels
are copied when they are uint8 already and otherwise rewritten as uint8 with the same grid. A task
with one modality must have 3D images (a 4D image is refused); a task with several (Task01
BrainTumour: FLAIR, T1w, t1gd, T2w) must have 4D images (x, y, z, modality) and keeps them 4D.
Every label must share the image's grid and hold only declared label values. The task's
``dataset.json`` is read by :func:`data_prep.contract.load_manifest`, the rule every step applies. Output
cases: ``msd_<task>_<id>`` (``msd_pancreas_001``, ``msd_brain_tumour_001``).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..contract import DATASET_JSON, Manifest, load_manifest
from ..convert import geometry_differences, write_nifti_checked
from ..errors import DataPrepError
from ..io import read_image
from ..parallel import map_cases
from ..validate import count_non_finite, spatial_image
from ._common import (
    DEFAULT_WORKERS,
    Recipe,
    build_dataset,
    check_raw_dir,
    manifest,
)

#: label names of the tasks this project trains on, as identifiers; other tasks keep MSD's names
KNOWN_LABELS = {
    "Task01_BrainTumour": {
        "0": "background",
        "1": "edema",
        "2": "non_enhancing_tumour",
        "3": "enhancing_tumour",
    },
    "Task07_Pancreas": {"0": "background", "1": "pancreas", "2": "tumour"},
}
GEOMETRY_TOLERANCE = 1e-4


def find_task_dir(raw_dir: Path) -> Path:
    """``raw_dir`` itself when it holds ``dataset.json``, else its one ``Task*`` sub-folder."""
    if (raw_dir / "dataset.json").is_file():
        return raw_dir
    tasks = sorted(p for p in raw_dir.glob("Task*") if p.is_dir() and (p / "dataset.json").is_file())
    if len(tasks) != 1:
        found = ", ".join(p.name for p in tasks) or "none"
        raise DataPrepError(f"{raw_dir}: expected one MSD task folder with dataset.json (found: {found})")
    return tasks[0]


def task_slug(task_dir: Path) -> str:
    """``Task01_BrainTumour`` -> ``brain_tumour``; ``Task07_Pancreas`` -> ``pancreas``."""
    name = task_dir.name.split("_", 1)[1] if re.match(r"Task\d+_", task_dir.name) else task_dir.name
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _identifier(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def _check_listed_files(manifest: Manifest) -> None:
    """Every listed volume exists and none is a macOS resource file (``._*``)."""
    for _, case in manifest.cases():
        for _, rel in case.files():
            if Path(rel).name.startswith("._"):
                raise DataPrepError(f"{manifest.path(rel)}: a macOS resource file is listed as a volume")
    for _, _, rel in manifest.missing_files()[:1]:
        raise DataPrepError(f"{manifest.path(rel)}: listed in dataset.json but missing")


def _check_image(image: sitk.Image, path: Path, channels: int) -> None:
    dim = image.GetDimension()
    if channels == 1 and (dim != 3 or image.GetNumberOfComponentsPerPixel() != 1):
        shape = image.GetSize()
        raise DataPrepError(
            f"{path}: {dim}D image of size {shape} where a 3D image is expected (one modality)"
        )
    if channels > 1 and (dim != 4 or image.GetSize()[3] != channels):
        raise DataPrepError(
            f"{path}: size {image.GetSize()}; expected 4D (x, y, z, {channels}) for {channels} modalities"
        )
    bad = count_non_finite(path, image)
    if bad:
        raise DataPrepError(f"{path}: {bad} voxels are NaN or infinite")


def convert_case(job: tuple[str, str, str | None, str, str, int, list[int]]) -> None:
    """Check one case and copy it into the staging folder under its new name."""
    task_dir, image_rel, label_rel, stage, name, channels, classes = job
    task_dir, stage_dir = Path(task_dir), Path(stage)
    image_path = task_dir / image_rel
    image = read_image(image_path)
    _check_image(image, image_path, channels)
    folder = "imagesTr" if label_rel is not None else "imagesTs"
    target = stage_dir / folder / f"{name}.nii.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    if image_path.name.endswith(".nii.gz"):
        shutil.copyfile(image_path, target)
    else:
        write_nifti_checked(image, target, source=str(image_path))
    if label_rel is None:
        return
    label_path = task_dir / label_rel
    label = read_image(label_path)
    if label.GetDimension() != 3 or label.GetNumberOfComponentsPerPixel() != 1:
        raise DataPrepError(
            f"{label_path}: label must be 3D with one value per voxel, found size {label.GetSize()}"
        )
    problems = geometry_differences(label, spatial_image(image), tolerance=GEOMETRY_TOLERANCE, relative=False)
    if problems:
        raise DataPrepError(
            f"{label_path}: grid differs from {image_path.name} ({'; '.join(problems)}; label vs image)"
        )
    values, counts = np.unique(sitk.GetArrayViewFromImage(label), return_counts=True)
    bad = [(v, c) for v, c in zip(values.tolist(), counts.tolist(), strict=True) if v not in classes]
    if bad:
        shown = ", ".join(f"{v:g} ({c} voxels)" for v, c in bad)
        raise DataPrepError(f"{label_path}: label values outside the declared classes {classes}: {shown}")
    label_target = stage_dir / "labelsTr" / f"{name}.nii.gz"
    if label.GetPixelID() == sitk.sitkUInt8 and label_path.name.endswith(".nii.gz"):
        label_target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(label_path, label_target)
    else:
        write_nifti_checked(sitk.Cast(label, sitk.sitkUInt8), label_target, source=str(label_path))


def _case_id(rel: str) -> str:
    stem = Path(rel).name.removesuffix(".nii.gz").removesuffix(".nii")
    return stem.rsplit("_", 1)[-1] if "_" in stem else stem


def prepare_msd(
    raw_dir: str | Path,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    seed: int = 0,
    workers: int = DEFAULT_WORKERS,
) -> Path:
    """Build a dataset from an MSD task folder (see the module docstring); returns ``out_dir``.

    Args:
        raw_dir: the ``TaskNN_Name`` folder, or a folder holding exactly one.
        out_dir: dataset folder to write (refused when it holds files, unless ``overwrite``).
        overwrite: replace an existing ``out_dir``.
        seed: seed of the patient-level split.
        workers: parallel worker processes over cases.
    """
    raw_dir, out_dir = check_raw_dir(raw_dir, out_dir)
    task_dir = find_task_dir(raw_dir)
    meta = load_manifest(task_dir)
    _check_listed_files(meta)
    labels = {k: _identifier(v) for k, v in meta.labels.items()}
    if task_dir.name in KNOWN_LABELS:
        if set(labels) != set(KNOWN_LABELS[task_dir.name]):
            raise DataPrepError(
                f"{task_dir / DATASET_JSON}: labels {sorted(labels)} differ from {task_dir.name}'s "
                f"{sorted(KNOWN_LABELS[task_dir.name])}"
            )
        labels = dict(KNOWN_LABELS[task_dir.name])
    classes = list(range(meta.num_classes))
    slug = task_slug(task_dir)

    def write_cases(stage: Path) -> dict[str, Any]:
        jobs, entries, tests = [], [], []
        for case in meta.training:
            name = f"msd_{slug}_{_case_id(case.image)}"
            jobs.append((str(task_dir), case.image, case.label, str(stage), name, meta.num_channels, classes))
            entries.append(
                {
                    "image": f"imagesTr/{name}.nii.gz",
                    "label": f"labelsTr/{name}.nii.gz",
                    "patient": case.patient,
                }
            )
        for case in meta.test:
            name = f"msd_{slug}_{_case_id(case.image)}"
            jobs.append((str(task_dir), case.image, None, str(stage), name, meta.num_channels, classes))
            tests.append(f"imagesTs/{name}.nii.gz")
        names = [e["image"] for e in entries] + tests
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise DataPrepError(f"{task_dir}: two cases map to the same output name {duplicates[0]}")
        map_cases(convert_case, jobs, workers=workers, desc=slug)
        return manifest(
            slug,
            meta.description or f"MSD {task_dir.name}",
            f"MSD {task_dir.name}",
            labels,
            dict(meta.modality),
            entries,
            tests,
        )

    return build_dataset(out_dir, write_cases, overwrite=overwrite, seed=seed, workers=workers)


RECIPE = Recipe(
    name="msd",
    help="Medical Segmentation Decathlon task folder (TaskNN_Name with dataset.json)",
    description=__doc__ or "",
    run=prepare_msd,
)
