"""prepare chaos: DICOM series + PNG masks -> NIfTI dataset with exact geometry and labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from data_prep.errors import DataPrepError
from data_prep.recipes import prepare_chaos
from data_prep.synth.raw_layouts import write_chaos_patient, write_chaos_raw

SIZE = (32, 32, 16)


@pytest.fixture
def ingest_chaos(tmp_path):
    """A CHAOS tree of two patients; patient 1 has file numbers against the slice position."""
    rng = np.random.default_rng(0)
    raw = tmp_path / "raw"
    truth = {
        "1": write_chaos_patient(raw / "MR", "1", rng, SIZE, reverse_file_order=True, t1dual=False),
        "2": write_chaos_patient(raw / "MR", "2", rng, SIZE, reverse_file_order=False, t1dual=False),
    }
    return raw, truth


def test_geometry_and_labels_are_reproduced_exactly(
    tmp_path, ingest_chaos, ingest_same_grid, ingest_tree_hash
):
    raw, truth = ingest_chaos
    before = ingest_tree_hash(raw)
    out = prepare_chaos(raw, tmp_path / "out", workers=1)
    assert ingest_tree_hash(raw) == before
    for patient, t in truth.items():
        image = sitk.ReadImage(str(out / "imagesTr" / f"chaos_{patient}_t2spir.nii.gz"))
        label = sitk.ReadImage(str(out / "labelsTr" / f"chaos_{patient}_t2spir.nii.gz"))
        for volume in (image, label):
            ingest_same_grid(volume, t["spacing"], t["origin"], t["direction"])
        assert label.GetPixelID() == sitk.sitkUInt8
        np.testing.assert_array_equal(sitk.GetArrayFromImage(label).T, t["label"])
        assert sorted(np.unique(t["label"]).tolist()) == [0, 1, 2, 3, 4]
    assert not np.allclose(truth["1"]["direction"], np.eye(3).flatten())
    assert truth["1"]["spacing"][0] != truth["1"]["spacing"][1]


def test_masks_follow_position_order_not_file_name_order(tmp_path, ingest_chaos):
    raw, truth = ingest_chaos
    ground = sorted((raw / "MR" / "1" / "T2SPIR" / "Ground").glob("*.png"))  # name order = reverse position
    by_name = np.stack([np.asarray(Image.open(p)).T for p in ground], axis=-1)
    out = prepare_chaos(raw, tmp_path / "out", workers=1)
    label = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "labelsTr" / "chaos_1_t2spir.nii.gz"))).T
    np.testing.assert_array_equal(label, truth["1"]["label"])
    assert not np.array_equal((by_name // 63).astype(np.uint8), label)  # name order would be wrong


def test_manifest_datalist_and_plan(tmp_path):
    raw = write_chaos_raw(tmp_path / "raw", n_patients=2, seed=2, size=SIZE)  # with T1DUAL
    out = prepare_chaos(raw, tmp_path / "out", sequences=("t2spir", "t1in", "t1out"), workers=1, seed=3)
    manifest = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    assert manifest["labels"] == {
        "0": "background",
        "1": "liver",
        "2": "right_kidney",
        "3": "left_kidney",
        "4": "spleen",
    }
    assert manifest["numTraining"] == 6
    assert {(c["patient"], c["image"]) for c in manifest["training"]} >= {
        ("1", "imagesTr/chaos_1_t2spir.nii.gz"),
        ("1", "imagesTr/chaos_1_t1in.nii.gz"),
        ("2", "imagesTr/chaos_2_t1out.nii.gz"),
    }
    datalist = json.loads((out / "datalist.json").read_text(encoding="utf-8"))
    assert datalist["seed"] == 3
    for key in ("training", "validation", "test"):
        for entry in datalist[key]:
            assert (out / entry["image"]).is_file()
    assert json.loads((out / "plan.json").read_text(encoding="utf-8"))["num_classes"] == 5
    t1in = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "labelsTr" / "chaos_1_t1in.nii.gz")))
    t1out = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "labelsTr" / "chaos_1_t1out.nii.gz")))
    np.testing.assert_array_equal(t1in, t1out)  # one Ground for both phases


def test_mask_slice_count_must_match_the_series(tmp_path, ingest_chaos, ingest_no_leftovers):
    raw, _ = ingest_chaos
    ground = raw / "MR" / "2" / "T2SPIR" / "Ground"
    sorted(ground.glob("*.png"))[4].unlink()
    with pytest.raises(DataPrepError) as err:
        prepare_chaos(raw, tmp_path / "out", workers=1)
    assert str(err.value).startswith(f"{ground}: 15 mask slices but the DICOM series")
    assert "has 16 slices" in str(err.value)
    assert not (tmp_path / "out").exists()
    ingest_no_leftovers(tmp_path)


def test_mask_size_must_match_the_dicom_slice(tmp_path, ingest_chaos):
    raw, _ = ingest_chaos
    victim = sorted((raw / "MR" / "2" / "T2SPIR" / "Ground").glob("*.png"))[0]
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(victim)
    with pytest.raises(
        DataPrepError,
        match=r"Ground/IMG-0002-\d+\.png: 64x64 slice but the slices of .*T2SPIR/DICOM_anon are 32x32",
    ):
        prepare_chaos(raw, tmp_path / "out", workers=1)
    assert not (tmp_path / "out").exists()


def test_unexpected_grey_values_are_listed_unless_nearest(tmp_path, ingest_chaos):
    raw, _ = ingest_chaos
    victim = sorted((raw / "MR" / "1" / "T2SPIR" / "Ground").glob("*.png"))[3]
    mask = np.asarray(Image.open(victim)).copy()
    mask[0, :3] = 90
    Image.fromarray(mask).save(victim)
    with pytest.raises(DataPrepError, match=r"T2SPIR/Ground: values outside the label map: 90 \(3 voxels\)"):
        prepare_chaos(raw, tmp_path / "out", workers=1)
    assert not (tmp_path / "out").exists()
    out = prepare_chaos(raw, tmp_path / "out", workers=1, nearest=True)
    assert (out / "labelsTr" / "chaos_1_t2spir.nii.gz").is_file()


def test_truncated_dicom_is_named_and_nothing_is_written(tmp_path, ingest_chaos, ingest_no_leftovers):
    raw, _ = ingest_chaos
    victim = sorted((raw / "MR" / "2" / "T2SPIR" / "DICOM_anon").glob("*.dcm"))[7]
    victim.write_bytes(victim.read_bytes()[:300])
    with pytest.raises(DataPrepError, match=rf"{victim.name}: not a DICOM file, or truncated"):
        prepare_chaos(raw, tmp_path / "out", workers=1)
    assert not (tmp_path / "out").exists()
    ingest_no_leftovers(tmp_path)


def test_output_folder_with_results_is_refused_unless_overwrite(tmp_path, ingest_chaos):
    raw, _ = ingest_chaos
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("keep me")
    with pytest.raises(DataPrepError, match="out: output folder already holds results"):
        prepare_chaos(raw, tmp_path / "out", workers=1)
    assert (tmp_path / "out" / "old.txt").read_text(encoding="utf-8") == "keep me"
    prepare_chaos(raw, tmp_path / "out", workers=1, overwrite=True)
    assert not (tmp_path / "out" / "old.txt").exists() and (tmp_path / "out" / "plan.json").is_file()


def test_parallel_workers_give_the_same_dataset(tmp_path):
    raw = write_chaos_raw(tmp_path / "raw", n_patients=2, seed=1, size=SIZE)
    one = prepare_chaos(raw, tmp_path / "one", workers=1)
    two = prepare_chaos(raw, tmp_path / "two", workers=2)
    for name in ("chaos_1_t2spir", "chaos_2_t2spir"):
        for folder in ("imagesTr", "labelsTr"):
            a = sitk.ReadImage(str(one / folder / f"{name}.nii.gz"))
            b = sitk.ReadImage(str(two / folder / f"{name}.nii.gz"))
            np.testing.assert_array_equal(sitk.GetArrayFromImage(a), sitk.GetArrayFromImage(b))
    assert json.loads((one / "dataset.json").read_text(encoding="utf-8")) == json.loads(
        (two / "dataset.json").read_text(encoding="utf-8")
    )


def test_masks_not_named_after_dicom_files_pair_by_name_order(tmp_path, ingest_chaos):
    raw, truth = ingest_chaos
    ground = raw / "MR" / "1" / "T2SPIR" / "Ground"
    for path in ground.glob("*.png"):  # IMG-0002-00007.png -> gt_7.png: same number, another name
        path.rename(ground / f"gt_{int(path.stem.split('-')[-1])}.png")
    out = prepare_chaos(raw, tmp_path / "out", workers=1)
    label = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "labelsTr" / "chaos_1_t2spir.nii.gz"))).T
    np.testing.assert_array_equal(label, truth["1"]["label"])


def test_masks_partly_named_after_dicom_files_are_refused(tmp_path, ingest_chaos):
    raw, _ = ingest_chaos
    victim = sorted((raw / "MR" / "2" / "T2SPIR" / "Ground").glob("*.png"))[2]
    victim.rename(victim.with_name("stray.png"))
    with pytest.raises(DataPrepError, match=r"Ground/stray\.png: no DICOM slice of the same name"):
        prepare_chaos(raw, tmp_path / "out", workers=1)
