"""``--tracking mlflow`` patches the bundle's trainer and validator handlers (ids MONAI's defaults use)."""

from __future__ import annotations

from pathlib import Path

import pytest
from monai.bundle import ConfigParser, ConfigWorkflow
from monai.bundle.utils import DEFAULT_HANDLERS_ID

BUNDLE_NAMES = ["abdominal_mri_attention_unet", "brain_tumour_mri_cbam_unet", "pancreas_ct_attention_unet"]
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
def test_tracking_mlflow_training_run(bundle_copy, datasets, bh, tmp_path):
    pytest.importorskip("mlflow")
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
    assert (bundle / "runs" / "mlruns.db").is_file()
    wf = ConfigWorkflow(
        config_file=str(bundle / "configs" / "train.json"),
        workflow_type="train",
        logging_file=False,
        tracking="mlflow",
    )
    assert any(h.get("_target_") == "MLFlowHandler" for h in wf.parser["train#handlers"])
