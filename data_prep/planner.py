"""The plan from a fingerprint: class weights, crop ratios and target spacing (:func:`make_plan`, rules
described in :mod:`data_prep.analyze`), and the network topology, patch and batch from a memory budget
(nnU-Net's planning idea).

Isensee et al., "nnU-Net", Nature Methods 2021, Suppl. Note 2 ("rule-based parameters"): the patch is as
large as the memory budget allows, shaped like the median case at the target spacing, and the topology
follows the patch and the spacing:

- Per level, an axis gets a 3-voxel kernel only when its spacing is within :data:`ANISOTROPY_RATIO` of
  the finest axis; a much coarser axis gets 1 (no convolution across thick slices) until down-sampling
  the fine axes has caught its spacing up.
- An axis is down-sampled (stride 2) at a level only when it has a 3-voxel kernel there and its map stays
  at least :data:`MIN_FEATURE_MAP` voxels; the network stops where fewer than :data:`MIN_POOLED_AXES` such
  axes are left (or fewer than all the axes that have 3-voxel kernels), or at :data:`MAX_LEVELS` levels. Features double per level from ``base_features`` up to ``max_features``.
- The patch starts at the median shape; while the estimated training memory (:func:`step_memory_gb`, for
  :data:`REFERENCE_BATCH` patches) exceeds the budget, the axis with the largest extent in millimetres
  shrinks by its divisor. Then the batch grows into what is left of the budget, up to
  :data:`MAX_BATCH_SHARE` of the dataset's voxels per step, and never below :data:`REFERENCE_BATCH`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .contract import PLAN_JSON, PLAN_VERSION, Fingerprint, Plan, load_fingerprint
from .errors import DataPrepError

MAX_WEIGHT_RATIO = 50.0
BACKGROUND_CROP_SHARE = 0.25
ANISOTROPY_THRESHOLD = 3.0

MIN_FEATURE_MAP = 4
MIN_POOLED_AXES = 2
"""A level down-samples at least this many axes (all of them where fewer have 3-voxel kernels): one axis
alone would leave an elongated bottleneck."""
ANISOTROPY_RATIO = 2.0
MAX_LEVELS = {2: 7, 3: 6}
REFERENCE_BATCH = 2
MAX_BATCH_SHARE = 0.05
MAX_BATCH = 16
MAPS_PER_LEVEL = 16
"""Feature maps of a level's width held for the backward pass of one level (encoder + decoder: two
conv/norm/activation triples each, the skip concatenation and the up-sampling)."""
BYTES_PER_VALUE = 3.0
"""Mixed precision keeps convolution outputs in 16 bits and norms in 32: between 2 and 4 bytes a value."""
DEFAULT_BUDGET_GB = {"cpu": 2.0, "cuda": 8.0}
"""Default training memory: on a CPU time, not memory, limits the patch, so the budget is small."""
DEFAULT_BASE_FEATURES = {"cpu": 16, "cuda": 32}
MAX_FEATURES = 320


@dataclass(frozen=True)
class Topology:
    """What :func:`plan_topology` decides (the matching :class:`~data_prep.plan.Plan` fields)."""

    patch_size: list[int]
    batch_size: int
    channels: list[int]
    strides: list[list[int]]
    kernel_sizes: list[list[int]]


def levels_for(patch: Sequence[int], spacing: Sequence[float]) -> tuple[list[list[int]], list[list[int]]]:
    """Per-level kernel sizes and per-down-sampling strides for ``patch`` at ``spacing``."""
    size, current = list(patch), [float(s) for s in spacing]
    kernels: list[list[int]] = []
    strides: list[list[int]] = []
    while True:
        finest = min(current)
        kernel = [3 if s / finest < ANISOTROPY_RATIO else 1 for s in current]
        kernels.append(kernel)
        if len(kernels) == MAX_LEVELS[len(size)]:
            break
        stride = [2 if k == 3 and n >= 2 * MIN_FEATURE_MAP else 1 for k, n in zip(kernel, size)]
        if stride.count(2) < min(MIN_POOLED_AXES, sum(k == 3 for k in kernel)) or max(stride) == 1:
            break
        strides.append(stride)
        size = [n // s for n, s in zip(size, stride)]
        current = [c * s for c, s in zip(current, stride)]
    return kernels, strides


def divisor_of(strides: Sequence[Sequence[int]], dims: int) -> list[int]:
    """Per axis, the product of the strides."""
    return [math.prod(s[axis] for s in strides) for axis in range(dims)]


def step_memory_gb(
    patch: Sequence[int],
    strides: Sequence[Sequence[int]],
    channels: Sequence[int],
    batch: int,
    num_channels: int,
    num_classes: int,
) -> float:
    """Estimated memory of one training step's activations, in GiB (weights are negligible)."""
    voxels = math.prod(patch)
    values = voxels * (num_channels + 6 * num_classes)  # input, logits, softmax, one-hot, loss terms
    for level, width in enumerate(channels):
        values += MAPS_PER_LEVEL * width * voxels
        if level < len(strides):
            voxels //= math.prod(strides[level])
    return batch * values * BYTES_PER_VALUE / 2**30


