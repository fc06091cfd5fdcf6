"""DICOM series reading: geometry from the tags, position order, and refusal of broken series."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from data_prep.dicom import read_dicom_series, read_single_series_under
from data_prep.dicom_files import find_series_folders, list_series
from data_prep.errors import DataPrepError
from data_prep.synth.dicom_series import make_uid, write_dicom_series


def test_series_geometry_and_voxels_come_from_the_tags(tmp_path, ingest_write_series, ingest_same_grid):
    truth = ingest_write_series(tmp_path / "s")
    series = read_dicom_series(tmp_path / "s")
    ingest_same_grid(series.image, truth.spacing, truth.origin, truth.direction, tol=1e-6)
    assert not np.allclose(truth.direction, np.eye(3).flatten())  # really oblique
    np.testing.assert_array_equal(sitk.GetArrayFromImage(series.image).T, truth.volume)
    assert series.series_uid == truth.uid
    assert series.tags["PatientID"] == "p01" and series.tags["Modality"] == "MR"


def test_slices_are_sorted_by_position_not_by_file_name(tmp_path, ingest_write_series):
    truth = ingest_write_series(tmp_path / "s", reverse_names=True)
    series = read_dicom_series(tmp_path / "s")
    assert [p.name for p in series.files] == [p.name for p in truth.files]
    assert series.files[0].name == "IMG-0002-00012.dcm"  # highest number is the first slice
    np.testing.assert_array_equal(sitk.GetArrayFromImage(series.image).T, truth.volume)
    assert np.all(np.diff(series.positions) > 0)


def test_non_dicom_file_is_named(tmp_path, ingest_write_series, ingest_tree_hash):
    ingest_write_series(tmp_path / "s")
    (tmp_path / "s" / "notes.dcm").write_text("not a DICOM file")
    before = ingest_tree_hash(tmp_path / "s")
    with pytest.raises(DataPrepError, match=r"notes\.dcm: not a DICOM file, or truncated"):
        read_dicom_series(tmp_path / "s")
    assert ingest_tree_hash(tmp_path / "s") == before


def test_truncated_file_is_named(tmp_path, ingest_write_series):
    truth = ingest_write_series(tmp_path / "s")
    victim = truth.files[5]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) - 300])
    with pytest.raises(DataPrepError, match=rf"{victim.name}: not a DICOM file, or truncated"):
        read_dicom_series(tmp_path / "s")


def test_missing_slice_is_refused_with_its_neighbours(tmp_path, ingest_write_series):
    truth = ingest_write_series(tmp_path / "s")
    truth.files[6].unlink()
    with pytest.raises(DataPrepError) as err:
        read_dicom_series(tmp_path / "s")
    message = str(err.value)
    assert "missing slice" in message and str(tmp_path / "s") in message
    assert truth.files[5].name in message and truth.files[7].name in message


def test_uneven_slice_spacing_is_refused(tmp_path):
    rng = np.random.default_rng(1)
    uid, study = make_uid(rng), make_uid(rng)
    positions = [0.0, 3.0, 6.0, 9.7, 12.7, 15.7]
    for k, z in enumerate(positions):
        write_dicom_series(
            rng.integers(0, 100, (16, 16, 1), dtype=np.uint16),
            tmp_path / "s",
            spacing=(1.0, 1.0, 3.0),
            origin=(0.0, 0.0, z),
            direction=(1, 0, 0, 0, 1, 0, 0, 0, 1),
            file_names=[f"slice{k}.dcm"],
            patient_id="p",
            study_uid=study,
            series_uid=uid,
            rng=rng,
        )
    with pytest.raises(DataPrepError, match=r"uneven slice spacing: gap of 3\.7000 mm between slice2\.dcm"):
        read_dicom_series(tmp_path / "s")


def test_duplicate_slice_position_is_refused(tmp_path):
    rng = np.random.default_rng(2)
    uid, study = make_uid(rng), make_uid(rng)
    for k, z in enumerate([0.0, 2.0, 2.0, 4.0]):
        write_dicom_series(
            rng.integers(0, 100, (16, 16, 1), dtype=np.uint16), tmp_path / "s", spacing=(1.0, 1.0, 2.0),
            origin=(0.0, 0.0, z), direction=(1, 0, 0, 0, 1, 0, 0, 0, 1), file_names=[f"s{k}.dcm"],
            patient_id="p", study_uid=study, series_uid=uid, rng=rng,
        )  # fmt: skip
    with pytest.raises(DataPrepError, match="same slice position"):
        read_dicom_series(tmp_path / "s")


def test_several_series_need_a_uid(tmp_path, ingest_write_series):
    a = ingest_write_series(tmp_path / "s", seed=1, names=[f"a{k}.dcm" for k in range(12)])
    b = ingest_write_series(tmp_path / "s", seed=2, names=[f"b{k}.dcm" for k in range(12)])
    assert set(list_series(tmp_path / "s")) == {a.uid, b.uid}
    with pytest.raises(DataPrepError) as err:
        read_dicom_series(tmp_path / "s")
    assert "2 DICOM series found" in str(err.value) and a.uid in str(err.value) and b.uid in str(err.value)
    picked = read_dicom_series(tmp_path / "s", series_uid=b.uid)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(picked.image).T, b.volume)
    with pytest.raises(DataPrepError, match="no DICOM series with SeriesInstanceUID 1.2.3"):
        read_dicom_series(tmp_path / "s", series_uid="1.2.3")


def test_empty_or_missing_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataPrepError, match="empty: no DICOM series found"):
        read_dicom_series(tmp_path / "empty")
    with pytest.raises(DataPrepError, match="nothere: no such folder"):
        read_dicom_series(tmp_path / "nothere")


def test_nested_series_is_found_under_patient_folder(tmp_path, ingest_write_series):
    truth = ingest_write_series(tmp_path / "PANCREAS_0001" / "study" / "series")
    assert find_series_folders(tmp_path) == [tmp_path / "PANCREAS_0001" / "study" / "series"]
    series = read_single_series_under(tmp_path / "PANCREAS_0001")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(series.image).T, truth.volume)
    ingest_write_series(tmp_path / "PANCREAS_0001" / "study" / "other", seed=5)
    with pytest.raises(DataPrepError, match="2 DICOM series found, expected one"):
        read_single_series_under(tmp_path / "PANCREAS_0001")


def test_whole_folder_reads_slices_with_different_series_uids(tmp_path):
    rng = np.random.default_rng(3)
    volume = rng.integers(0, 500, (16, 16, 5), dtype=np.uint16)
    for k in range(5):
        write_dicom_series(
            volume[:, :, k : k + 1], tmp_path / "s", spacing=(1.0, 1.2, 2.5), origin=(0.0, 0.0, 2.5 * k),
            direction=(1, 0, 0, 0, 1, 0, 0, 0, 1), file_names=[f"x{k}.dcm"], patient_id="p",
            study_uid="1.2.3", series_uid=make_uid(rng), rng=rng,
        )  # fmt: skip
    with pytest.raises(DataPrepError, match="5 DICOM series found"):
        read_dicom_series(tmp_path / "s")
    series = read_dicom_series(tmp_path / "s", whole_folder=True)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(series.image).T, volume)
    assert series.image.GetSpacing() == pytest.approx((1.0, 1.2, 2.5))
