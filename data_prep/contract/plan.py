"""``plan.json``: what a bundle trains and infers with, decided from a dataset's fingerprint.

nnU-Net keeps facts (``dataset_fingerprint.json``) apart from decisions (its plans) and reads plans
through one accessor. Here ``fingerprint.json`` holds the facts (:mod:`data_prep.contract.fingerprint`) and
``plan.json`` the decisions (:mod:`data_prep.planner`); :class:`Plan` is the one typed view of
``plan.json``, with one loader (:func:`load_plan`) and one validator (:meth:`Plan.from_dict`) that
``data_prep`` and ``bundle_tools`` share (bundle configs name it as ``data_prep.plan.load_plan``). Every
field is documented in ``docs/dataset_format.md``.

A plan of another version, a missing field or a field of the wrong kind is refused with a
:class:`~data_prep.errors.DataPrepError` naming the file and the field.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from typing import Any

from ._checks import (
    NORMALIZATIONS,
    DatasetHeader,
    check_header,
    check_intensity,
    field_error,
    is_numbers,
    load_contract,
)

__all__ = ["NORMALIZATIONS", "PLAN_JSON", "PLAN_VERSION", "Plan", "load_plan"]

PLAN_JSON = "plan.json"
PLAN_VERSION = 2


@dataclass(frozen=True)
class Plan(DatasetHeader):
    """The decisions a bundle reads (``plan.json``, version :data:`PLAN_VERSION`).

    Args:
        version, name, labels, num_classes, modality, num_channels: as in
            :class:`~data_prep.contract._checks.DatasetHeader`; only version :data:`PLAN_VERSION` is read.
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
        check_header(data, source, "plan", [f.name for f in fields(cls)], PLAN_VERSION, "analyze")
        plan = cls(**{f.name: data[f.name] for f in fields(cls)})
        _check(plan, str(source))
        return plan


def load_plan(plan: Plan | dict | str | os.PathLike) -> Plan:
    """The :class:`Plan` of ``plan``: a plan, a parsed ``plan.json``, its path, or the folder holding it."""
    if type(plan).__name__ == "Plan" and not isinstance(plan, Plan) and hasattr(plan, "to_dict"):
        return Plan.from_dict(plan.to_dict())  # the same class from a reloaded module
    return load_contract(plan, Plan, PLAN_JSON, "write it with `python -m data_prep analyze`", "plan file")


def _check(plan: Plan, source: str) -> None:
    def bad(field: str, problem: str) -> Exception:
        return field_error(source, field, problem)

    n, dims = plan.num_classes, len(plan.patch_size) if isinstance(plan.patch_size, list) else 0
    plan.check_dataset_fields(source)
    for name in ("class_weights", "crop_ratios"):
        values = getattr(plan, name)
        if not is_numbers(values) or len(values) != n:
            raise bad(name, f"must list {n} numbers (one per class), got {values!r}")
    if dims not in (2, 3) or not is_numbers(plan.patch_size, int, positive=True):
        raise bad("patch_size", f"must list 2 or 3 positive integers, got {plan.patch_size!r}")
    for name in ("target_spacing", "median_shape"):
        if not is_numbers(getattr(plan, name), positive=True) or len(getattr(plan, name)) != dims:
            raise bad(name, f"must list {dims} positive numbers, got {getattr(plan, name)!r}")
    if not isinstance(plan.batch_size, int) or plan.batch_size < 1:
        raise bad("batch_size", f"must be a positive integer, got {plan.batch_size!r}")
    levels = len(plan.channels) if isinstance(plan.channels, list) else 0
    if levels < 2 or not is_numbers(plan.channels, int, positive=True):
        raise bad("channels", f"must list 2 or more positive integers, got {plan.channels!r}")
    for name, count in (("strides", levels - 1), ("kernel_sizes", levels)):
        value = getattr(plan, name)
        rows_ok = isinstance(value, list) and len(value) == count
        if not rows_ok or not all(is_numbers(r, int, positive=True) and len(r) == dims for r in value):
            raise bad(name, f"must list {count} entries of {dims} positive integers, got {value!r}")
    divisor = plan.divisor
    if any(p % d for p, d in zip(plan.patch_size, divisor)):
        raise bad("patch_size", f"{plan.patch_size} does not divide by the strides' product {divisor}")
    check_intensity(plan.intensity, plan.num_channels, source)
    if plan.planned_for not in ("cpu", "cuda"):
        raise bad("planned_for", f"must be 'cpu' or 'cuda', got {plan.planned_for!r}")
