"""The dataset folder's contract: one loader and one validator per file (dataset.json, datalist.json,
fingerprint.json, plan.json), the same rule in every step, refusals naming the file and the field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from monai.data import load_decathlon_datalist

from data_prep.analyze import analyze_dataset
from data_prep.cli import main
from data_prep.contract import (
    DATALIST_VERSION,
    FINGERPRINT_VERSION,
    PLAN_VERSION,
    Case,
    Datalist,
    load_datalist,
    load_fingerprint,
    load_manifest,
    load_plan,
)
from data_prep.errors import DataPrepError
from data_prep.planner import make_plan
from data_prep.split import split_dataset
from data_prep.synth import write_synth_dataset
from data_prep.validate import validate_dataset

LABELS = {"0": "background", "1": "organ"}


def _manifest(root: Path, **fields) -> Path:
    """A dataset.json (no volumes: the manifest is refused before any is read) with ``fields`` replaced."""
    manifest = {
        "name": "toy",
        "labels": LABELS,
        "modality": {"0": "MR"},
        "numTraining": 1,
        "training": [{"image": "imagesTr/a.nii.gz", "label": "labelsTr/a.nii.gz", "patient": "p1"}],
        "test": [],
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset.json").write_text(json.dumps(manifest | fields))
    return root


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory) -> Path:
    """A whole dataset folder (dataset.json, datalist.json, fingerprint.json, plan.json) of 4 small cases."""
    out = tmp_path_factory.mktemp("contract") / "abd"
    return write_synth_dataset("abdominal", out, n_cases=4, seed=0, size=(32, 32, 16))


@pytest.fixture
def dataset(synth_root, tmp_path) -> Path:
    """A copy of the synthetic dataset folder that a test may change."""
    return Path(shutil.copytree(synth_root, tmp_path / "abd"))


@pytest.mark.parametrize(
    "labels",
    [
        {"0": "background", "2": "organ"},  # validate once accepted gaps; analyze refused them
        {"0": "background", "01": "organ"},  # int("01") == 1: validate and analyze once accepted it
        {"0": "background", "one": "organ"},
        {"1": "organ", "2": "tumour"},  # no background
        {"0": "background"},  # no class to segment
        {"0": "background", "1": ""},
    ],
)
def test_a_bad_label_key_is_refused_the_same_by_validate_analyze_and_split(tmp_path, capsys, labels):
    root = _manifest(tmp_path, labels=labels)
    messages = set()
    for step in (validate_dataset, analyze_dataset, split_dataset):
        with pytest.raises(DataPrepError, match=r"dataset\.json: 'labels' keys must be 0\.\.") as err:
            step(root)
        messages.add(str(err.value))
    assert len(messages) == 1
    assert main(["validate", str(root)]) == 1 and main(["analyze", str(root)]) == 1
    errors = capsys.readouterr().err.splitlines()
    assert errors == [f"error: {messages.pop()}"] * 2
    assert sorted(p.name for p in root.iterdir()) == ["dataset.json"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"modality": {"1": "MR"}}, r"'modality' must map channels 0\.\.0 to names"),
        ({"modality": None}, r"'modality' must map channels"),
        ({"training": []}, r"field 'training' must list one or more labelled cases"),
        ({"training": [{"image": "imagesTr/a.nii.gz"}]}, r"field 'training\[0\]' needs 'image' and 'label'"),
        (
            {"training": [{"image": "/data/a.nii.gz", "label": "labelsTr/a.nii.gz"}]},
            r"field 'training\[0\]' image /data/a\.nii\.gz must be relative to the dataset folder",
        ),
        (
            {"test": ["imagesTs/b.nii.gz", "./imagesTs/b.nii.gz"]},
            r"field 'test\[1\]' image imagesTs/b\.nii\.gz is listed already by test\[0\] image",
        ),
        ({"numTraining": "1"}, r"field 'numTraining' must be an integer >= 0"),
        ({"name": 3}, r"field 'name' must be a string"),
    ],
)
def test_a_malformed_manifest_is_refused_naming_the_file_and_the_field(tmp_path, fields, message):
    with pytest.raises(DataPrepError, match=rf"dataset\.json: {message}"):
        load_manifest(_manifest(tmp_path, **fields))


def test_an_msd_manifest_reads_with_paths_patients_and_labels_in_value_order(tmp_path):
    labels = {str(i): f"class_{i}" for i in (10, 2, 0, 1, 3, 4, 5, 6, 7, 8, 9)}
    root = _manifest(
        tmp_path / "Task09_Toy",
        labels=labels,
        training=[{"image": "./imagesTr/toy_001.nii.gz", "label": "./labelsTr/toy_001.nii.gz"}],
        test=["./imagesTs/toy_002.nii.gz"],
    )
    manifest = load_manifest(root / "dataset.json")
    assert manifest.training == [Case("imagesTr/toy_001.nii.gz", "labelsTr/toy_001.nii.gz", "toy_001")]
    assert manifest.test == [Case("imagesTs/toy_002.nii.gz", None, "toy_002")]
    assert list(manifest.labels) == [str(i) for i in range(11)] and manifest.num_classes == 11
    assert manifest.path("imagesTr/toy_001.nii.gz") == root / "imagesTr" / "toy_001.nii.gz"
    assert manifest.missing_files()[0] == ("training[0]", "image", "imagesTr/toy_001.nii.gz")
    with pytest.raises(
        DataPrepError, match=r"dataset\.json: training\[0\] image imagesTr/toy_001\.nii\.gz not found"
    ):
        load_manifest(root, check_files=True)


def test_every_file_the_steps_write_is_what_its_loader_reads(synth_root):
    datalist = load_datalist(synth_root, check_files=True)
    fingerprint = load_fingerprint(synth_root)
    plan = load_plan(synth_root)
    manifest = load_manifest(synth_root, check_files=True)
    for contract, name in (
        (datalist, "datalist.json"),
        (fingerprint, "fingerprint.json"),
        (plan, "plan.json"),
    ):
        assert contract.to_dict() == json.loads((synth_root / name).read_text(encoding="utf-8"))
        assert (contract.labels, contract.modality) == (manifest.labels, manifest.modality)
    assert (datalist.version, fingerprint.version, plan.version) == (
        DATALIST_VERSION,
        FINGERPRINT_VERSION,
        PLAN_VERSION,
    )
    assert make_plan(fingerprint) == make_plan(synth_root / "fingerprint.json") == plan
    for split in ("training", "validation", "test"):
        monai_items = load_decathlon_datalist(
            str(synth_root / "datalist.json"), data_list_key=split, base_dir=str(synth_root)
        )
        assert datalist.items(split) == monai_items
    assert validate_dataset(synth_root, progress=False)["ok"]


def test_a_datalist_naming_a_missing_file_is_refused_naming_it(dataset):
    victim = load_datalist(dataset).validation[0].image
    (dataset / victim).unlink()
    with pytest.raises(DataPrepError, match=rf"datalist\.json: validation\[0\] image {victim} not found"):
        load_datalist(dataset, check_files=True)
    problems = validate_dataset(dataset, progress=False)["problems"]
    assert {
        "file": victim,
        "problem": "no such file (listed by datalist.json as validation[0] image)",
    } in problems


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fold": 1}, r"field 'fold' must be 0\.\.num_folds-1, got 1 of 1 folds"),
        ({"proportions": [0.5, 0.5, 0.5]}, r"field 'proportions' must sum to 1 with a training share > 0"),
        ({"folds": [["nobody"]]}, r"field 'folds' entry 0 \(the fold\) must list the validation patients"),
        ({"training": []}, r"field 'training' must list cases \(one or more\)"),
        ({"labels": {"0": "background", "2": "liver"}}, r"'labels' keys must be 0\.\.1"),
    ],
)
def test_a_bad_datalist_is_refused_naming_the_file_and_the_field(dataset, change, message):
    data = json.loads((dataset / "datalist.json").read_text(encoding="utf-8")) | change
    with pytest.raises(DataPrepError, match=rf"datalist\.json: {message}"):
        Datalist.from_dict(data, dataset / "datalist.json")


def test_a_datalist_with_a_patient_in_two_splits_is_refused(dataset):
    data = load_datalist(dataset).to_dict()
    data["test"].append(
        dict(data["training"][0], image="imagesTs/extra.nii.gz", label="labelsTs/extra.nii.gz")
    )
    patient = data["training"][0]["patient"]
    with pytest.raises(
        DataPrepError, match=rf"field 'test' holds patient '{patient}', who is in 'training' too"
    ):
        Datalist.from_dict(data, dataset / "datalist.json")


@pytest.mark.parametrize(
    ("name", "version", "load", "command"),
    [
        ("datalist.json", None, load_datalist, "split"),
        ("datalist.json", DATALIST_VERSION + 1, load_datalist, "split"),
        ("fingerprint.json", 0, load_fingerprint, "analyze"),
        ("plan.json", 1, load_plan, "analyze"),
    ],
)
def test_a_file_of_another_version_is_refused_with_the_command_to_run_again(
    dataset, name, version, load, command
):
    data = json.loads((dataset / name).read_text(encoding="utf-8"))
    data.pop("version")
    if version is not None:
        data["version"] = version
    (dataset / name).write_text(json.dumps(data))
    kind = name.removesuffix(".json")
    advice = rf"{kind} version {version} is not the supported version \d; run `python -m data_prep {command} DATASET_DIR` again"
    with pytest.raises(DataPrepError, match=rf"{name}: {advice}"):
        load(dataset)
    problems = validate_dataset(dataset, progress=False)["problems"]
    assert [p["file"] for p in problems] == [name]
    assert f"`python -m data_prep {command}" in problems[0]["problem"]


def test_a_bad_fingerprint_field_is_named(dataset):
    data = json.loads((dataset / "fingerprint.json").read_text(encoding="utf-8"))
    data["class_voxels"] = data["class_voxels"][:-1]
    with pytest.raises(
        DataPrepError, match=r"fingerprint\.json: field 'class_voxels' must list 5 voxel counts"
    ):
        make_plan(data)
    del data["case_shapes"]
    (dataset / "fingerprint.json").write_text(json.dumps(data))
    with pytest.raises(
        DataPrepError, match=r"fingerprint\.json: missing field 'case_shapes' \(fingerprint version 1\)"
    ):
        load_fingerprint(dataset / "fingerprint.json")


def test_validate_reports_files_made_for_other_labels_than_the_manifest(dataset):
    manifest = json.loads((dataset / "dataset.json").read_text(encoding="utf-8"))
    manifest["labels"]["4"] = "pancreas"
    (dataset / "dataset.json").write_text(json.dumps(manifest))
    problems = validate_dataset(dataset, progress=False)["problems"]
    assert [p["file"] for p in problems] == ["datalist.json", "fingerprint.json", "plan.json"]
    assert all(
        "field 'labels'" in p["problem"] and "differs from dataset.json's" in p["problem"] for p in problems
    )
    assert "`python -m data_prep split` again" in problems[0]["problem"]
