"""The plan: what a bundle trains and infers with, decided from a dataset's fingerprint.

nnU-Net keeps facts (``dataset_fingerprint.json``) apart from decisions (its plans) and reads plans
through one accessor. Here ``fingerprint.json`` holds the facts (:mod:`data_prep.analyze`) and
``plan.json`` the decisions (:mod:`data_prep.planner`); :class:`Plan` is the one typed view of
``plan.json``, with one loader (:func:`load_plan`) and one validator (:meth:`Plan.from_dict`) that
``data_prep`` and ``bundle_tools`` share. Every field is documented in ``docs/dataset_format.md``.

A plan of another version, a missing field or a field of the wrong kind is refused with a
:class:`~data_prep.errors.DataPrepError` naming the file and the field.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from data_prep.errors import DataPrepError

PLAN_JSON = "plan.json"
PLAN_VERSION = 2
NORMALIZATIONS = ("ct", "zscore")


@dataclass(frozen=True)
class Plan:
    """The decisions a bundle reads (``plan.json``, version :data:`PLAN_VERSION`).

    Args:
        version: plan format version; only :data:`PLAN_VERSION` is read.
        name: dataset name.
        labels: label value (as a string) -> class name, background ``"0"`` first.
        num_classes: number of classes, background included (``len(labels)``).
        modality: input channel (as a string) -> modality name.
        num_channels: input channels.
        class_weights: loss weight per class, mean 1.
        crop_ratios: ``RandCropByLabelClassesd`` ratio per class (foreground oversampling).
        target_spacing: spacing every case is resampled to, per axis (x, y, z) in mm.
        intensity: per channel: ``normalization`` (``"ct"``/``"zscore"``) and the statistics it uses.
        median_shape: median case shape in voxels at ``target_spacing``.
        patch_size: training patch and sliding-window ROI, per axis.
        batch_size: patches per training step.
        channels: network features per level, finest first.
        strides: per down-sampling, the stride of each axis (``len(channels) - 1`` entries).
        kernel_sizes: per level, the convolution kernel of each axis (``len(channels)`` entries).
        memory_budget_gb: the memory the topology was sized for.
        planned_for: ``"cpu"`` or ``"cuda"``: the device whose memory ``memory_budget_gb`` is.
    """

    version: int
    name: str
    labels: dict[str, str]
    num_classes: int
    modality: dict[str, str]
    num_channels: int
    class_weights: list[float]
    crop_ratios: list[float]
    target_spacing: list[float]
    intensity: list[dict[str, Any]]
    median_shape: list[int]
    patch_size: list[int]
    batch_size: int
    channels: list[int]
    strides: list[list[int]]
    kernel_sizes: list[list[int]]
    memory_budget_gb: float
    planned_for: str

    @property
    def class_names(self) -> list[str]:
        """Class names by label value, background first."""
        return [self.labels[str(i)] for i in range(self.num_classes)]

    @property
    def spatial_dims(self) -> int:
        """2 or 3: the number of axes of ``patch_size``."""
        return len(self.patch_size)

    @property
    def divisor(self) -> list[int]:
        """Per axis, the product of the strides: every input side must divide by it."""
        out = [1] * self.spatial_dims
        for stride in self.strides:
            out = [d * s for d, s in zip(out, stride)]
        return out

    def to_dict(self) -> dict[str, Any]:
        """The plan as ``plan.json`` holds it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, source: str | os.PathLike = PLAN_JSON) -> Plan:
        """Check ``data`` (a parsed ``plan.json``) and build the plan; errors name ``source`` and the field."""
        if not isinstance(data, dict):
            raise DataPrepError(f"{source}: a plan must be a JSON object, got {type(data).__name__}")
        version = data.get("version")
        if version != PLAN_VERSION:
            raise DataPrepError(
                f"{source}: plan version {version!r} is not the supported version {PLAN_VERSION}; "
                "write a new plan with `python -m data_prep analyze DATASET_DIR`"
            )
        missing = [f.name for f in fields(cls) if f.name not in data]
        if missing:
            raise DataPrepError(f"{source}: missing field {missing[0]!r} (plan version {PLAN_VERSION})")
        plan = cls(**{f.name: data[f.name] for f in fields(cls)})
        _check(plan, str(source))
        return plan


