"""A bundle takes its classes, patch and network from the dataset's plan: the abdominal bundle (whose own
metadata says 5 classes) trains on a 3-class dataset given only ``--dataset_dir`` (plus a short schedule),
writes label maps with those 3 classes, and refuses a ``--num_classes`` that disagrees with the plan."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow

NAME = "abdominal_mri_attention_unet"
SHORT = ["--epochs", "1", "--iterations_per_epoch", "2", "--num_workers", "0", "--progress_bar", "False"]


def test_bundle_trains_and_infers_with_the_classes_of_the_dataset_plan(bundle_copy, bh, tmp_path_factory):
    data = bh.synth("pancreas", tmp_path_factory.mktemp("three") / "ds", cases=5, size=(40, 40, 32))
    plan = bh.load_json(data / "plan.json")
    assert plan["num_classes"] == 3
    bundle = bundle_copy(NAME)
    assert (
        bh.load_json(bundle / "configs" / "metadata.json")["network_data_format"]["outputs"]["pred"][
            "num_channels"
        ]
        == 5
    )
    bh.run_bundle(["run", "--config_file", bundle / "configs" / "train.json", "--dataset_dir", data, *SHORT],
                  cwd=bundle)  # fmt: skip
    saved = bh.load_json(bundle / "models" / "plan.json")
    assert saved == plan  # the labels and topology travel with the weights
    weights = torch.load(bundle / "models" / "model.pt", weights_only=True)["model"]
    assert weights["head.weight"].shape[0] == 3

    out = tmp_path_factory.mktemp("pred")
    bh.run_bundle(
        ["run", "--config_file", bundle / "configs" / "inference.json", "--dataset_dir", data,
         "--infer_split", "validation", "--output_dir", out],
        cwd=bundle,
    )  # fmt: skip
    predictions = sorted(out.glob("*.nii.gz"))
    assert predictions
    for path in predictions:
        values = np.unique(np.asarray(nib.load(path).dataobj))
        assert set(values.tolist()) <= {0, 1, 2}


def test_num_classes_disagreeing_with_the_plan_fails_before_training(bundle_copy, datasets, bh, tmp_path):
    bundle = bundle_copy(NAME)
    data = datasets(NAME)
    cmd = ["run", "--config_file", bundle / "configs" / "train.json", "--dataset_dir", data,
           "--num_classes", "7", *SHORT]  # fmt: skip
    proc = bh.popen_bundle(cmd, cwd=tmp_path, capture_output=True)
    proc.wait(timeout=300)
    output = bh.stop_bundle(proc)
    assert proc.returncode != 0
    assert f"{data / 'plan.json'}: the dataset has 5 classes" in output and "num_classes is 7" in output
    assert not (bundle / "models" / "model.pt").exists()
