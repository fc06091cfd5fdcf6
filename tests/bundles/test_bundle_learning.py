"""The abdominal bundle learns: on an easy synthetic dataset its validation mean Dice passes 0.5 within at
most 6 short CPU epochs (usually 3-4, about a minute on 2 cores), so a change that stops learning fails CI.

The run is watched through ``models/model.pt`` (written atomically at every new best) and stopped as soon
as the threshold is reached, which keeps the test short."""

from __future__ import annotations

import time

import pytest
import torch

pytestmark = pytest.mark.slow

THRESHOLD = 0.5


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
    proc = bh.popen_bundle(args, cwd=tmp_path, capture_output=True)
    best_path = bundle / "models" / "model.pt"
    best = {"metric": float("-inf"), "epoch": 0}
    deadline = time.monotonic() + 420
    try:
        while time.monotonic() < deadline:
            if best_path.exists():
                best = torch.load(best_path, weights_only=True)
                if best["metric"] > THRESHOLD:
                    break
            if proc.poll() is not None:
                break
            time.sleep(1.0)
    finally:
        output = bh.stop_bundle(proc)
    if best_path.exists():
        best = torch.load(best_path, weights_only=True)
    assert best["metric"] > THRESHOLD, (
        f"best validation mean Dice {best['metric']:.3f} (epoch {best['epoch']}) after 6 epochs\n{output[-3000:]}"
    )
    assert best["epoch"] <= 6
