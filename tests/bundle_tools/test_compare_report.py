"""The comparison's report from fake cross-validations of two networks with 2 folds each: its files and
tables (metrics, paired tests, networks), the mean validation curve and the worst-case overlays."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import wilcoxon

from bundle_tools.experiments.compare_report import mean_curve, worst_cases, write_report
from bundle_tools.experiments.stats import METRICS, case_scores
from bundle_tools.visualize.figures import new_figure, save_png

CASES = [f"p{i:02d}" for i in range(10)]
CLASSES = ((1, "liver"), (2, "spleen"))


def _dice(network: str, case: int, class_index: int) -> float:
    base = 0.6 + 0.03 * case - 0.05 * class_index
    return base + (0.1 if network == "cbam_unet" else 0.0) - (0.002 * case if network == "cbam_unet" else 0.0)


def fake_cv(root: Path, network: str, folds: int = 2, curves: dict | None = None) -> None:
    """What ``run_cv`` leaves for one network: fold folders (fold.json, curves, overlays), oof_metrics.csv."""
    rows = []
    for i, case in enumerate(CASES):
        fold = i % folds
        for index, name in CLASSES:
            dice = _dice(network, i, index)
            rows.append({"case": case, "class_index": index, "class": name, "dice": dice, "iou": dice / (2 - dice),
                         "precision": dice, "recall": dice, "hd95_mm": 20 * (1 - dice), "assd_mm": 5 * (1 - dice),
                         "spacing_mm": "1x1x3", "fold": fold})  # fmt: skip
    out = root / network
    out.mkdir(parents=True)
    with open(out / "oof_metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for k in range(folds):
        fold = out / f"fold_{k}"
        (fold / "runs").mkdir(parents=True)
        values = (curves or {}).get(k, [0.3 + 0.1 * k, 0.5 + 0.1 * k])
        text = "epoch,loss,val_mean_dice\n" + "".join(f"{e + 1},0.5,{v}\n" for e, v in enumerate(values))
        (fold / "runs" / "training_curves.csv").write_text(text)
        cases = [c for i, c in enumerate(CASES) if i % folds == k]
        (fold / "fold.json").write_text(json.dumps({"train_seconds": 60.0 * (k + 1), "evaluate_seconds": 10.0,
                                                    "validation_cases": len(cases)}))  # fmt: skip
        for case in cases[:3]:
            fig = new_figure((2, 2))
            fig.add_subplot(1, 1, 1).imshow(np.eye(8))
            save_png(fig, fold / "eval" / "overlays" / f"{case}_overlay.png")


def _read(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


STATE = {
    "bundle": "/x/bundles/abdominal_mri_attention_unet",
    "folds": 2,
    "budget_minutes": None,
    "epochs": None,
    "networks": {
        "unet": {
            "target": "custom_networks.UNet",
            "parameters": 1000,
            "inference_seconds": 0.5,
            "device": "cpu",
            "epochs": 2,
        },
        "cbam_unet": {
            "target": "custom_networks.CBAMUNet",
            "parameters": 1200,
            "inference_seconds": 0.7,
            "device": "cpu",
            "epochs": 2,
        },
    },  # fmt: skip
}


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("compare")
    fake_cv(root, "unet")
    fake_cv(root, "cbam_unet")
    return write_report(root, ["unet", "cbam_unet"], STATE, ["--epochs", "2"], seed=0)


def test_report_folder_has_the_report_tables_and_pictures(report):
    for name in ("report.md", "report.html", "metrics.csv", "tests.csv", "networks.csv",
                 "validation_curves.png", *(f"boxplot_{m}.png" for m in METRICS)):  # fmt: skip
        assert (report / name).is_file() and (report / name).stat().st_size > 0, name
    markdown = (report / "report.md").read_text()
    html = (report / "report.html").read_text()
    for picture in ("boxplot_dice.png", "validation_curves.png", "overlays/"):
        assert picture in markdown and f'src="{picture}' in html
    assert "1,200" in markdown and "custom_networks.CBAMUNet" in html
    assert not list(report.rglob(".*.tmp*"))


def test_metrics_csv_has_mean_and_interval_per_network_class_and_metric(report):
    rows = _read(report / "metrics.csv")
    assert len(rows) == 2 * 3 * len(METRICS)  # networks x (2 classes + overall) x metrics
    liver = next(r for r in rows if (r["network"], r["class"], r["metric"]) == ("unet", "liver", "dice"))
    expected = [_dice("unet", i, 1) for i in range(len(CASES))]
    assert int(liver["n"]) == 10
    assert float(liver["mean"]) == pytest.approx(np.mean(expected), rel=1e-5)
    assert float(liver["std"]) == pytest.approx(np.std(expected, ddof=1), rel=1e-5)
    assert float(liver["ci_low"]) < float(liver["mean"]) < float(liver["ci_high"])


def test_tests_csv_has_a_holm_corrected_wilcoxon_per_class_and_metric(report):
    rows = _read(report / "tests.csv")
    assert len(rows) == 3 * len(METRICS)  # one pair x (2 classes + overall) x metrics
    liver = next(r for r in rows if (r["class"], r["metric"]) == ("liver", "dice"))
    a = [_dice("unet", i, 1) for i in range(10)]
    b = [_dice("cbam_unet", i, 1) for i in range(10)]
    assert (liver["network_a"], liver["network_b"]) == ("unet", "cbam_unet")
    assert float(liver["p_value"]) == pytest.approx(wilcoxon(a, b).pvalue, rel=1e-5)
    assert float(liver["p_holm"]) == pytest.approx(min(1.0, 3 * wilcoxon(a, b).pvalue), rel=1e-5)
    assert liver["better"] == "cbam_unet" and float(liver["median_diff"]) < 0
    hd95 = next(r for r in rows if (r["class"], r["metric"]) == ("liver", "hd95_mm"))
    assert hd95["better"] == "cbam_unet"  # lower distance is better


def test_networks_csv_has_parameters_training_time_and_inference_per_case(report):
    rows = {r["network"]: r for r in _read(report / "networks.csv")}
    assert rows["cbam_unet"]["parameters"] == "1200"
    assert float(rows["unet"]["train_minutes"]) == pytest.approx(3.0)  # 60 s + 120 s
    assert float(rows["unet"]["evaluate_seconds_per_case"]) == pytest.approx(20 / 10)
    assert float(rows["unet"]["inference_seconds_per_case"]) == 0.5


def test_worst_case_overlays_are_tiled_worst_first(report):
    tiles = sorted(p.name for p in (report / "overlays").glob("*.png"))
    # the worst cases by mean Dice are p00, p01, p02, ... and the fake folds drew p00-p04 and p01-p05
    assert tiles == ["p00.png", "p01.png", "p02.png", "p03.png"]
    markdown = (report / "report.md").read_text()
    assert markdown.index("overlays/p00.png") < markdown.index("overlays/p01.png")


def test_mean_curve_averages_the_folds_per_epoch(tmp_path):
    fake_cv(tmp_path, "unet", curves={0: [0.2, 0.4, 0.6], 1: [0.4, 0.6]})
    epochs, mean, low, high = mean_curve(tmp_path / "unet")
    assert epochs == [1, 2, 3]
    assert mean == pytest.approx([0.3, 0.5, 0.6])
    assert low == pytest.approx([0.2, 0.4, 0.6]) and high == pytest.approx([0.4, 0.6, 0.6])


def test_worst_cases_rank_by_mean_dice_over_networks():
    scores = {
        "a": case_scores([{"case": "x", "class_index": 1, "class": "c", "dice": 0.9},
                          {"case": "y", "class_index": 1, "class": "c", "dice": 0.2}], ("dice",)),
        "b": case_scores([{"case": "x", "class_index": 1, "class": "c", "dice": 0.1},
                          {"case": "y", "class_index": 1, "class": "c", "dice": 0.6}], ("dice",)),
    }  # fmt: skip
    assert [c for c, _ in worst_cases(scores)] == ["y", "x"]  # 0.4 < 0.5
