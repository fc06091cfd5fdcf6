"""Fixtures every test folder shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from data_prep.plan import PLAN_VERSION


@pytest.fixture
def plan_dict() -> Callable[..., dict[str, Any]]:
    """``plan_dict(**fields)``: a valid ``plan.json`` dictionary (3 classes, 1 MR channel, an anisotropic
    3-level topology), with ``fields`` replacing its entries."""

    def make(**fields: Any) -> dict[str, Any]:
        plan = {
            "version": PLAN_VERSION,
            "name": "toy",
            "labels": {"0": "background", "1": "liver", "2": "spleen"},
            "num_classes": 3,
            "modality": {"0": "MR"},
            "num_channels": 1,
            "class_weights": [0.2, 1.0, 1.8],
            "crop_ratios": [0.25, 0.3, 0.45],
            "target_spacing": [0.8, 0.8, 5.0],
            "intensity": [{"channel": 0, "modality": "MR", "normalization": "zscore"}],
            "median_shape": [320, 320, 40],
            "patch_size": [128, 128, 32],
            "batch_size": 2,
            "channels": [16, 32, 64],
            "strides": [[2, 2, 1], [2, 2, 2]],
            "kernel_sizes": [[3, 3, 1], [3, 3, 3], [3, 3, 3]],
            "memory_budget_gb": 2.0,
            "planned_for": "cpu",
        }
        plan.update(fields)
        return plan

    return make
