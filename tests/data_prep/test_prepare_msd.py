"""prepare msd: Decathlon task folders -> dataset, geometry copied exactly, 4D kept for brain tumour."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from data_prep.errors import DataPrepError
from data_prep.io import image_from_array
from data_prep.recipes import prepare_msd
from data_prep.synth.raw_layouts import write_msd_raw

SIZE = (32, 32, 16)


def test_pancreas_task_is_copied_with_exact_geometry(tmp_path, ingest_tree_hash):
    task = write_msd_raw(tmp_path / "raw", "Task07_Pancreas", n_cases=3, size=SIZE)
    assert any(p.name.startswith("._") for p in (task / "imagesTr").iterdir())
    before = ingest_tree_hash(task)
    out = prepare_msd(task, tmp_path / "out", workers=1)
    assert ingest_tree_hash(task) == before
    manifest = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    assert manifest["labels"] == {"0": "background", "1": "pancreas", "2": "tumour"}
    assert manifest["modality"] == {"0": "CT"} and manifest["numTraining"] == 3 and manifest["numTest"] == 1
    raw_manifest = json.loads((task / "dataset.json").read_text(encoding="utf-8"))
    for entry, raw_entry in zip(manifest["training"], raw_manifest["training"], strict=True):
        source_id = raw_entry["image"].split("_")[-1].removesuffix(".nii.gz")
        assert entry["image"] == f"imagesTr/msd_pancreas_{source_id}.nii.gz"
        assert entry["patient"] == f"pancreas_{source_id}"
        for key in ("image", "label"):
            a, b = sitk.ReadImage(str(out / entry[key])), sitk.ReadImage(str(task / raw_entry[key]))
            assert (a.GetSpacing(), a.GetOrigin(), a.GetDirection()) == (
                b.GetSpacing(),
                b.GetOrigin(),
                b.GetDirection(),
            )
            np.testing.assert_array_equal(sitk.GetArrayFromImage(a), sitk.GetArrayFromImage(b))
    assert manifest["test"][0].startswith("imagesTs/msd_pancreas_")
    assert not any(p.name.startswith("._") for p in (out / "imagesTr").iterdir())
    assert (out / "datalist.json").is_file() and (out / "plan.json").is_file()


def test_brain_tumour_stays_4d(tmp_path):
    task = write_msd_raw(tmp_path / "raw", "Task01_BrainTumour", n_cases=2, n_test=0, size=SIZE)
    out = prepare_msd(
        tmp_path / "raw", tmp_path / "out", workers=1
    )  # the parent of the task folder works too
    manifest = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    assert manifest["labels"] == {
        "0": "background",
        "1": "edema",
        "2": "non_enhancing_tumour",
        "3": "enhancing_tumour",
    }
    assert manifest["modality"] == {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"}
    image = sitk.ReadImage(str(out / manifest["training"][0]["image"]))
    assert image.GetDimension() == 4 and image.GetSize() == (*SIZE, 4)
    assert manifest["training"][0]["image"].startswith("imagesTr/msd_brain_tumour_")
    assert json.loads((out / "plan.json").read_text(encoding="utf-8"))["num_channels"] == 4
    assert task.name == "Task01_BrainTumour"


def test_4d_image_where_3d_is_expected_is_refused(tmp_path, ingest_no_leftovers):
    task = write_msd_raw(tmp_path / "raw", "Task07_Pancreas", n_cases=2, size=SIZE)
    victim = task / "imagesTr" / sorted(p.name for p in (task / "imagesTr").glob("pancreas_*"))[1]
    sitk.WriteImage(image_from_array(np.zeros((*SIZE, 2), np.int16), (1, 1, 1)), str(victim))
    with pytest.raises(
        DataPrepError, match=rf"{victim.name}: 4D image of size .* where a 3D image is expected"
    ):
        prepare_msd(task, tmp_path / "out", workers=1)
    assert not (tmp_path / "out").exists()
    ingest_no_leftovers(tmp_path)


def test_label_value_out_of_range_is_refused(tmp_path):
    task = write_msd_raw(tmp_path / "raw", "Task07_Pancreas", n_cases=2, size=SIZE)
    victim = sorted((task / "labelsTr").glob("pancreas_*"))[0]
    label = sitk.ReadImage(str(victim))
    array = sitk.GetArrayFromImage(label)
    array[0, 0, :5] = 5
    bad = sitk.GetImageFromArray(array)
    bad.CopyInformation(label)
    sitk.WriteImage(bad, str(victim))
    with pytest.raises(
        DataPrepError,
        match=rf"{victim.name}: label values outside the declared classes \[0, 1, 2\]: 5 \(5 voxels\)",
    ):
        prepare_msd(task, tmp_path / "out", workers=1)
    assert not (tmp_path / "out").exists()


def test_unreadable_or_missing_volume_is_named(tmp_path):
    task = write_msd_raw(tmp_path / "raw", "Task07_Pancreas", n_cases=2, size=SIZE)
    victim = sorted((task / "imagesTr").glob("pancreas_*"))[0]
    victim.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataPrepError, match=rf"{victim.name}: cannot be read as an image"):
        prepare_msd(task, tmp_path / "out", workers=1)
    victim.unlink()
    with pytest.raises(DataPrepError, match=rf"{victim.name}: listed in dataset.json but missing"):
        prepare_msd(task, tmp_path / "out", workers=1)


def test_label_on_another_grid_is_refused(tmp_path):
    task = write_msd_raw(tmp_path / "raw", "Task07_Pancreas", n_cases=2, size=SIZE)
    victim = sorted((task / "labelsTr").glob("pancreas_*"))[0]
    label = sitk.ReadImage(str(victim))
    label.SetSpacing((label.GetSpacing()[0], label.GetSpacing()[1], label.GetSpacing()[2] * 2))
    sitk.WriteImage(label, str(victim))
    with pytest.raises(DataPrepError, match=rf"{victim.name}: grid differs from .*spacing"):
        prepare_msd(task, tmp_path / "out", workers=1)
