"""Planner decisions: patch, batch, per-level strides and kernels from spacing, shape and a memory budget."""

from __future__ import annotations

import math

import pytest

from data_prep.planner import (
    MIN_FEATURE_MAP,
    divisor_of,
    levels_for,
    plan_topology,
    step_memory_gb,
)


def _plan(shape, spacing, budget=2.0, base=16, cases=20, classes=5):
    return plan_topology(
        shape,
        spacing,
        num_channels=1,
        num_classes=classes,
        dataset_voxels=cases * math.prod(shape),
        memory_budget_gb=budget,
        base_features=base,
    )


def test_isotropic_data_is_down_sampled_on_every_axis_with_cubic_kernels():
    t = _plan((160, 160, 160), (1.0, 1.0, 1.0))
    assert all(k == [3, 3, 3] for k in t.kernel_sizes)
    assert all(s == [2, 2, 2] for s in t.strides)
    assert len(t.channels) == len(t.strides) + 1 == len(t.kernel_sizes)
    assert t.channels[:3] == [16, 32, 64]
    divisor = divisor_of(t.strides, 3)
    assert all(p % d == 0 for p, d in zip(t.patch_size, divisor))
    # the coarsest map keeps at least MIN_FEATURE_MAP voxels a side
    assert all(p // d >= MIN_FEATURE_MAP for p, d in zip(t.patch_size, divisor))


def test_thick_slices_get_in_plane_kernels_and_strides_until_the_spacing_catches_up():
    t = _plan((320, 320, 40), (0.8, 0.8, 5.0))
    assert t.kernel_sizes[0] == [3, 3, 1] and t.strides[0] == [2, 2, 1]
    # 0.8 -> 1.6 -> 3.2: z (5.0) is within 2x of 3.2, so the third level convolves and pools z too
    assert t.kernel_sizes[1] == [3, 3, 1] and t.strides[1] == [2, 2, 1]
    assert t.kernel_sizes[2] == [3, 3, 3] and t.strides[2] == [2, 2, 2]
    # the patch covers a similar extent in mm on every axis rather than in voxels
    extent = [p * s for p, s in zip(t.patch_size, (0.8, 0.8, 5.0))]
    assert max(extent) / min(extent) < 1.6


def test_a_larger_memory_budget_gives_a_larger_patch_and_the_estimate_fits_it():
    small = _plan((256, 256, 128), (1.0, 1.0, 1.0), budget=0.5)
    large = _plan((256, 256, 128), (1.0, 1.0, 1.0), budget=8.0)
    assert math.prod(small.patch_size) < math.prod(large.patch_size)
    for t, budget in ((small, 0.5), (large, 8.0)):
        assert step_memory_gb(t.patch_size, t.strides, t.channels, t.batch_size, 1, 5) <= budget * 1.05
    assert small.batch_size >= 2 and large.batch_size >= 2


def test_small_images_are_trained_whole_with_a_larger_batch():
    t = _plan((48, 48, 32), (1.0, 1.0, 1.0), budget=2.0, cases=200)
    assert t.patch_size == [48, 48, 32]
    assert t.strides == [[2, 2, 2]] * 3
    assert t.batch_size > 2


def test_two_dimensional_data_plans_two_axes():
    t = _plan((512, 512), (0.5, 0.5), budget=2.0)
    assert all(len(s) == 2 for s in t.strides) and all(k == [3, 3] for k in t.kernel_sizes)
    assert len(t.patch_size) == 2 and len(t.channels) == len(t.strides) + 1
    assert all(p % d == 0 for p, d in zip(t.patch_size, divisor_of(t.strides, 2)))


def test_levels_stop_where_fewer_than_two_axes_can_be_down_sampled():
    kernels, strides = levels_for((64, 64, 8), (1.0, 1.0, 1.0))
    # z reaches 4 voxels after one down-sampling; x and y continue together
    assert strides[0] == [2, 2, 2] and strides[1] == [2, 2, 1]
    assert all(s.count(2) >= 2 for s in strides)
    assert len(kernels) == len(strides) + 1


def test_a_non_positive_budget_is_refused():
    with pytest.raises(ValueError, match="memory budget must be positive"):
        _plan((64, 64, 64), (1.0, 1.0, 1.0), budget=0.0)
