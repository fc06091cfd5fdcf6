"""``python -m bundle_tools cv`` end to end: 2 folds on a tiny synthetic dataset, a kill between the folds,
the resumed run, the out-of-fold table, and inference with the two fold models as an ensemble."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

BUNDLE = "abdominal_mri_attention_unet"
OVERRIDES = ["--epochs", "1", "--iterations_per_epoch", "2", "--roi_size", "[32,32,32]", "--num_workers", "0"]
OVERRIDES += ["--progress_bar", "False", "--max_pictures", "0", "--postprocess", "False"]


def _cv_command(bh, data: Path, out: Path) -> list[str]:
    cmd = [sys.executable, "-m", "bundle_tools", "cv", bh.BUNDLES / BUNDLE, "--dataset_dir", data]
    return [str(c) for c in [*cmd, "--folds", "2", "--output", out, "--seed", "3", "--", *OVERRIDES]]


def _kill_when(proc: subprocess.Popen, done: Path, timeout: float) -> None:
    """SIGKILL ``proc``'s process group once ``done`` exists (or it exits, or ``timeout`` passes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done.exists() and proc.poll() is None:
        time.sleep(0.5)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_cv_trains_each_fold_resumes_after_a_kill_and_its_ensemble_infers_on_the_input_grid(
    tmp_path, datasets, bh
):
    from data_prep.contract.manifest import case_name
    from data_prep.io import read_image, spatial_geometry

    data = datasets(BUNDLE)
    datalist_before = (data / "datalist.json").read_bytes()
    out = tmp_path / "cv"
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(_cv_command(bh, data, out), cwd=tmp_path, env=bh.env(), stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    _kill_when(first, out / "fold_0" / "fold.json", timeout=300)
    assert (out / "fold_0" / "fold.json").is_file(), (tmp_path / "first.log").read_text(encoding="utf-8")[
        -3000:
    ]
    assert not (out / "fold_1" / "fold.json").exists()
    model_0 = out / "fold_0" / "models" / "model.pt"
    stamp = model_0.stat().st_mtime_ns

    second = subprocess.run(_cv_command(bh, data, out), cwd=tmp_path, env=bh.env(), capture_output=True, text=True,
                            timeout=400)  # fmt: skip
    assert second.returncode == 0, (second.stdout + second.stderr)[-4000:]
    assert "fold 0: complete, skipped" in second.stdout
    assert model_0.stat().st_mtime_ns == stamp  # the finished fold was not trained again
    fold_0_log = (out / "fold_0" / "train.log").read_text(encoding="utf-8")
    assert sum(line.startswith("$ ") and " run training " in line for line in fold_0_log.splitlines()) == 1
    assert (out / "fold_1" / "models" / "model.pt").is_file()

    # the out-of-fold table: every non-test case once, scored by the fold that validated on it
    datalists = [json.loads((out / f"fold_{k}" / "datalist.json").read_text()) for k in (0, 1)]
    assert datalists[0]["test"] == datalists[1]["test"] and datalists[0]["folds"] == datalists[1]["folds"]
    assert (data / "datalist.json").read_bytes() == datalist_before  # the dataset folder is only read
    rows = bh_csv(out / "oof_metrics.csv")
    expected = {case_name(e["image"]): k for k in (0, 1) for e in datalists[k]["validation"]}
    assert {r["case"]: int(r["fold"]) for r in rows} == expected
    assert {r["metric"] for r in bh_csv(out / "oof_summary.csv")} >= {"dice", "iou", "hd95_mm", "assd_mm"}
    post = json.loads((out / "postprocessing.json").read_text())
    assert post["method"] == "keep_largest_component" and post["model"]["folds"] == 2
    cv = json.loads((out / "cv.json").read_text())
    assert cv["settings"]["folds"] == 2 and cv["settings"]["seed"] == 3 and set(cv["folds"]) == {"0", "1"}

    # the fold ensemble, as cv prints it, on one held-out test image
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    image = data / datalists[0]["test"][0]["image"]
    shutil.copy(image, inputs / image.name)
    command = shlex.split(cv["infer_command"]) + [
        "--input_dir",
        str(inputs),
        "--output_dir",
        str(tmp_path / "pred"),
    ]
    assert cv["infer_command"] in second.stdout and "--postprocess" not in cv["infer_command"]
    infer = subprocess.run(command, cwd=tmp_path, env=bh.env(), capture_output=True, text=True, timeout=300)
    assert infer.returncode == 0, (infer.stdout + infer.stderr)[-4000:]
    (pred,) = (tmp_path / "pred").glob("*_seg.nii.gz")
    got, want = spatial_geometry(read_image(pred)), spatial_geometry(read_image(image))
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, atol=1e-4)
    assert read_image(pred).GetSize() == read_image(image).GetSize()

    # the fold ensemble exported for MONAI Label with the command cv prints
    export = shlex.split(second.stdout.split("export it for MONAI Label:\n")[1].splitlines()[0])
    export[export.index("DEST")] = str(tmp_path / "exported")
    proc = subprocess.run([*export, "--no-zip"], cwd=tmp_path, env=bh.env(), capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "exported" / "models").glob("ensemble_*.pt")) == [
        "ensemble_0.pt", "ensemble_1.pt"
    ]  # fmt: skip


def bh_csv(path: Path) -> list[dict[str, str]]:
    import csv

    return list(csv.DictReader(path.read_text().splitlines()))
