"""The abdominal bundle learns: on an easy synthetic dataset it reaches a validation mean Dice above 0.5
within 6 short CPU epochs (about a minute on 2 cores), so a change that stops learning fails CI."""

from __future__ import annotations

import time

import pytest
import torch

pytestmark = pytest.mark.slow


def test_abdominal_bundle_reaches_dice_threshold_on_easy_data(bundle_copy, bh, tmp_path_factory, tmp_path):
    data = bh.synth("abdominal", tmp_path_factory.mktemp("learn") / "ds", cases=8, size=(48, 48, 32), seed=1)
    bundle = bundle_copy("abdominal_mri_attention_unet")
    start = time.monotonic()
    bh.run_bundle(
        [
            "run",
            "--config_file",
            bundle / "configs" / "train.json",
            "--dataset_dir",
            data,
            "--epochs",
            "6",
            "--roi_size",
            "[48,48,32]",
            "--num_samples",
            "2",
            "--learning_rate",
            "0.003",
            "--augment",
            "False",
            "--sw_batch_size",
            "1",
            "--num_workers",
            "0",
            "--progress_bar",
            "False",
        ],
        cwd=tmp_path,
    )
    elapsed = time.monotonic() - start
    best = torch.load(bundle / "models" / "model.pt", weights_only=True)
    assert best["metric"] > 0.5, f"best validation mean Dice {best['metric']:.3f} after 6 epochs"
    assert elapsed < 300, f"6 epochs took {elapsed:.0f} s"
