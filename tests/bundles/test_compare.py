"""``python -m bundle_tools compare`` end to end: U-Net against CBAM U-Net, 2 folds each through ``cv``, on a
tiny synthetic dataset of the 2D polyp bundle (the cheapest; ``cv`` itself runs a 3D bundle in test_cv.py);
the report folder is complete."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

SHORT = ["--epochs", "1", "--iterations_per_epoch", "2", "--num_workers", "0", "--progress_bar", "False"]
ROI = {"polyp_kvasir_cbam_unet": "[32,32]"}


def _rows(path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("bundle", list(ROI))
def test_compare_two_networks_on_two_folds_writes_the_report(tmp_path, datasets, bh, bundle):
    data = datasets(bundle)
    out = tmp_path / "compare"
    cmd = [sys.executable, "-m", "bundle_tools", "compare", "--bundle", str(bh.BUNDLES / bundle),
           "--dataset_dir", str(data), "--networks", "unet,cbam_unet", "--folds", "2", "--output", str(out),
           "--", *SHORT, "--roi_size", ROI[bundle]]  # fmt: skip
    proc = subprocess.run(cmd, cwd=tmp_path, env=bh.env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]

    for network in ("unet", "cbam_unet"):
        assert (out / network / "oof_metrics.csv").is_file()
        assert all((out / network / f"fold_{k}" / "models" / "model.pt").is_file() for k in (0, 1))
    report = out / "report"
    for name in ("report.md", "report.html", "metrics.csv", "tests.csv", "networks.csv",
                 "validation_curves.png", "boxplot_dice.png", "boxplot_hd95_mm.png"):  # fmt: skip
        assert (report / name).is_file(), name
    cases = {r["case"] for r in _rows(out / "unet" / "oof_metrics.csv")}
    metrics = _rows(report / "metrics.csv")
    overall = [r for r in metrics if r["class"] == "overall" and r["metric"] == "dice"]
    assert {r["network"] for r in overall} == {"unet", "cbam_unet"}
    assert all(int(r["n"]) <= len(cases) for r in overall)
    tests = _rows(report / "tests.csv")
    assert {(r["network_a"], r["network_b"]) for r in tests} == {("unet", "cbam_unet")}
    networks = {r["network"]: r for r in _rows(report / "networks.csv")}
    state = json.loads((out / "compare.json").read_text())
    for name, target in (("unet", "custom_networks.UNet"), ("cbam_unet", "custom_networks.CBAMUNet")):
        assert networks[name]["target"] == target and int(networks[name]["folds"]) == 2
        assert int(networks[name]["parameters"]) == state["networks"][name]["parameters"] > 0
        assert float(networks[name]["train_minutes"]) > 0
    assert list((report / "overlays").glob("*.png"))  # the worst cases, side by side
