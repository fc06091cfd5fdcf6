"""validate: every problem of a dataset folder is listed with its file; the dataset is not touched."""

from __future__ import annotations

import json

import numpy as np
import SimpleITK as sitk

from data_prep.cli import main
from data_prep.io import image_from_array
from data_prep.validate import validate_dataset

SPACING, ORIGIN = (1.5, 1.5, 3.0), (-20.0, 10.0, 5.0)


def _case(root, name, *, image=None, label=None, spacing=SPACING, channels=1):
    rng = np.random.default_rng(len(name))
    size = (12, 10, 6)
    if image is None:
        image = rng.normal(size=size + ((channels,) if channels > 1 else ())).astype(np.float32)
    if label is None:
        label = rng.integers(0, 3, size).astype(np.uint8)
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image_from_array(image, SPACING, ORIGIN), str(root / "imagesTr" / f"{name}.nii.gz"))
    sitk.WriteImage(image_from_array(label, spacing, ORIGIN), str(root / "labelsTr" / f"{name}.nii.gz"))
    return {"image": f"imagesTr/{name}.nii.gz", "label": f"labelsTr/{name}.nii.gz", "patient": name}


def _manifest(root, training, modality=None, test=()):
    manifest = {
        "name": "t",
        "labels": {"0": "background", "1": "a", "2": "b"},
        "modality": modality or {"0": "MR"},
        "numTraining": len(training),
        "numTest": len(test),
        "training": training,
        "test": list(test),
    }
    (root / "dataset.json").write_text(json.dumps(manifest))


def test_a_good_dataset_passes(tmp_path):
    _manifest(tmp_path, [_case(tmp_path, f"c{i}") for i in range(3)])
    report = validate_dataset(tmp_path, progress=False)
    assert report["ok"] and report["problems"] == [] and report["num_training"] == 3
    assert report["cases"][0]["shape"] == [12, 10, 6] and report["cases"][0]["spacing"] == list(SPACING)


def test_every_problem_is_listed_with_its_file(tmp_path, ingest_tree_hash):
    size = (12, 10, 6)
    cases = [
        _case(tmp_path, "good"),
        _case(tmp_path, "spacing", spacing=(1.5, 1.5, 3.5)),
        _case(tmp_path, "undeclared", label=np.full(size, 7, np.uint8)),
        _case(tmp_path, "fraction", label=np.full(size, 0.5, np.float32)),
        _case(tmp_path, "nan", image=np.full(size, np.nan, np.float32)),
        _case(tmp_path, "channels", channels=2),
        _case(tmp_path, "unreadable"),
        {"image": "imagesTr/missing.nii.gz", "label": "labelsTr/missing.nii.gz", "patient": "m"},
    ]
    (tmp_path / "imagesTr" / "unreadable.nii.gz").write_bytes(b"garbage")
    _manifest(tmp_path, cases)
    before = ingest_tree_hash(tmp_path)
    report = validate_dataset(tmp_path, tolerance=1e-4, progress=False)
    assert ingest_tree_hash(tmp_path) == before
    assert not report["ok"]
    found = {(p["file"], p["problem"].split(" (")[0].split(":")[0]) for p in report["problems"]}
    problems = {p["file"]: p["problem"] for p in report["problems"]}
    assert "labelsTr/good.nii.gz" not in problems and "imagesTr/good.nii.gz" not in problems
    assert "spacing" in problems["labelsTr/spacing.nii.gz"]
    assert (
        "not declared" in problems["labelsTr/undeclared.nii.gz"]
        and "7 (720 voxels)" in problems["labelsTr/undeclared.nii.gz"]
    )
    assert "non-integer label values: 0.5" in problems["labelsTr/fraction.nii.gz"]
    assert "720 voxels are NaN or infinite" in problems["imagesTr/nan.nii.gz"]
    assert "2 channel(s) but the dataset declares 1" in problems["imagesTr/channels.nii.gz"]
    assert "cannot be read" in problems["imagesTr/unreadable.nii.gz"]
    assert "no such file" in problems["imagesTr/missing.nii.gz"]
    assert len(found) == report["num_problems"] >= 7


def test_multichannel_images_must_agree(tmp_path):
    _manifest(
        tmp_path,
        [_case(tmp_path, "a", channels=4), _case(tmp_path, "b", channels=4)],
        modality={"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"},
    )
    assert validate_dataset(tmp_path, progress=False)["ok"]
    _manifest(
        tmp_path,
        [_case(tmp_path, "a", channels=4), _case(tmp_path, "c", channels=3)],
        modality={"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"},
    )
    report = validate_dataset(tmp_path, progress=False)
    assert [p["file"] for p in report["problems"]] == ["imagesTr/c.nii.gz"]


def test_tolerance_decides_geometry_mismatch(tmp_path):
    _manifest(tmp_path, [_case(tmp_path, "a", spacing=(1.5, 1.5, 3.0 + 5e-4))])
    assert not validate_dataset(tmp_path, tolerance=1e-4, progress=False)["ok"]
    assert validate_dataset(tmp_path, tolerance=1e-3, progress=False)["ok"]


def test_cli_exit_code_and_json_report(tmp_path, capsys):
    data = tmp_path / "data"
    _manifest(data, [_case(data, "a"), _case(data, "b", label=np.full((12, 10, 6), 9, np.uint8))])
    code = main(["validate", str(data), "--report", str(tmp_path / "report.json"), "--workers", "1"])
    assert code == 1
    err = capsys.readouterr().err
    assert "labelsTr/b.nii.gz: label values not declared" in err
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["ok"] is False and report["problems"][0]["file"] == "labelsTr/b.nii.gz"
    _manifest(data, [_case(data, "a")])
    assert main(["validate", str(data)]) == 0


def test_missing_dataset_json_is_an_error(tmp_path, capsys):
    assert main(["validate", str(tmp_path)]) == 1
    assert "dataset.json: no such file" in capsys.readouterr().err
