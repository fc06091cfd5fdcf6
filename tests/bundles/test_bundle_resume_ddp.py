"""Resuming a training killed mid-epoch, and the 2-process DDP run (gloo on CPU)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
import torch

pytestmark = pytest.mark.slow

NAME = "abdominal_mri_attention_unet"


def _latest(bundle):
    return torch.load(bundle / "models" / "checkpoint_latest.pt", weights_only=True)


def _schedule_steps(ckpt) -> int:
    """Iterations the learning-rate schedule has stepped (it steps once per iteration)."""
    return int(ckpt["lr_scheduler"]["last_epoch"])


def test_training_killed_mid_epoch_resumes_epochs_optimizer_and_curves(bundle_copy, bh, tmp_path_factory):
    data = bh.synth("abdominal", tmp_path_factory.mktemp("resume") / "ds", cases=10, size=(40, 40, 32))
    bundle = bundle_copy(NAME)
    args = [
        "run",
        "--config_file",
        bundle / "configs" / "train.json",
        "--dataset_dir",
        data,
        "--epochs",
        "3",
        "--num_samples",
        "1",
        "--ckpt_every_n_iterations",
        "1",
        "--augment",
        "False",
        *bh.SMALL,
    ]
    proc = bh.popen_bundle(args, cwd=tmp_path_factory.getbasetemp())
    ckpt_path = bundle / "models" / "checkpoint_latest.pt"
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if ckpt_path.exists():
                state = _latest(bundle)["trainer"]
                it, length = state["iteration"], state["epoch_length"]
                if it > length and it % length != 0:  # mid-epoch, after epoch 1 (so curves have history)
                    break
            time.sleep(0.2)
        assert proc.poll() is None, "training finished before it could be killed mid-epoch"
    finally:
        bh.stop_bundle(proc)
    killed = _latest(bundle)
    it0, length = killed["trainer"]["iteration"], killed["trainer"]["epoch_length"]
    assert length < it0 < 3 * length and it0 % length != 0
    assert _schedule_steps(killed) == it0
    assert killed["optimizer"]["state"] and all(killed["optimizer"]["state"].values())  # moments saved
    done = it0 // length  # epochs completed before the kill
    curves0 = killed["training_curves"]
    assert curves0["history"]["epoch"] == curves0["history"]["val_epoch"] == list(range(1, done + 1))
    assert len(curves0["epoch_losses"]) == it0 % length  # the interrupted epoch's losses so far

    bh.run_bundle([*args, "--resume", "True"], cwd=tmp_path_factory.getbasetemp())
    final = _latest(bundle)
    assert (
        final["trainer"]["iteration"] // final["trainer"]["epoch_length"] == 3
    )  # epoch count continued to 3
    # the schedule continued from the checkpoint: its step count covers the iterations of both runs
    assert _schedule_steps(final) == final["trainer"]["iteration"] > final["trainer"]["iteration"] - it0
    # the curves of the resumed run start at epoch 1: the epochs before the kill keep their losses
    curves = final["training_curves"]["history"]
    assert curves["epoch"] == curves["val_epoch"] == [1, 2, 3]
    assert curves["loss"][:done] == curves0["history"]["loss"]
    assert len(curves["metrics"]["val_mean_dice"]) == 3
    assert not list((bundle / "models").glob(".*.tmp"))  # a kill during a save leaves no stale temp file


def test_resume_without_checkpoint_names_the_file(bundle_copy, datasets, bh, tmp_path):
    bundle = bundle_copy(NAME)
    cmd = [
        sys.executable,
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        str(bundle / "configs" / "train.json"),
        "--dataset_dir",
        str(datasets(NAME)),
        "--resume",
        "True",
        "--epochs",
        "1",
        *bh.SMALL,
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=bh.env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "checkpoint_latest.pt: no checkpoint to resume from" in proc.stdout + proc.stderr


@pytest.mark.skipif(
    shutil.which("torchrun") is None
    and not os.path.exists(os.path.join(os.path.dirname(sys.executable), "torchrun")),
    reason="torchrun not installed",
)
def test_two_process_gloo_ddp_training_completes(bundle_copy, datasets, bh, tmp_path):
    bundle = bundle_copy(NAME)
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    configs = bh.config_list(bundle, "train.json", "multi_gpu_train.json")
    cmd = [
        torchrun,
        "--nproc_per_node=2",
        "--master_port",
        "29517",
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        configs,
        "--dataset_dir",
        str(datasets(NAME)),
        "--epochs",
        "1",
        *bh.SMALL,
    ]
    env = bh.env()
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    latest = _latest(bundle)
    assert latest["trainer"]["iteration"] // latest["trainer"]["epoch_length"] == 1
    assert not any(k.startswith("module.") for k in latest["network"])  # saved unwrapped from DDP
    best = torch.load(bundle / "models" / "model.pt", weights_only=True)
    assert not any(k.startswith("module.") for k in best["model"])
    assert (bundle / "models" / "postprocessing.json").is_file()  # decided once, by rank 0
    # rank 0 alone logs and saves: one TensorBoard writer pair, one curves file
    assert len(list((bundle / "runs").glob("events.out.tfevents.*"))) == 2