def load_plan(plan: Plan | dict | str | os.PathLike) -> Plan:
    """The :class:`Plan` of ``plan``: a plan, a parsed ``plan.json``, its path, or the folder holding it."""
    if isinstance(plan, Plan):
        return plan
    if type(plan).__name__ == "Plan" and hasattr(plan, "to_dict"):  # the same class from a reloaded module
        return Plan.from_dict(plan.to_dict())
    if isinstance(plan, dict):
        return Plan.from_dict(plan)
    path = Path(plan)
    if path.is_dir():
        path = path / PLAN_JSON
    if not path.is_file():
        raise DataPrepError(f"{path}: no such plan file (write it with `python -m data_prep analyze`)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataPrepError(f"{path}: not valid JSON ({err})") from None
    return Plan.from_dict(data, path)


def _check(plan: Plan, source: str) -> None:
    def bad(field: str, problem: str) -> DataPrepError:
        return DataPrepError(f"{source}: field {field!r} {problem}")

    n, dims = plan.num_classes, len(plan.patch_size)
    if not isinstance(n, int) or n < 2:
        raise bad("num_classes", f"must be an integer >= 2, got {n!r}")
    if not isinstance(plan.labels, dict) or sorted(plan.labels) != sorted(str(i) for i in range(n)):
        raise bad("labels", f"must map '0'..'{n - 1}' to names, got {plan.labels!r}")
    if not isinstance(plan.modality, dict) or len(plan.modality) != plan.num_channels:
        raise bad("modality", f"must name {plan.num_channels} channel(s), got {plan.modality!r}")
    for name in ("class_weights", "crop_ratios"):
        values = getattr(plan, name)
        if not _numbers(values) or len(values) != n:
            raise bad(name, f"must list {n} numbers (one per class), got {values!r}")
    if dims not in (2, 3) or not _numbers(plan.patch_size, int, positive=True):
        raise bad("patch_size", f"must list 2 or 3 positive integers, got {plan.patch_size!r}")
    for name in ("target_spacing", "median_shape"):
        if not _numbers(getattr(plan, name), positive=True) or len(getattr(plan, name)) != dims:
            raise bad(name, f"must list {dims} positive numbers, got {getattr(plan, name)!r}")
    if not isinstance(plan.batch_size, int) or plan.batch_size < 1:
        raise bad("batch_size", f"must be a positive integer, got {plan.batch_size!r}")
    levels = len(plan.channels) if isinstance(plan.channels, list) else 0
    if levels < 2 or not _numbers(plan.channels, int, positive=True):
        raise bad("channels", f"must list 2 or more positive integers, got {plan.channels!r}")
    for name, count in (("strides", levels - 1), ("kernel_sizes", levels)):
        value = getattr(plan, name)
        rows_ok = isinstance(value, list) and len(value) == count
        if not rows_ok or not all(_numbers(r, int, positive=True) and len(r) == dims for r in value):
            raise bad(name, f"must list {count} entries of {dims} positive integers, got {value!r}")
    divisor = plan.divisor
    if any(p % d for p, d in zip(plan.patch_size, divisor)):
        raise bad("patch_size", f"{plan.patch_size} does not divide by the strides' product {divisor}")
    if not isinstance(plan.intensity, list) or len(plan.intensity) != plan.num_channels:
        raise bad("intensity", f"must hold one entry per channel ({plan.num_channels})")
    for c, entry in enumerate(plan.intensity):
        scheme = entry.get("normalization") if isinstance(entry, dict) else None
        if scheme not in NORMALIZATIONS:
            raise bad("intensity", f"channel {c}: normalization {scheme!r} not in {NORMALIZATIONS}")
        needs = ("mean", "std", "percentile_00_5", "percentile_99_5") if scheme == "ct" else ()
        if any(k not in entry for k in needs):
            raise bad("intensity", f"channel {c}: CT normalization needs {list(needs)}")
    if plan.planned_for not in ("cpu", "cuda"):
        raise bad("planned_for", f"must be 'cpu' or 'cuda', got {plan.planned_for!r}")


def _numbers(values: Any, kind: type = float, positive: bool = False) -> bool:
    if not isinstance(values, list) or not values:
        return False
    allowed = (int,) if kind is int else (int, float)
    ok = all(isinstance(v, allowed) and not isinstance(v, bool) for v in values)
    return ok and (not positive or all(v > 0 for v in values))