def plan_topology(
    median_shape: Sequence[int],
    spacing: Sequence[float],
    *,
    num_channels: int,
    num_classes: int,
    dataset_voxels: int,
    memory_budget_gb: float,
    base_features: int,
    max_features: int = MAX_FEATURES,
) -> Topology:
    """Patch, batch and network topology for cases of ``median_shape`` voxels at ``spacing`` (mm).

    Args:
        median_shape: median case shape at the target spacing, per axis.
        spacing: the target spacing, per axis.
        num_channels: input channels.
        num_classes: output classes.
        dataset_voxels: voxels of all training cases at the target spacing (caps the batch).
        memory_budget_gb: training memory to size the patch and batch for.
        base_features: features of the finest level.
        max_features: cap on the features of coarse levels.
    """
    if memory_budget_gb <= 0:
        raise ValueError(f"memory budget must be positive, got {memory_budget_gb} GiB")
    dims = len(median_shape)
    patch = [max(int(n), 1) for n in median_shape]

    def topology(p: list[int]) -> tuple[list[list[int]], list[list[int]], list[int], list[int]]:
        kernels, strides = levels_for(p, spacing)
        channels = [min(base_features * 2**level, max_features) for level in range(len(kernels))]
        divisor = divisor_of(strides, dims)
        return kernels, strides, channels, [math.ceil(n / d) * d for n, d in zip(p, divisor)]

    kernels, strides, channels, padded = topology(patch)
    while step_memory_gb(padded, strides, channels, REFERENCE_BATCH, num_channels, num_classes) > (
        memory_budget_gb
    ):
        divisor = divisor_of(strides, dims)
        shrinkable = [a for a in range(dims) if patch[a] - divisor[a] >= 2 * MIN_FEATURE_MAP]
        if not shrinkable:
            break
        axis = max(shrinkable, key=lambda a: (patch[a] * spacing[a], patch[a]))
        patch[axis] -= divisor[axis]
        kernels, strides, channels, padded = topology(patch)

    per_patch = step_memory_gb(padded, strides, channels, 1, num_channels, num_classes)
    by_memory = int(memory_budget_gb // per_patch) if per_patch > 0 else MAX_BATCH
    by_data = int(MAX_BATCH_SHARE * dataset_voxels // math.prod(padded))
    batch = max(REFERENCE_BATCH, min(by_memory, by_data, MAX_BATCH))
    return Topology(padded, batch, channels, strides, kernels)


def make_plan(
    fingerprint: Fingerprint | dict[str, Any] | str | os.PathLike,
    *,
    memory_budget_gb: float | None = None,
    planned_for: str = "cpu",
) -> Plan:
    """The decisions for a dataset with this fingerprint (:class:`~data_prep.plan.Plan`).

    ``fingerprint``: a :class:`~data_prep.contract.Fingerprint`, a parsed ``fingerprint.json``, its path or
    the folder holding it (read by :func:`~data_prep.contract.load_fingerprint`).

    Class weights and crop ratios come from the class frequencies, the target spacing from the case
    spacings, the patch, batch and network topology from :func:`data_prep.planner.plan_topology`. Data
    whose cases are all one slice thick (2D images stored as volumes) get a 2D plan.
    """
    if planned_for not in DEFAULT_BUDGET_GB:
        raise DataPrepError(f"planned_for must be one of {sorted(DEFAULT_BUDGET_GB)}, got {planned_for!r}")
    budget = DEFAULT_BUDGET_GB[planned_for] if memory_budget_gb is None else float(memory_budget_gb)
    fingerprint = load_fingerprint(fingerprint)
    spacings = np.array(fingerprint.case_spacings, dtype=np.float64)
    shapes = np.array(fingerprint.case_shapes, dtype=np.float64)
    target = target_spacing(spacings)
    resampled = shapes * spacings / target
    dims = 2 if np.all(shapes[:, -1] == 1) else 3
    median_shape = [max(int(round(v)), 1) for v in np.median(resampled, axis=0)[:dims]]
    topology = plan_topology(
        median_shape,
        [float(v) for v in target[:dims]],
        num_channels=fingerprint.num_channels,
        num_classes=fingerprint.num_classes,
        dataset_voxels=int(np.prod(resampled, axis=1).sum()),
        memory_budget_gb=budget,
        base_features=DEFAULT_BASE_FEATURES[planned_for],
    )
    frequencies = fingerprint.class_frequencies
    plan = Plan(
        version=PLAN_VERSION,
        name=fingerprint.name,
        labels=dict(fingerprint.labels),
        num_classes=fingerprint.num_classes,
        modality=dict(fingerprint.modality),
        num_channels=fingerprint.num_channels,
        class_weights=[round(float(w), 4) for w in class_weights(frequencies)],
        crop_ratios=[round(float(r), 4) for r in crop_ratios(frequencies)],
        target_spacing=[round(float(s), 4) for s in target[:dims]],
        intensity=[dict(entry) for entry in fingerprint.intensity],
        median_shape=median_shape,
        patch_size=topology.patch_size,
        batch_size=topology.batch_size,
        channels=topology.channels,
        strides=topology.strides,
        kernel_sizes=topology.kernel_sizes,
        memory_budget_gb=budget,
        planned_for=planned_for,
    )
    return Plan.from_dict(plan.to_dict(), PLAN_JSON)  # checked as its loader checks it


def class_weights(frequencies: Iterable[float]) -> np.ndarray:
    """Loss weights ``1 / sqrt(f_c)``, capped at ``MAX_WEIGHT_RATIO`` x the smallest, mean 1."""
    f = np.asarray(list(frequencies), dtype=np.float64)
    raw = 1.0 / np.sqrt(np.maximum(f, 1e-12))
    raw = np.minimum(raw, MAX_WEIGHT_RATIO * raw.min())
    return raw / raw.mean()


def crop_ratios(frequencies: Iterable[float]) -> np.ndarray:
    """``RandCropByLabelClassesd`` ratios: background ``BACKGROUND_CROP_SHARE``, the rest by class weight."""
    f = np.asarray(list(frequencies), dtype=np.float64)
    ratios = np.zeros_like(f)
    present = f[1:] > 0
    if not present.any():
        ratios[0] = 1.0
        return ratios
    w = class_weights(f)[1:] * present
    ratios[0] = BACKGROUND_CROP_SHARE
    ratios[1:] = (1.0 - BACKGROUND_CROP_SHARE) * w / w.sum()
    return ratios


def target_spacing(spacings: np.ndarray) -> np.ndarray:
    """Median spacing; a strongly anisotropic axis takes its 10th percentile (not finer than the others)."""
    target = np.median(spacings, axis=0)
    worst = int(np.argmax(target))
    others = np.delete(target, worst)
    if target[worst] > ANISOTROPY_THRESHOLD * others.max():
        target[worst] = max(np.percentile(spacings[:, worst], 10), others.max())
    return target
