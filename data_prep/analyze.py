"""Data fingerprint of a dataset (facts) and the plan made from it (decisions).

``analyze_dataset`` reads every labelled case of ``dataset.json`` once, one case at a time (never
all volumes at once; optionally in worker processes, :mod:`data_prep.parallel`), writes the facts to
``fingerprint.json`` and the decisions (:mod:`data_prep.planner`) to ``plan.json``, as described in
``docs/dataset_format.md``. All three files go through their contract (:mod:`data_prep.contract`):
``dataset.json`` is read by :func:`~data_prep.contract.load_manifest`, and the fingerprint and the plan
are built as :class:`~data_prep.contract.Fingerprint` and :class:`~data_prep.contract.Plan`, so what is
written is what their loaders accept.

- ``class_voxels``/``class_frequencies``: voxel count of every label value over all cases
  (seed 000's table: 94 % background in CHAOS).
The decisions (:mod:`data_prep.planner`), from the fingerprint:

- ``class_weights``: inverse square-root frequency, ``w_c = 1 / sqrt(f_c)``, capped at
  ``MAX_WEIGHT_RATIO`` times the smallest weight (so a class absent from the data gets a finite
  weight), then normalised to mean 1. The square root keeps the rarest classes from dominating
  the loss as plain inverse frequency would (seed 000: liver 0.46, kidneys 1.35, spleen 1.74,
  background 0.10).
- ``crop_ratios``: ratios for MONAI's ``RandCropByLabelClassesd``: background keeps
  ``BACKGROUND_CROP_SHARE`` of the patches (context, false-positive control); the foreground
  classes share the rest in proportion to their class weights (rare classes up-weighted); a class
  never seen gets 0.
- ``spacing``/``shape``: median, min and max per axis; ``target_spacing`` is the median spacing,
  except that an axis whose median spacing is more than ``ANISOTROPY_THRESHOLD`` times the others'
  takes the 10th percentile of its spacings (nnU-Net's rule for anisotropic data).
- ``intensity``: per channel over foreground (label > 0) voxels: mean and std (exact, from running
  sums) and the 0.5/99.5 percentiles (from up to ``INTENSITY_SAMPLES_PER_CASE`` foreground voxels
  drawn per case with a fixed seed, as nnU-Net does); normalisation ``"ct"`` for CT channels,
  ``"zscore"`` for the others.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from .contract import (
    FINGERPRINT_JSON,
    FINGERPRINT_VERSION,
    PLAN_JSON,
    Fingerprint,
    Plan,
    load_manifest,
)
from .errors import DataPrepError
from .io import count_non_finite, read_image, spatial_geometry, write_json
from .parallel import map_cases
from .planner import make_plan

INTENSITY_SAMPLES_PER_CASE = 10_000


@dataclass
class CaseStats:
    """What one case contributes to the fingerprint (small: counts, sums and a voxel sample)."""

    class_voxels: np.ndarray  # (num_classes,) int64
    spacing: tuple[float, float, float]
    shape: tuple[int, int, int]
    foreground_voxels: int
    channel_sum: np.ndarray  # (C,) float64 over foreground
    channel_sum_sq: np.ndarray  # (C,)
    channel_sample: np.ndarray  # (C, n) float32 foreground voxels


def analyze_dataset(
    dataset_dir: str | os.PathLike,
    *,
    workers: int = 1,
    memory_budget_gb: float | None = None,
    planned_for: str = "cpu",
) -> Plan:
    """Fingerprint ``dataset_dir`` and plan its training: write ``fingerprint.json`` and ``plan.json``.

    Args:
        dataset_dir: dataset folder with ``dataset.json`` and its ``imagesTr``/``labelsTr`` cases.
        workers: worker processes reading cases in parallel (1: in this process).
        memory_budget_gb: training memory the patch and batch are sized for (default
            :data:`data_prep.planner.DEFAULT_BUDGET_GB` of ``planned_for``).
        planned_for: ``"cpu"`` (host memory) or ``"cuda"`` (GPU memory).

    Returns:
        The plan written to ``plan.json`` (fields in ``docs/dataset_format.md``).

    Example:
        >>> analyze_dataset("data/abdominal", workers=2).patch_size  # doctest: +SKIP
    """
    dataset_dir = Path(dataset_dir)
    fingerprint = fingerprint_dataset(dataset_dir, workers=workers)
    plan = make_plan(fingerprint, memory_budget_gb=memory_budget_gb, planned_for=planned_for)
    write_json(fingerprint.to_dict(), dataset_dir / FINGERPRINT_JSON)
    write_json(plan.to_dict(), dataset_dir / PLAN_JSON)
    return plan


def fingerprint_dataset(dataset_dir: str | os.PathLike, *, workers: int = 1) -> Fingerprint:
    """The facts of ``dataset_dir``'s labelled cases (what ``fingerprint.json`` holds); writes nothing."""
    manifest = load_manifest(dataset_dir, check_files=True)
    jobs = [
        (
            str(manifest.path(c.image)),
            str(manifest.path(c.label)),
            manifest.num_classes,
            manifest.num_channels,
            i,
        )
        for i, c in enumerate(manifest.training)
    ]
    stats = map_cases(analyze_case, jobs, workers=workers, desc="analyze")
    return build_fingerprint(stats, manifest.labels, manifest.modalities, name=manifest.name)


