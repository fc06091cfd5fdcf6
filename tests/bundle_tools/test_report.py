"""Evaluation report: CSV rows and summary against direct computation, evaluator handler, folder errors."""

from __future__ import annotations

import csv
import json
import logging
import statistics
import warnings

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import DataLoader, Dataset
from monai.engines import SupervisedEvaluator
from monai.transforms import AsDiscreted, Compose, EnsureChannelFirstd, LoadImaged

from bundle_tools.handlers.segmentation_report import SegmentationReport
from bundle_tools.metrics.folders import ReportError, evaluate_folders, main
from bundle_tools.metrics.names import class_name_map
from bundle_tools.metrics.scores import segmentation_scores
from bundle_tools.metrics.summary import summarize, write_report

NAMES = {"0": "background", "1": "liver", "2": "spleen"}


def _read_csv(path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _labels(shift: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = np.zeros((16, 14, 8), np.uint8)
    labels[3:9, 3:10, 2:6] = 1
    labels[10:14, 4:8, 1:5] = 2
    labels = np.roll(labels, shift, axis=2)
    labels[rng.random(labels.shape) > 0.97] = 0
    return labels


def _save(path, labels: np.ndarray, affine: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(labels, affine), str(path))


def _two_case_folders(tmp_path):
    cases = {"p01": (np.diag([0.8, 0.8, 2.5, 1.0]), 0), "p02": (np.diag([1.2, 1.0, 4.0, 1.0]), 1)}
    for name, (affine, seed) in cases.items():
        _save(tmp_path / "gt" / f"{name}.nii.gz", _labels(0, seed), affine)
        _save(tmp_path / "pred" / f"{name}.nii.gz", _labels(1, seed + 10), affine)
    return cases


def test_folder_report_rows_and_summary_match_direct_computation(tmp_path):
    cases = _two_case_folders(tmp_path)
    rows = evaluate_folders(tmp_path / "pred", tmp_path / "gt", NAMES, tmp_path / "eval")
    written = _read_csv(tmp_path / "eval" / "metrics.csv")
    assert [(r["case"], r["class"]) for r in written] == [
        ("p01", "liver"),
        ("p01", "spleen"),
        ("p02", "liver"),
        ("p02", "spleen"),
    ]
    for row in written:
        affine, seed = cases[row["case"]]
        spacing = tuple(np.diag(affine)[:3])
        direct = segmentation_scores(_labels(1, seed + 10), _labels(0, seed), spacing)[
            int(row["class_index"])
        ]
        for score, column in [("dice", "dice"), ("iou", "iou"), ("hd95", "hd95_mm"), ("assd", "assd_mm")]:
            assert float(row[column]) == pytest.approx(direct[score], rel=1e-5)
        assert row["spacing_mm"] == "x".join(f"{s:g}" for s in spacing)
    summary = {(r["class"], r["metric"]): r for r in _read_csv(tmp_path / "eval" / "summary.csv")}
    liver_hd95 = [r["hd95_mm"] for r in rows if r["class"] == "liver"]
    assert float(summary[("liver", "hd95_mm")]["mean"]) == pytest.approx(np.mean(liver_hd95), rel=1e-5)
    assert float(summary[("liver", "hd95_mm")]["std"]) == pytest.approx(np.std(liver_hd95), rel=1e-5)
    assert summary[("liver", "hd95_mm")]["n"] == "2"
    per_case_dice = [np.mean([r["dice"] for r in rows if r["case"] == c]) for c in cases]
    assert float(summary[("overall", "dice")]["median"]) == pytest.approx(np.median(per_case_dice), rel=1e-5)
    assert not [p for p in (tmp_path / "eval").iterdir() if p.name.startswith(".")]  # no temp files left


def test_summary_statistics_of_known_rows():
    rows = [
        {
            "case": c,
            "class_index": k,
            "class": n,
            "dice": d,
            "iou": 0,
            "precision": 0,
            "recall": 0,
            "hd95_mm": h,
            "assd_mm": 0,
        }
        for c, k, n, d, h in [
            ("a", 1, "liver", 0.9, 2.0),
            ("b", 1, "liver", 0.7, 4.0),
            ("c", 1, "liver", 0.8, 9.0),
        ]
        + [("a", 2, "spleen", 0.5, 1.0), ("b", 2, "spleen", 0.1, 3.0), ("c", 2, "spleen", 0.3, 5.0)]
    ]
    summary = {(r["class"], r["metric"]): r for r in summarize(rows)}
    assert summary[("liver", "hd95_mm")]["mean"] == pytest.approx(5.0)
    assert summary[("liver", "hd95_mm")]["median"] == pytest.approx(4.0)
    assert summary[("liver", "hd95_mm")]["std"] == pytest.approx(statistics.pstdev([2.0, 4.0, 9.0]))
    assert summary[("overall", "dice")]["mean"] == pytest.approx(0.55)
    assert summary[("overall", "dice")]["median"] == pytest.approx(0.55)  # per case: 0.7, 0.4, 0.55
    assert summary[("overall", "dice")]["n"] == 3


def test_class_names_from_dataset_json_labels_or_list():
    assert class_name_map(NAMES) == {1: "liver", 2: "spleen"}
    assert class_name_map(["background", "liver"], include_background=True) == {0: "background", 1: "liver"}


def test_write_report_replaces_previous_files(tmp_path):
    row = {
        "case": "a",
        "class_index": 1,
        "class": "x",
        "dice": 0.5,
        "iou": 1 / 3,
        "precision": 1,
        "recall": 0.25,
    }
    row |= {"hd95_mm": 3.0, "assd_mm": 1.5, "spacing_mm": "1x1x1"}
    write_report([row, {**row, "case": "b"}], tmp_path)
    write_report([row], tmp_path)
    assert [r["case"] for r in _read_csv(tmp_path / "metrics.csv")] == ["a"]
    assert float(_read_csv(tmp_path / "metrics.csv")[0]["iou"]) == pytest.approx(1 / 3, rel=1e-5)


def test_folder_errors_name_the_file(tmp_path):
    _two_case_folders(tmp_path)
    (tmp_path / "pred" / "p02.nii.gz").unlink()
    with pytest.raises(ReportError, match=r"no prediction for 1 case\(s\): p02.nii.gz"):
        evaluate_folders(tmp_path / "pred", tmp_path / "gt", NAMES, tmp_path / "eval")
    _save(tmp_path / "pred" / "p02.nii.gz", np.zeros((16, 14, 7), np.uint8), np.diag([1.2, 1.0, 4.0, 1.0]))
    with pytest.raises(ReportError, match=r"p02.nii.gz: shape \(16, 14, 7\) differs"):
        evaluate_folders(tmp_path / "pred", tmp_path / "gt", NAMES, tmp_path / "eval")
    _save(tmp_path / "pred" / "p02.nii.gz", _labels(0, 1), np.diag([1.2, 1.0, 3.0, 1.0]))
    with pytest.raises(ReportError, match=r"p02.nii.gz: affine differs"):
        evaluate_folders(tmp_path / "pred", tmp_path / "gt", NAMES, tmp_path / "eval")


def test_command_line_reads_labels_from_dataset_json_and_separate_folders(tmp_path, capsys):
    _save(tmp_path / "gt" / "p01.nii.gz", _labels(0, 0), np.diag([1.0, 1.0, 2.0, 1.0]))
    _save(tmp_path / "pred" / "p01" / "p01_seg.nii.gz", _labels(0, 0), np.diag([1.0, 1.0, 2.0, 1.0]))
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": NAMES}))
    argv = [
        "--pred",
        str(tmp_path / "pred"),
        "--gt",
        str(tmp_path / "gt"),
        "--labels",
        str(tmp_path / "dataset.json"),
    ]
    assert main([*argv, "--out", str(tmp_path / "eval"), "--pred-suffix", "_seg"]) == 0
    rows = _read_csv(tmp_path / "eval" / "metrics.csv")
    assert [(r["class"], float(r["dice"]), float(r["hd95_mm"])) for r in rows] == [
        ("liver", 1.0, 0.0),
        ("spleen", 1.0, 0.0),
    ]
    assert "liver" in capsys.readouterr().out


class _ShiftAlongZ(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shifted = torch.roll((x == 1).float(), 2, dims=-1)
        return torch.cat([1 - shifted, shifted, torch.zeros_like(shifted)], dim=1)


def test_handler_scores_every_case_with_its_own_spacing(tmp_path, caplog):
    plate = np.zeros((10, 10, 12), np.uint8)
    plate[2:8, 2:8, 3] = 1
    data = []
    for name, spacing in [("case_a", (1.0, 1.0, 2.0)), ("case_b", (0.5, 0.5, 3.5))]:
        _save(tmp_path / f"{name}.nii.gz", plate, np.diag([*spacing, 1.0]))
        data.append({"image": str(tmp_path / f"{name}.nii.gz"), "label": str(tmp_path / f"{name}.nii.gz")})
    keys = ["image", "label"]
    loader = DataLoader(
        Dataset(data, Compose([LoadImaged(keys, image_only=True), EnsureChannelFirstd(keys)])), batch_size=2
    )
    post = Compose([AsDiscreted("pred", argmax=True, to_onehot=3), AsDiscreted("label", to_onehot=3)])
    report = SegmentationReport(tmp_path / "eval", ["background", "liver", "spleen"], name="test_report")
    evaluator = SupervisedEvaluator(
        device=torch.device("cpu"),
        val_data_loader=loader,
        network=_ShiftAlongZ(),
        postprocessing=post,
        val_handlers=[report],
    )
    with warnings.catch_warnings(), caplog.at_level(logging.INFO, logger="test_report"):
        warnings.simplefilter("ignore")
        evaluator.run()
    rows = {(r["case"], r["class"]): r for r in _read_csv(tmp_path / "eval" / "metrics.csv")}
    assert set(rows) == {("case_a", "liver"), ("case_a", "spleen"), ("case_b", "liver"), ("case_b", "spleen")}
    assert float(rows[("case_a", "liver")]["hd95_mm"]) == pytest.approx(4.0)  # 2 slices x 2.0 mm
    assert float(rows[("case_b", "liver")]["assd_mm"]) == pytest.approx(7.0)  # 2 slices x 3.5 mm
    assert float(rows[("case_a", "spleen")]["dice"]) == 1.0  # absent from both
    assert rows[("case_b", "liver")]["spacing_mm"] == "0.5x0.5x3.5"
    summary = {(r["class"], r["metric"]): r for r in _read_csv(tmp_path / "eval" / "summary.csv")}
    assert float(summary[("liver", "hd95_mm")]["mean"]) == pytest.approx(5.5)
    assert "liver" in caplog.text and "hd95_mm" in caplog.text
