"""The training benchmark synthesises enough cases that its timed iterations lie in one epoch."""

from __future__ import annotations

import pytest

from data_prep.split import DEFAULT_PROPORTIONS, patient_counts


@pytest.mark.parametrize(("iterations", "batch_size"), [(3, 1), (7, 1), (12, 1), (7, 2)])
def test_fewest_cases_whose_training_split_fills_the_iterations(
    bench_bundle_training, iterations, batch_size
):
    cases = bench_bundle_training.cases_for_one_epoch(iterations, batch_size)
    assert patient_counts(cases, DEFAULT_PROPORTIONS)[0] >= iterations * batch_size
    assert patient_counts(cases - 1, DEFAULT_PROPORTIONS)[0] < iterations * batch_size
