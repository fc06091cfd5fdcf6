"""Smoke runs of the three bundles with their real configs: train 2 epochs, evaluate, infer.

Overrides are data, sizes and epochs only. The three bundles cover the three ways users start a run:
from inside the bundle folder with the old run id (``run training --config_file configs/train.json``),
and from elsewhere with the default run id ``run``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow


BUNDLE_NAMES = ["abdominal_mri_attention_unet", "brain_tumour_mri_cbam_unet", "pancreas_ct_attention_unet"]


def _train_eval_infer(bh, bundle: Path, data: Path, cwd: Path, inside: bool) -> None:
    if inside:  # relative config path, cwd = bundle folder, old run-id form
        train_args = ["run", "training", "--config_file", "configs/train.json"]
        eval_cfg = "['configs/train.json','configs/evaluate.json']"
        infer_cfg = "configs/inference.json"
    else:
        train_args = ["run", "--config_file", bundle / "configs" / "train.json"]
        eval_cfg = bh.config_list(bundle, "train.json", "evaluate.json")
        infer_cfg = bundle / "configs" / "inference.json"
    bh.run_bundle([*train_args, "--dataset_dir", data, "--epochs", "2", *bh.SMALL], cwd=cwd)
    bh.run_bundle(["run", "--config_file", eval_cfg, "--dataset_dir", data, *bh.SMALL], cwd=cwd)
    bh.run_bundle(
        [
            "run",
            "--config_file",
            infer_cfg,
            "--dataset_dir",
            data,
            "--infer_split",
            "validation",
            "--roi_size",
            "[32,32,32]",
            "--tta",
            "True",
        ],
        cwd=cwd,
    )


@pytest.mark.parametrize("name", BUNDLE_NAMES)
def test_bundle_trains_evaluates_and_infers_into_its_own_folder(name, bundle_copy, datasets, tmp_path, bh):
    data = datasets(name)
    bundle = bundle_copy(name)
    inside = name == "abdominal_mri_attention_unet"
    cwd = bundle if inside else tmp_path
    _train_eval_infer(bh, bundle, data, cwd, inside)

    # training outputs land in the bundle, nothing in the cwd
    models, runs, ev = bundle / "models", bundle / "runs", bundle / "eval"
    assert not any((tmp_path / d).exists() for d in ("models", "runs", "eval"))
    best = torch.load(models / "model.pt", weights_only=True)
    assert set(best) >= {"model", "epoch", "metric"} and best["epoch"] in (1, 2)
    latest = torch.load(models / "checkpoint_latest.pt", weights_only=True)
    assert set(latest) >= {"network", "optimizer", "lr_scheduler", "trainer", "best_model", "early_stop"}
    assert (
        latest["trainer"]["iteration"] > 0
        and latest["trainer"]["iteration"] % latest["trainer"]["epoch_length"] == 0
    )
    assert latest["trainer"]["iteration"] // latest["trainer"]["epoch_length"] == 2
    assert (models / "plan.json").is_file()
    assert (runs / "training_curves.png").stat().st_size > 1000
    assert list(runs.glob("events.out.tfevents.*"))

    # evaluation: per case and class CSV with finite metrics, overlays (+ attention maps)
    rows = list(csv.DictReader((ev / "metrics.csv").open()))
    validation = bh.load_json(data / "datalist.json")["validation"]
    assert {r["case"] for r in rows} == {Path(v["image"]).name.removesuffix(".nii.gz") for v in validation}
    labels = set(bh.load_json(data / "plan.json")["labels"].values()) - {"background"}
    multi_label = name == "brain_tumour_mri_cbam_unet"  # one sigmoid channel per region, each scored
    assert {r["class"] for r in rows} == ({"TC", "WT", "ET"} if multi_label else labels)
    for row in rows:
        for col in ("dice", "iou", "precision", "recall", "hd95_mm", "assd_mm"):
            assert math.isfinite(float(row[col])), (row, col)
    assert (ev / "summary.csv").is_file()
    assert list((ev / "overlays").glob("*_overlay.png"))
    assert bool(list((ev / "attention").glob("*_attention.png"))) == (name in bh.ATTENTION_BUNDLES)

    # inference: one NIfTI per input, same grid and affine as the input
    for item in validation:
        src = nib.load(data / item["image"])
        case = Path(item["image"]).name.removesuffix(".nii.gz")
        pred = nib.load(ev / "predictions" / f"{case}_seg.nii.gz")
        assert pred.shape[:3] == src.shape[:3]
        np.testing.assert_allclose(pred.affine, src.affine, atol=1e-4)
        values = set(np.unique(np.asarray(pred.dataobj)).tolist())
        assert values <= set(range(len(bh.load_json(data / "plan.json")["labels"])))