def analyze_case(job: tuple[str, str, int, int, int]) -> CaseStats:
    """Read one image/label pair and count what the fingerprint needs."""
    image_path, label_path, num_classes, num_channels, index = job
    image = read_image(image_path)
    bad = count_non_finite(image_path, image)
    if bad:  # ITK reads a NIfTI NaN as 0, and NaN would poison the sums: refuse rather than skip
        raise DataPrepError(
            f"{image_path}: {bad} voxels are NaN or infinite; the fingerprint needs finite intensities "
            "(fix or drop the case)"
        )
    label_image = read_image(label_path)
    spacing, _, _ = spatial_geometry(label_image)
    label = sitk.GetArrayViewFromImage(label_image)  # (z, y, x): no copy, axes reversed
    voxels = _channels_last_view(image)  # (z, y, x, C)
    if label.ndim != 3 or label_image.GetNumberOfComponentsPerPixel() != 1:
        raise DataPrepError(
            f"{label_path}: label must be a 3D scalar volume, got size {label_image.GetSize()}"
        )
    if voxels.shape[:3] != label.shape:
        raise DataPrepError(
            f"{label_path}: shape {label.shape[::-1]} differs from image {image_path} {voxels.shape[:3][::-1]}"
        )
    if voxels.shape[3] != num_channels:
        raise DataPrepError(
            f"{image_path}: {voxels.shape[3]} channels, dataset.json 'modality' lists {num_channels}"
        )
    if not np.issubdtype(label.dtype, np.integer) and not np.array_equal(label, np.round(label)):
        raise DataPrepError(f"{label_path}: label values must be integers")
    low, high = int(label.min()), int(label.max())
    if low < 0 or high >= num_classes:
        bad = high if high >= num_classes else low
        raise DataPrepError(f"{label_path}: label value {bad} outside 0..{num_classes - 1}")
    label = label.astype(np.intp, copy=False)
    counts = np.bincount(label.ravel(), minlength=num_classes)
    foreground = label > 0
    fg_values = voxels[foreground].astype(np.float64)  # (n_fg, C)
    n_fg = fg_values.shape[0]
    rng = np.random.default_rng(index)
    sample = (
        fg_values
        if n_fg <= INTENSITY_SAMPLES_PER_CASE
        else fg_values[rng.choice(n_fg, INTENSITY_SAMPLES_PER_CASE, replace=False)]
    )
    return CaseStats(
        class_voxels=counts.astype(np.int64),
        spacing=tuple(float(s) for s in spacing),
        shape=tuple(int(s) for s in label.shape[::-1]),
        foreground_voxels=int(n_fg),
        channel_sum=fg_values.sum(axis=0),
        channel_sum_sq=np.square(fg_values).sum(axis=0),
        channel_sample=sample.T.astype(np.float32),
    )


def build_fingerprint(
    stats: list[CaseStats], labels: dict[str, str], modalities: list[str], name: str
) -> Fingerprint:
    """Aggregate per-case statistics into the fingerprint (checked as its loader checks it)."""
    class_voxels = np.sum([s.class_voxels for s in stats], axis=0)
    frequencies = class_voxels / class_voxels.sum()
    spacings = np.array([s.spacing for s in stats])
    shapes = np.array([s.shape for s in stats])
    fingerprint = {
        "version": FINGERPRINT_VERSION,
        "name": name,
        "labels": labels,
        "num_classes": len(labels),
        "modality": {str(i): m for i, m in enumerate(modalities)},
        "num_channels": len(modalities),
        "num_cases": len(stats),
        "class_voxels": [int(v) for v in class_voxels],
        "class_frequencies": [round(float(f), 6) for f in frequencies],
        "spacing": _axis_stats(spacings),
        "shape": _axis_stats(shapes),
        "case_spacings": [[round(float(v), 4) for v in s] for s in spacings],
        "case_shapes": [[int(v) for v in s] for s in shapes],
        "intensity": intensity_stats(stats, modalities),
    }
    return Fingerprint.from_dict(fingerprint, FINGERPRINT_JSON)


def intensity_stats(stats: list[CaseStats], modalities: list[str]) -> list[dict[str, Any]]:
    """Per-channel foreground mean/std/percentiles and the normalisation scheme."""
    n = sum(s.foreground_voxels for s in stats)
    if n == 0:
        raise DataPrepError("no foreground voxels (label > 0) in any case: nothing to fingerprint")
    total = np.sum([s.channel_sum for s in stats], axis=0)
    total_sq = np.sum([s.channel_sum_sq for s in stats], axis=0)
    sample = np.concatenate([s.channel_sample for s in stats if s.channel_sample.size], axis=1)
    result = []
    for c, modality in enumerate(modalities):
        mean = total[c] / n
        std = float(np.sqrt(max(total_sq[c] / n - mean**2, 0.0)))
        low, high = np.percentile(sample[c], [0.5, 99.5])
        result.append(
            {
                "channel": c,
                "modality": modality,
                "normalization": "ct" if modality.upper() == "CT" else "zscore",
                "mean": round(float(mean), 4),
                "std": round(std, 4),
                "percentile_00_5": round(float(low), 4),
                "percentile_99_5": round(float(high), 4),
            }
        )
    return result


def _axis_stats(values: np.ndarray) -> dict[str, list[float]]:
    def plain(v: float) -> float | int:
        return int(v) if float(v).is_integer() and values.dtype.kind in "iu" else round(float(v), 4)

    return {
        "median": [plain(v) for v in np.median(values, axis=0)],
        "min": [plain(v) for v in values.min(axis=0)],
        "max": [plain(v) for v in values.max(axis=0)],
    }


def _channels_last_view(image: sitk.Image) -> np.ndarray:
    """Voxels as a (z, y, x, C) view: 3D -> C = 1; 4D scalar (C, z, y, x) and vector (z, y, x, C) images."""
    array = sitk.GetArrayViewFromImage(image)
    if image.GetNumberOfComponentsPerPixel() > 1:
        return array
    if array.ndim == 4:
        return np.moveaxis(array, 0, -1)
    return array[..., None]
