"""The 2D polyp bundle with the shared graph: trains on a tiny Kvasir-like set (pictures of about 64x64),
evaluates (per-picture Dice, IoU, precision, recall, HD95 in pixels; the worst-cases gallery), segments a
folder of JPGs into PNG masks of the pictures' own sizes, exports (TorchScript, ONNX, MONAI Label), and trains
the plain U-Net baseline with one override."""

from __future__ import annotations

import csv
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

pytestmark = pytest.mark.slow

NAME = "polyp_kvasir_cbam_unet"
SHORT = ["--epochs", "2", "--iterations_per_epoch", "3", "--num_workers", "0", "--progress_bar", "False"]


def test_polyp_bundle_trains_evaluates_infers_pictures_and_exports(bh, bundle_copy, datasets, tmp_path):
    data = datasets(NAME)
    plan = bh.load_json(data / "plan.json")
    assert len(plan["patch_size"]) == 2 and plan["num_channels"] == 3
    bundle = bundle_copy(NAME)
    configs = bundle / "configs"
    bh.run_bundle(
        ["run", "--config_file", configs / "train.json", "--dataset_dir", data, *SHORT], cwd=tmp_path
    )
    best = torch.load(bundle / "models" / "model.pt", weights_only=True)
    assert best["model"]["head.weight"].ndim == 4  # a 2D network: (out, in, k, k)
    assert any("cbam" in key.lower() or "gate" in key.lower() for key in best["model"])

    bh.run_bundle(["run", "--config_file", bh.config_list(bundle, "train.json", "evaluate.json"),
                   "--dataset_dir", data, "--num_workers", "0"], cwd=tmp_path)  # fmt: skip
    rows = list(csv.DictReader((bundle / "eval" / "metrics.csv").open()))
    assert {r["class"] for r in rows} == {"polyp"}
    assert len(rows) == len(bh.load_json(data / "datalist.json")["validation"])
    for row in rows:
        assert all(math.isfinite(float(row[k])) for k in ("dice", "iou", "precision", "recall", "hd95_mm"))
    assert (bundle / "eval" / "worst_cases.png").stat().st_size > 1000
    assert list((bundle / "eval" / "overlays").glob("*_overlay.png"))

    pictures = tmp_path / "pictures"
    pictures.mkdir()
    raw = sorted((data.with_name(data.name + "_raw") / "Kvasir-SEG" / "images").glob("*.jpg"))[:3]
    for picture in raw:
        (pictures / picture.name).write_bytes(picture.read_bytes())
    masks = tmp_path / "masks"
    bh.run_bundle(["run", "--config_file", configs / "inference.json", "--input_dir", pictures,
                   "--output_dir", masks], cwd=tmp_path)  # fmt: skip
    for picture in raw:
        mask = Image.open(masks / f"{picture.stem}_seg.png")
        assert mask.size == Image.open(picture).size and mask.mode == "L"
        assert set(np.unique(np.asarray(mask)).tolist()) <= {0, 255}

    for target in ("torchscript", "onnx", "monailabel"):
        out = tmp_path / f"export_{target}"
        cmd = [sys.executable, "-m", "bundle_tools", "export", str(bundle), "--to", target, "--out", str(out)]
        proc = subprocess.run(cmd, env=bh.env(), capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "export_monailabel" / "configs" / "inference.json").is_file()


def test_the_plain_unet_baseline_is_one_override(bh, bundle_copy, datasets, tmp_path):
    data = datasets(NAME)
    bundle = bundle_copy(NAME)
    bh.run_bundle(["run", "--config_file", bundle / "configs" / "train.json", "--dataset_dir", data,
                   "--network_def#_target_", "custom_networks.UNet", *SHORT[:1], "1", *SHORT[2:]],
                  cwd=tmp_path)  # fmt: skip
    weights = torch.load(bundle / "models" / "model.pt", weights_only=True)["model"]
    assert not any("cbam" in key.lower() or "gate" in key.lower() for key in weights)


def test_the_sigmoid_head_trains_evaluates_infers_and_exports_with_its_args_file(
    bh, bundle_copy, datasets, tmp_path
):
    """``configs/sigmoid_head.json`` (one channel, sigmoid, Dice+BCE) through every step, as a user passes it."""
    data = datasets(NAME)
    bundle = bundle_copy(NAME)
    head = ["--args_file", bundle / "configs" / "sigmoid_head.json"]
    bh.run_bundle(["run", "--config_file", bundle / "configs" / "train.json", "--dataset_dir", data, *head,
                   *SHORT[:1], "1", *SHORT[2:]], cwd=tmp_path)  # fmt: skip
    assert torch.load(bundle / "models" / "model.pt", weights_only=True)["model"]["head.weight"].shape[0] == 1

    bh.run_bundle(["run", "--config_file", bh.config_list(bundle, "train.json", "evaluate.json"),
                   "--dataset_dir", data, "--num_workers", "0", *head], cwd=tmp_path)  # fmt: skip
    rows = list(csv.DictReader((bundle / "eval" / "metrics.csv").open()))
    assert len(rows) == len(bh.load_json(data / "datalist.json")["validation"])
    assert {(r["class_index"], r["class"]) for r in rows} == {("0", "polyp")}  # the one channel is the polyp

    pictures = tmp_path / "pictures"
    pictures.mkdir()
    raw = sorted((data.with_name(data.name + "_raw") / "Kvasir-SEG" / "images").glob("*.jpg"))[:2]
    for picture in raw:
        (pictures / picture.name).write_bytes(picture.read_bytes())
    bh.run_bundle(["run", "--config_file", bundle / "configs" / "inference.json", "--input_dir", pictures,
                   "--output_dir", tmp_path / "masks", *head], cwd=tmp_path)  # fmt: skip
    for picture in raw:
        mask = Image.open(tmp_path / "masks" / f"{picture.stem}_seg.png")
        assert mask.size == Image.open(picture).size
        assert set(np.unique(np.asarray(mask)).tolist()) <= {0, 255}

    out = tmp_path / "export_onnx"
    cmd = [sys.executable, "-m", "bundle_tools", "export", str(bundle), "--to", "onnx", "--out", str(out),
           "--args_file", str(head[1])]  # fmt: skip
    proc = subprocess.run(cmd, env=bh.env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cmd[cmd.index("onnx")], cmd[cmd.index(str(out))] = "monailabel", str(tmp_path / "export_ml")
    proc = subprocess.run(cmd, env=bh.env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    inference = bh.load_json(tmp_path / "export_ml" / "configs" / "inference.json")
    assert inference["out_channels"] == 1 and inference["multi_label"] is True
