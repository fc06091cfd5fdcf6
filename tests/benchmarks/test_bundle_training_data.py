"""The training benchmark synthesises enough cases that its timed iterations lie in one epoch."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from data_prep.split import DEFAULT_PROPORTIONS, patient_counts

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_bundle_training.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_bundle_training", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("iterations", "batch_size"), [(3, 1), (7, 1), (12, 1), (7, 2)])
def test_fewest_cases_whose_training_split_fills_the_iterations(iterations, batch_size):
    cases = _bench().cases_for_one_epoch(iterations, batch_size)
    assert patient_counts(cases, DEFAULT_PROPORTIONS)[0] >= iterations * batch_size
    assert patient_counts(cases - 1, DEFAULT_PROPORTIONS)[0] < iterations * batch_size
