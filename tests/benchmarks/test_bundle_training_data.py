"""The training benchmark times the documented patch and batch, all in one epoch, on data that splits."""

from __future__ import annotations

import json

import pytest

from data_prep.plan import load_plan
from data_prep.split import DEFAULT_PROPORTIONS, patient_counts
from data_prep.synth.dataset import case_patients

BUNDLES = ("abdominal_mri_attention_unet", "pancreas_ct_attention_unet", "brain_tumour_mri_cbam_unet")


@pytest.mark.parametrize("bundle", BUNDLES)
def test_settings_are_the_default_plans_patch_and_batch_and_train_json_num_samples(
    bench_bundle_training, bundle
):
    configs = bench_bundle_training.REPO / "bundles" / bundle / "configs"
    plan = load_plan(configs / "default_plan.json")
    settings = bench_bundle_training.bundle_settings(bundle)
    num_samples = json.loads((configs / "train.json").read_text(encoding="utf-8"))["num_samples"]
    assert settings == {
        "roi_size": plan.patch_size,
        "batch_size": plan.batch_size,
        "num_samples": num_samples,
    }


@pytest.mark.parametrize(("batch_size", "warmup", "iterations"), [(3, 1, 2), (2, 2, 5), (1, 0, 1)])
def test_timed_run_uses_the_batch_and_an_epoch_longer_than_warmup_and_timed_iterations(
    bench_bundle_training, batch_size, warmup, iterations
):
    overrides = bench_bundle_training.run_overrides(batch_size, warmup, iterations)
    assert overrides["batch_size"] == batch_size
    assert overrides["iterations_per_epoch"] > warmup + iterations


@pytest.mark.parametrize("task", ["abdominal", "pancreas", "brain_tumour"])
def test_synthetic_cases_give_every_split_a_patient(bench_bundle_training, task):
    assert task in bench_bundle_training.BUNDLES.values()
    patients = len(set(case_patients(task, bench_bundle_training.CASES)))
    assert min(patient_counts(patients, DEFAULT_PROPORTIONS)) >= 1
