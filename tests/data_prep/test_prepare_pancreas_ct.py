"""prepare pancreas-ct: nested DICOM series + label NIfTI, labels aligned to the series grid or refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from data_prep.errors import DataPrepError
from data_prep.recipes import prepare_pancreas_ct
from data_prep.synth.raw_layouts import write_pancreas_ct_raw

SIZE = (32, 32, 16)


def _label_on_series_grid(raw, pid):
    """The label of a patient resampled (nearest, exactly on voxel centres) onto its series, as truth."""
    from data_prep.dicom import read_single_series_under

    series = read_single_series_under(raw / "Pancreas-CT" / f"PANCREAS_{pid}")
    label = sitk.ReadImage(str(raw / "TCIA_pancreas_labels-02-05-2017" / f"label{pid}.nii.gz"))
    return sitk.Resample(label, series.image, sitk.Transform(), sitk.sitkNearestNeighbor), series


def test_labels_are_put_on_the_series_grid(tmp_path, ingest_tree_hash, ingest_same_grid):
    raw = write_pancreas_ct_raw(tmp_path / "raw", n_patients=3, size=SIZE, flipped_labels=(1,))
    stored = sitk.ReadImage(str(raw / "TCIA_pancreas_labels-02-05-2017" / "label0002.nii.gz"))
    assert stored.GetDirection()[8] == -1.0  # patient 0002's label is stored upside down
    before = ingest_tree_hash(raw)
    out = prepare_pancreas_ct(raw, tmp_path / "out", workers=1)
    assert ingest_tree_hash(raw) == before
    for pid in ("0001", "0002", "0003"):
        truth, series = _label_on_series_grid(raw, pid)
        label = sitk.ReadImage(str(out / "labelsTr" / f"pancreas_ct_{pid}.nii.gz"))
        image = sitk.ReadImage(str(out / "imagesTr" / f"pancreas_ct_{pid}.nii.gz"))
        ingest_same_grid(
            label, series.image.GetSpacing(), series.image.GetOrigin(), series.image.GetDirection()
        )
        ingest_same_grid(
            image, series.image.GetSpacing(), series.image.GetOrigin(), series.image.GetDirection()
        )
        np.testing.assert_array_equal(sitk.GetArrayFromImage(label), sitk.GetArrayFromImage(truth))
        assert sitk.GetArrayFromImage(label).max() == 1
        np.testing.assert_array_equal(sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(series.image))
    flipped = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "labelsTr" / "pancreas_ct_0002.nii.gz")))
    assert not np.array_equal(flipped, sitk.GetArrayFromImage(stored))  # it was re-indexed, not copied
    manifest = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    assert manifest["labels"] == {"0": "background", "1": "pancreas"} and manifest["modality"] == {"0": "CT"}
    assert [c["patient"] for c in manifest["training"]] == ["0001", "0002", "0003"]


def test_label_off_the_grid_is_refused(tmp_path, ingest_no_leftovers):
    raw = write_pancreas_ct_raw(tmp_path / "raw", n_patients=2, size=SIZE, flipped_labels=())
    victim = raw / "TCIA_pancreas_labels-02-05-2017" / "label0002.nii.gz"
    label = sitk.ReadImage(str(victim))
    label.SetOrigin(tuple(o + (0.0, 0.0, 1.3)[i] for i, o in enumerate(label.GetOrigin())))
    sitk.WriteImage(label, str(victim))
    with pytest.raises(
        DataPrepError,
        match=r"label0002\.nii\.gz: not on the voxel grid of the CT series in .*PANCREAS_0002.*origin",
    ):
        prepare_pancreas_ct(raw, tmp_path / "out", workers=1)
    assert not (tmp_path / "out").exists()
    ingest_no_leftovers(tmp_path)


def test_patient_without_label_becomes_a_test_image(tmp_path):
    raw = write_pancreas_ct_raw(tmp_path / "raw", n_patients=3, size=SIZE)
    (raw / "TCIA_pancreas_labels-02-05-2017" / "label0003.nii.gz").unlink()
    labels = tmp_path / "labels"
    (raw / "TCIA_pancreas_labels-02-05-2017").rename(labels)
    out = prepare_pancreas_ct(raw, tmp_path / "out", labels=labels, workers=1)
    manifest = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    assert manifest["numTraining"] == 2 and manifest["test"] == ["imagesTs/pancreas_ct_0003.nii.gz"]


def test_label_values_other_than_pancreas_are_refused(tmp_path):
    raw = write_pancreas_ct_raw(tmp_path / "raw", n_patients=2, size=SIZE, flipped_labels=())
    victim = raw / "TCIA_pancreas_labels-02-05-2017" / "label0001.nii.gz"
    label = sitk.ReadImage(str(victim))
    sitk.WriteImage(label * 2, str(victim))
    with pytest.raises(DataPrepError, match=r"label0001\.nii\.gz: values outside the label map: 2 \("):
        prepare_pancreas_ct(raw, tmp_path / "out", workers=1)
