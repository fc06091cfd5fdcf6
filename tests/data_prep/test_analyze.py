"""Data fingerprint (fingerprint.json) and the plan made from it (plan.json): class counts, weights and crop
ratios against a direct count; spacing; intensities."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from data_prep.analyze import analyze_dataset
from data_prep.errors import DataPrepError
from data_prep.io import image_from_array, write_image
from data_prep.plan import load_plan
from data_prep.planner import class_weights, target_spacing

LABELS3 = {"0": "background", "1": "big", "2": "rare"}


def _write_dataset(
    root: Path, cases: list[tuple[np.ndarray, np.ndarray, tuple]], labels=LABELS3, modality=None
) -> Path:
    """Write (image, label, spacing) cases and their dataset.json."""
    training = []
    for i, (image, label, spacing) in enumerate(cases):
        name = f"case{i}"
        write_image(image_from_array(image.astype(np.float32), spacing), root / "imagesTr" / f"{name}.nii.gz")
        write_image(image_from_array(label.astype(np.uint8), spacing), root / "labelsTr" / f"{name}.nii.gz")
        training.append(
            {"image": f"imagesTr/{name}.nii.gz", "label": f"labelsTr/{name}.nii.gz", "patient": name}
        )
    manifest = {"name": "toy", "labels": labels, "modality": modality or {"0": "MR"}, "training": training}
    (root / "dataset.json").write_text(json.dumps(manifest))
    return root


def _fingerprint(root: Path) -> dict:
    return json.loads((root / "fingerprint.json").read_text(encoding="utf-8"))


def _toy_cases(rng: np.random.Generator, n: int = 3) -> list[tuple[np.ndarray, np.ndarray, tuple]]:
    cases = []
    for i in range(n):
        shape = (10 + i, 12, 8)
        label = np.zeros(shape, np.uint8)
        label[2:8, 3:9, 2:6] = 1
        label[4 + i % 2, 5, 3] = 2
        image = rng.normal(100.0, 20.0, shape) + 50.0 * label
        cases.append((image, label, (1.0 + 0.1 * i, 1.0, 3.0)))
    return cases


def test_frequencies_and_weights_match_a_direct_count(tmp_path):
    cases = _toy_cases(np.random.default_rng(0))
    plan = analyze_dataset(_write_dataset(tmp_path, cases))
    fingerprint = _fingerprint(tmp_path)
    counts = np.bincount(np.concatenate([label.ravel() for _, label, _ in cases]), minlength=3)
    assert fingerprint["class_voxels"] == counts.tolist()
    freq = counts / counts.sum()
    np.testing.assert_allclose(fingerprint["class_frequencies"], freq, atol=1e-6)
    expected = (1 / np.sqrt(freq)) / (1 / np.sqrt(freq)).mean()
    np.testing.assert_allclose(plan.class_weights, expected, atol=1e-3)
    assert np.mean(plan.class_weights) == pytest.approx(1.0, abs=1e-3)
    assert plan.class_weights[0] < plan.class_weights[1] < plan.class_weights[2]
    assert load_plan(tmp_path) == plan


def test_crop_ratios_give_background_context_and_favour_rare_classes(tmp_path):
    plan = analyze_dataset(_write_dataset(tmp_path, _toy_cases(np.random.default_rng(0))))
    ratios = plan.crop_ratios
    assert sum(ratios) == pytest.approx(1.0, abs=1e-3)
    assert ratios[0] == pytest.approx(0.25)
    assert ratios[2] > ratios[1] > 0


def test_a_class_absent_from_the_data_gets_a_finite_weight_and_no_crops():
    weights = class_weights([0.9, 0.1, 0.0])
    assert np.isfinite(weights).all() and weights.mean() == pytest.approx(1.0)
    assert weights[2] / weights.min() == pytest.approx(50.0)


def test_spacing_shape_statistics_and_anisotropic_target_spacing(tmp_path):
    plan = analyze_dataset(_write_dataset(tmp_path, _toy_cases(np.random.default_rng(0))))
    fingerprint = _fingerprint(tmp_path)
    assert fingerprint["spacing"] == {
        "median": [1.1, 1.0, 3.0],
        "min": [1.0, 1.0, 3.0],
        "max": [1.2, 1.0, 3.0],
    }
    assert fingerprint["shape"] == {"median": [11, 12, 8], "min": [10, 12, 8], "max": [12, 12, 8]}
    assert plan.target_spacing == [1.1, 1.0, 3.0]  # 3.0 is not > 3 x 1.1: median kept
    spacings = np.array([[0.8, 0.8, s] for s in (2.5, 5.0, 5.0, 5.0, 6.0, 6.0, 1.5, 5.0, 5.0, 5.0)])
    target = target_spacing(spacings)
    assert target[2] == pytest.approx(np.percentile(spacings[:, 2], 10))  # 5.0 > 3 x 0.8
    assert target[:2].tolist() == [0.8, 0.8]


def test_intensity_statistics_over_foreground_per_channel_with_ct_and_mr_normalisation(tmp_path):
    rng = np.random.default_rng(1)
    label = np.zeros((9, 9, 6), np.uint8)
    label[2:7, 2:7, 1:5] = 1
    images = [
        np.stack([rng.normal(c * 100, 10 + c, label.shape) for c in range(2)], axis=-1) for _ in range(2)
    ]
    root = _write_dataset(
        tmp_path / "mr",
        [(im, label, (1, 1, 1)) for im in images],
        {"0": "background", "1": "t"},
        {"0": "CT", "1": "T2w"},
    )
    plan = analyze_dataset(root)
    assert plan.num_channels == 2
    assert _fingerprint(root)["intensity"] == plan.intensity
    for c, stats in enumerate(plan.intensity):
        fg = np.concatenate([im[..., c][label > 0] for im in images]).astype(np.float32)
        assert stats["mean"] == pytest.approx(fg.mean(), abs=1e-3)
        assert stats["std"] == pytest.approx(fg.std(), abs=1e-3)
        assert stats["percentile_00_5"] == pytest.approx(np.percentile(fg, 0.5), abs=1e-3)
        assert stats["percentile_99_5"] == pytest.approx(np.percentile(fg, 99.5), abs=1e-3)
    assert [s["normalization"] for s in plan.intensity] == ["ct", "zscore"]


def test_parallel_workers_give_the_same_plan(tmp_path):
    root = _write_dataset(tmp_path, _toy_cases(np.random.default_rng(2), n=4))
    assert analyze_dataset(root, workers=2) == analyze_dataset(root, workers=1)


def test_bad_cases_are_refused_naming_the_file(tmp_path):
    with pytest.raises(DataPrepError, match=r"dataset\.json: no such file"):
        analyze_dataset(tmp_path)
    cases = _toy_cases(np.random.default_rng(0), n=2)
    cases[1][1][0, 0, 0] = 7
    with pytest.raises(DataPrepError, match=r"labelsTr/case1\.nii\.gz: label value 7 outside 0\.\.2"):
        analyze_dataset(_write_dataset(tmp_path / "a", cases))
    image, label, spacing = _toy_cases(np.random.default_rng(0), n=1)[0]
    root = _write_dataset(tmp_path / "b", [(image[:-1], label, spacing)])
    with pytest.raises(DataPrepError, match=r"labelsTr/case0\.nii\.gz: shape .* differs from image"):
        analyze_dataset(root)
    assert not (root / "plan.json").exists() and not (root / "fingerprint.json").exists()


def test_a_manifest_with_bad_labels_or_modality_is_refused(tmp_path):
    root = _write_dataset(
        tmp_path, _toy_cases(np.random.default_rng(0), n=1), labels={"0": "bg", "2": "rare"}
    )
    with pytest.raises(DataPrepError, match=r"dataset\.json: 'labels' keys must be 0\.\.1"):
        analyze_dataset(root)
    root = _write_dataset(tmp_path / "m", _toy_cases(np.random.default_rng(0), n=1), modality={"1": "MR"})
    with pytest.raises(DataPrepError, match=r"dataset\.json: 'modality' must map channels"):
        analyze_dataset(root)
    root = _write_dataset(
        tmp_path / "c", _toy_cases(np.random.default_rng(0), n=1), modality={"0": "CT", "1": "PET"}
    )
    with pytest.raises(
        DataPrepError, match=r"imagesTr/case0\.nii\.gz: 1 channels, dataset\.json 'modality' lists 2"
    ):
        analyze_dataset(root)
