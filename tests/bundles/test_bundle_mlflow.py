"""``--tracking mlflow`` patches the bundle's trainer and validator handlers (ids MONAI's defaults use)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from monai.bundle import ConfigParser
from monai.bundle.utils import DEFAULT_HANDLERS_ID
from monai.utils import path_to_sqlite_uri

BUNDLE_NAMES = [
    "abdominal_mri_attention_unet",
    "brain_tumour_mri_cbam_unet",
    "pancreas_ct_attention_unet",
    "polyp_kvasir_cbam_unet",
]
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", BUNDLE_NAMES)
def test_bundle_has_the_ids_mlflow_tracking_patches(name):
    configs = REPO / "bundles" / name / "configs"
    train = ConfigParser()
    train.read_config(str(configs / "train.json"))
    for key in ("trainer", "validator"):
        ids = DEFAULT_HANDLERS_ID[key]
        assert ids["id"] in train and isinstance(train[ids["handlers"]], list)
    infer = ConfigParser()
    infer.read_config(str(configs / "inference.json"))
    assert "evaluator" in infer and isinstance(infer["handlers"], list)
    assert "output_dir" in train and "is_not_rank0" in train


@pytest.mark.slow
def test_tracking_mlflow_training_run_logs_loss_and_validation_metric(bundle_copy, datasets, bh, tmp_path):
    """A real run: read back through MLflow's own client from the SQLite store under the bundle's runs/."""
    mlflow = pytest.importorskip("mlflow")
    name = "abdominal_mri_attention_unet"
    bundle = bundle_copy(name)
    bh.run_bundle(
        [
            "run",
            "--config_file",
            bundle / "configs" / "train.json",
            "--dataset_dir",
            datasets(name),
            "--epochs",
            "1",
            "--tracking",
            "mlflow",
            *bh.SMALL,
        ],
        cwd=tmp_path,
    )
    db = bundle / "runs" / "mlruns.db"
    assert db.is_file()
    client = mlflow.tracking.MlflowClient(tracking_uri=path_to_sqlite_uri(str(db)))
    experiment = client.get_experiment_by_name("monai_experiment")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1, "trainer and validator handlers should log into one run"
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["max_epochs"] == "1"
    losses = client.get_metric_history(run.info.run_id, "train_loss")
    assert losses and all(math.isfinite(m.value) for m in losses)
    dice = client.get_metric_history(run.info.run_id, "val_mean_dice")
    assert len(dice) == 1 and 0.0 <= dice[0].value <= 1.0
    artifacts = [a.path for a in client.list_artifacts(run.info.run_id)]
    assert any(a.startswith("config_") and a.endswith(".json") for a in artifacts), artifacts
