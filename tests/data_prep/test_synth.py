"""Synthetic dataset folders: files, geometry, 4D brain layout, patients, split and plan, refusal."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from data_prep.errors import DataPrepError
from data_prep.synth import case_patients, synth_case, write_synth_dataset

SIZE = (32, 32, 24)


@pytest.fixture(scope="module")
def abdominal(tmp_path_factory):
    return write_synth_dataset(
        "abdominal", tmp_path_factory.mktemp("s") / "abd", n_cases=5, seed=1, size=SIZE
    )


def test_dataset_folder_holds_cases_manifest_datalist_and_plan(abdominal):
    manifest = json.loads((abdominal / "dataset.json").read_text(encoding="utf-8"))
    names = [f"synth_abdominal_{i:03d}" for i in range(5)]
    assert [c["image"] for c in manifest["training"]] == [f"imagesTr/{n}.nii.gz" for n in names]
    assert [c["label"] for c in manifest["training"]] == [f"labelsTr/{n}.nii.gz" for n in names]
    assert manifest["numTraining"] == 5 and manifest["labels"]["4"] == "spleen"
    fingerprint = json.loads((abdominal / "fingerprint.json").read_text(encoding="utf-8"))
    plan = json.loads((abdominal / "plan.json").read_text(encoding="utf-8"))
    assert fingerprint["num_cases"] == 5 and plan["num_classes"] == 5
    datalist = json.loads((abdominal / "datalist.json").read_text(encoding="utf-8"))
    assert sum(len(datalist[k]) for k in ("training", "validation", "test")) == 5
    assert not [p for p in abdominal.parent.iterdir() if p.name.endswith(".partial")]


def test_abdominal_patients_with_two_series_stay_in_one_split(abdominal):
    manifest = json.loads((abdominal / "dataset.json").read_text(encoding="utf-8"))
    patients = [c["patient"] for c in manifest["training"]]
    assert patients == case_patients("abdominal", 5) == ["p000", "p000", "p001", "p002", "p002"]
    datalist = json.loads((abdominal / "datalist.json").read_text(encoding="utf-8"))
    where = {e["patient"]: k for k in ("training", "validation", "test") for e in datalist[k]}
    for key in ("training", "validation", "test"):
        for entry in datalist[key]:
            assert where[entry["patient"]] == key


def test_written_geometry_and_voxels_match_the_synthesised_case(abdominal):
    # case 1 is the second series of patient p000: its anatomy seed is the patient's
    label = sitk.ReadImage(str(abdominal / "labelsTr" / "synth_abdominal_001.nii.gz"))
    image = sitk.ReadImage(str(abdominal / "imagesTr" / "synth_abdominal_001.nii.gz"))
    assert label.GetPixelID() == sitk.sitkUInt8 and image.GetPixelID() == sitk.sitkFloat32
    assert image.GetSize() == label.GetSize() == SIZE
    spacing = label.GetSpacing()
    assert 1.3 <= spacing[0] == spacing[1] <= 1.7 and spacing[2] in (2.5, 3.0, 3.5)
    assert image.GetSpacing() == spacing and image.GetOrigin() == label.GetOrigin() != (0.0, 0.0, 0.0)
    assert label.GetDirection() == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    first = sitk.GetArrayFromImage(sitk.ReadImage(str(abdominal / "labelsTr" / "synth_abdominal_000.nii.gz")))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(label), first)  # same patient, same anatomy
    assert set(np.unique(first)) == {0, 1, 2, 3, 4}


def test_same_seed_writes_the_same_voxels(abdominal, tmp_path):
    again = write_synth_dataset("abdominal", tmp_path / "again", n_cases=5, seed=1, size=SIZE)
    for sub in ("imagesTr", "labelsTr"):
        a = nib.load(abdominal / sub / "synth_abdominal_003.nii.gz").get_fdata()
        b = nib.load(again / sub / "synth_abdominal_003.nii.gz").get_fdata()
        np.testing.assert_array_equal(a, b)
    assert (again / "datalist.json").read_text(encoding="utf-8") == (abdominal / "datalist.json").read_text(
        encoding="utf-8"
    )


def test_brain_tumour_images_are_4d_as_msd_ships_them(tmp_path):
    from monai.transforms import EnsureChannelFirst, LoadImage

    root = write_synth_dataset("brain_tumour", tmp_path / "brain", n_cases=2, size=SIZE)
    path = root / "imagesTr" / "synth_brain_tumour_000.nii.gz"
    assert nib.load(path).shape == (*SIZE, 4)
    assert nib.load(root / "labelsTr" / "synth_brain_tumour_000.nii.gz").shape == SIZE
    loaded = EnsureChannelFirst()(LoadImage(image_only=True)(str(path)))
    assert tuple(loaded.shape) == (4, *SIZE)
    expected = synth_case(
        "brain_tumour", np.random.default_rng(0), SIZE
    )  # not the same seed: just the layout
    assert loaded.pixdim.tolist() == list(expected.spacing)
    voxels = nib.load(path).get_fdata()
    np.testing.assert_allclose(loaded[2].numpy(), voxels[..., 2], rtol=1e-6)
    plan = json.loads((root / "plan.json").read_text(encoding="utf-8"))
    assert plan["num_channels"] == 4 and [i["modality"] for i in plan["intensity"]] == [
        "FLAIR",
        "T1w",
        "t1gd",
        "T2w",
    ]


def test_pancreas_dataset_is_ct_and_plans_ct_normalisation(tmp_path):
    root = write_synth_dataset("pancreas", tmp_path / "panc", n_cases=3, size=SIZE, workers=2)
    manifest = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    assert manifest["modality"] == {"0": "CT"} and len({c["patient"] for c in manifest["training"]}) == 3
    plan = json.loads((root / "plan.json").read_text(encoding="utf-8"))
    assert plan["intensity"][0]["normalization"] == "ct"
    assert 50 < plan["intensity"][0]["mean"] < 130  # pancreas HU


def test_existing_output_is_refused_and_left_unchanged(abdominal):
    before = {p: p.stat().st_mtime_ns for p in abdominal.rglob("*")}
    with pytest.raises(DataPrepError, match="already holds results"):
        write_synth_dataset("abdominal", abdominal, n_cases=2, size=SIZE)
    assert {p: p.stat().st_mtime_ns for p in abdominal.rglob("*")} == before


def test_overwrite_replaces_the_folder(tmp_path):
    root = write_synth_dataset("pancreas", tmp_path / "p", n_cases=2, size=SIZE)
    (root / "stale.txt").write_text("old")
    write_synth_dataset("pancreas", root, n_cases=3, size=SIZE, overwrite=True)
    assert not (root / "stale.txt").exists()
    assert len(list((root / "imagesTr").iterdir())) == 3


@pytest.mark.parametrize("shape", [(5, 6, 7), (5, 6, 7, 3)])
def test_io_array_helpers_round_trip_voxels_and_geometry(tmp_path, shape):
    from data_prep.io import array_from_image, image_from_array, read_image, spatial_geometry, write_image

    array = np.random.default_rng(0).random(shape, dtype=np.float32)
    direction = (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0)
    path = write_image(
        image_from_array(array, (1.5, 1.5, 3.0), (1.0, -2.0, 3.0), direction), tmp_path / "a.nii.gz"
    )
    image = read_image(path)
    np.testing.assert_array_equal(array_from_image(image), array)
    spacing, origin, read_direction = spatial_geometry(image)
    assert spacing == (1.5, 1.5, 3.0) and origin == (1.0, -2.0, 3.0)
    np.testing.assert_allclose(read_direction, direction, atol=1e-6)
    assert nib.load(path).shape == shape


def test_realistic_thick_slice_dataset_writes_its_spacing_into_the_headers(tmp_path):
    root = write_synth_dataset(
        "abdominal",
        tmp_path / "thick",
        n_cases=3,
        size=(32, 32, 16),
        difficulty="realistic",
        spacing=(0.8, 0.8, 4.0),
    )
    for sub in ("imagesTr", "labelsTr"):
        for path in sorted((root / sub).iterdir()):
            header = nib.load(path).header
            np.testing.assert_allclose(header.get_zooms()[:3], (0.8, 0.8, 4.0), rtol=1e-6)
    manifest = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    assert (
        "difficulty realistic" in manifest["reference"] and "spacing [0.8, 0.8, 4.0]" in manifest["reference"]
    )
    label = nib.load(root / "labelsTr" / "synth_abdominal_002.nii.gz").get_fdata()
    assert set(np.unique(label)) == {0, 1, 2, 3, 4}


def test_realistic_difficulty_is_refused_for_other_tasks(tmp_path):
    with pytest.raises(ValueError, match="abdominal only"):
        write_synth_dataset("pancreas", tmp_path / "p", n_cases=2, size=SIZE, difficulty="realistic")
    assert not (tmp_path / "p").exists()
