"""The one process pool: every step maps its cases through it, in order, with one start method."""

from __future__ import annotations

import multiprocessing
import operator

import pytest

from data_prep import analyze, validate
from data_prep.errors import DataPrepError
from data_prep.io import read_image
from data_prep.parallel import START_METHOD, map_cases, process_pool
from data_prep.recipes import chaos
from data_prep.synth import dataset


def test_workers_give_the_results_of_one_process_in_order():
    jobs = list(range(-5, 5))
    expected = [-j for j in jobs]
    assert map_cases(operator.neg, jobs, workers=1, desc="t") == expected
    assert map_cases(operator.neg, jobs, workers=3, desc="t", progress=False) == expected


def test_forkserver_where_the_platform_has_it():
    expected = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    assert START_METHOD == expected
    with process_pool(workers=4, n_jobs=2) as pool:
        assert pool._mp_context.get_start_method() == START_METHOD and pool._max_workers == 2


def test_an_error_in_a_worker_is_raised_naming_the_file(tmp_path):
    jobs = [tmp_path / "a.nii.gz", tmp_path / "b.nii.gz"]
    with pytest.raises(DataPrepError, match=r"a\.nii\.gz: no such file"):
        map_cases(read_image, jobs, workers=2, desc="t")
    with pytest.raises(DataPrepError, match="--workers must be at least 1, got 0"):
        map_cases(read_image, jobs, workers=0, desc="t")


def test_analyze_validate_synth_and_the_recipes_share_the_pool():
    for module in (analyze, validate, chaos, dataset):
        assert module.map_cases is map_cases
