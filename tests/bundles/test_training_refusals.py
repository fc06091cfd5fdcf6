"""A bundle's training refuses what it cannot train on with one line naming the file, exit 1, and leaves
``models/`` as it was: a bad case in the datalist, a missing datalist, a truncated checkpoint to resume."""

from __future__ import annotations

import json
import shutil

import nibabel as nib
import numpy as np
import pytest

pytestmark = pytest.mark.slow

NAME = "abdominal_mri_attention_unet"
SHORT = ["--roi_size", "[32,32,32]", "--epochs", "1", "--iterations_per_epoch", "2", "--num_workers", "0",
         "--progress_bar", "False"]  # fmt: skip


def _run(bh, bundle, data, *extra):
    cmd = ["run", "training", "--config_file", bundle / "configs" / "train.json", "--dataset_dir", data, *SHORT,
           *extra]  # fmt: skip
    proc = bh.popen_bundle(cmd, cwd=bundle.parent, capture_output=True)
    proc.wait(timeout=600)
    return proc.returncode, bh.stop_bundle(proc)


def _last_line(output: str) -> str:
    return output.strip().splitlines()[-1]


def test_a_label_out_of_range_stops_training_before_anything_is_written(bh, bundle_copy, datasets, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(datasets(NAME), data)
    label = data / json.loads((data / "datalist.json").read_text())["training"][0]["label"]
    img = nib.load(label)
    array = np.asarray(img.dataobj).copy()
    array[0, 0, 0] = 7
    nib.save(nib.Nifti1Image(array, img.affine), label)
    bundle = bundle_copy(NAME)
    (bundle / "models" / "plan.json").write_text("{}")  # a previous run's files stay as they were
    rc, output = _run(bh, bundle, data)
    assert rc == 1
    assert _last_line(output).startswith(f"error: {label}: label values not declared")
    assert "Traceback" not in output
    assert (bundle / "models" / "plan.json").read_text() == "{}"
    assert not (bundle / "models" / "model.pt").exists()


def test_a_missing_datalist_is_one_line_and_exit_1(bh, bundle_copy, datasets, tmp_path):
    bundle = bundle_copy(NAME)
    missing = tmp_path / "nowhere.json"
    rc, output = _run(bh, bundle, datasets(NAME), "--datalist", missing)
    assert rc == 1  # not 134 (SIGABRT at shutdown)
    assert _last_line(output).startswith(f"error: {missing}: no such datalist file")
    assert not (bundle / "models" / "plan.json").exists()


def test_resuming_from_a_truncated_checkpoint_names_it(bh, bundle_copy, datasets):
    bundle = bundle_copy(NAME)
    checkpoint = bundle / "models" / "checkpoint_latest.pt"
    checkpoint.write_bytes(b"PK\x03\x04" + bytes(200))
    rc, output = _run(bh, bundle, datasets(NAME), "--resume", "true")
    assert rc == 1
    assert _last_line(output).startswith(f"error: {checkpoint}: not a readable checkpoint")
    assert "Traceback" not in output
