"""The bundles learn: on an easy synthetic dataset the abdominal bundle's validation mean Dice passes 0.5
within at most 6 short CPU epochs (usually 3-4, about a minute on 2 cores), and the 2D polyp bundle's passes
0.55 on Kvasir-like pictures of 96x96 (an all-polyp mask scores about 0.33; usually the first epoch, at most
6), so a change that stops learning fails CI.

The run is watched through ``models/model.pt`` (written atomically at every new best) and stopped as soon
as the threshold is reached, which keeps the test short."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

THRESHOLD = 0.5
POLYP_THRESHOLD = 0.55


def test_abdominal_bundle_reaches_dice_threshold_on_easy_data(bundle_copy, bh, tmp_path_factory, tmp_path):
    data = bh.synth("abdominal", tmp_path_factory.mktemp("learn") / "ds", cases=8, size=(48, 48, 32), seed=1)
    bundle = bundle_copy("abdominal_mri_attention_unet")
    args = [
        "run",
        "--config_file",
        bundle / "configs" / "train.json",
        "--dataset_dir",
        data,
        "--epochs",
        "6",
        "--iterations_per_epoch",
        "10",
        "--augment",
        "False",
        "--sw_batch_size",
        "1",
        "--num_workers",
        "0",
        "--progress_bar",
        "False",
    ]
    best, output = bh.train_until(args, tmp_path, bundle / "models" / "model.pt", THRESHOLD)
    assert best["metric"] > THRESHOLD, (
        f"best validation mean Dice {best['metric']:.3f} (epoch {best['epoch']}) after 6 epochs\n{output[-3000:]}"
    )
    assert best["epoch"] <= 6


def test_polyp_bundle_reaches_dice_threshold_on_kvasir_like_pictures(
    bundle_copy, bh, tmp_path_factory, tmp_path
):
    data = bh.synth("kvasir", tmp_path_factory.mktemp("learn2d") / "ds", cases=24, size=(96, 96), seed=1)
    bundle = bundle_copy("polyp_kvasir_cbam_unet")
    args = ["run", "--config_file", bundle / "configs" / "train.json", "--dataset_dir", data, "--epochs", "6",
            "--iterations_per_epoch", "10", "--augment", "False", "--num_workers", "0", "--progress_bar", "False"]  # fmt: skip
    best, output = bh.train_until(args, tmp_path, bundle / "models" / "model.pt", POLYP_THRESHOLD)
    assert best["metric"] > POLYP_THRESHOLD, (
        f"best validation Dice {best['metric']:.3f} (epoch {best['epoch']}) after 6 epochs\n{output[-3000:]}"
    )
