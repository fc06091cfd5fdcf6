"""DICOM SEG written from a label map on its source series, and ``data_prep convert SEG.dcm OUT.nii.gz`` back:
the same voxels on the source geometry; coded segments from the SNOMED CT table (checked against pydicom's
local DICOM code tables); a SEG killed mid-write leaves no file; overlapping segments are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.sr.codedict import codes

from data_prep.cli import main
from data_prep.dicom_codes import GENERIC, SNOMED_TABLE, segment_code
from data_prep.dicom_seg import read_dicom_seg, write_dicom_seg
from data_prep.dicom_source import read_source_series
from data_prep.errors import DataPrepError
from data_prep.synth.dicom_series import make_uid, oblique_direction, write_dicom_series

LABELS = {1: "liver", 2: "left_kidney", 3: "spleen", 4: "something_else"}


def _series(folder: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    volume = rng.integers(0, 1000, size=(11, 7, 6)).astype(np.int16)
    write_dicom_series(
        volume,
        folder,
        spacing=(0.6, 0.9, 3.3),
        origin=(5.0, -12.0, 40.0),
        direction=oblique_direction(rng),
        file_names=[f"s{k:02d}.dcm" for k in rng.permutation(6)],
        patient_id="p9",
        study_uid=make_uid(rng),
        series_uid=make_uid(rng),
        rng=rng,
        extra_tags={"0020|0052": make_uid(rng)},
    )
    return folder


def _label_map(source) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 5, size=(len(source.files), source.size[1], source.size[0])).astype(np.uint8)


def test_snomed_table_matches_the_dicom_code_tables():
    known = {
        "liver": codes.SCT.Liver,
        "kidney": codes.SCT.Kidney,
        "spleen": codes.SCT.Spleen,
        "pancreas": codes.SCT.Pancreas,
        "tumour": codes.SCT.Neoplasm,
        "edema": codes.SCT.Edema,
        "necrosis": codes.SCT.Necrosis,
    }
    for name, code in known.items():
        assert SNOMED_TABLE[name].type.value == code.value, name
    assert segment_code("Right_Kidney").modifier.value == codes.SCT.Right.value
    assert segment_code("kidney-left").modifier.value == codes.SCT.Left.value
    assert segment_code("Tumor").type.value == codes.SCT.Neoplasm.value
    assert SNOMED_TABLE["liver"].category.value == codes.SCT.AnatomicalStructure.value
    assert SNOMED_TABLE["tumour"].category.value == codes.SCT.MorphologicallyAbnormalStructure.value
    assert SNOMED_TABLE["polyp"].type.value == "41329004"
    assert segment_code("vessel") == GENERIC and GENERIC.type.value == codes.SCT.Tissue.value


@pytest.mark.parametrize("kind", ["binary", "fractional"])
def test_a_seg_converts_back_to_the_label_map_on_the_source_geometry(tmp_path, kind):
    source, image = read_source_series(_series(tmp_path / "ct"), for_seg=True)
    labels = _label_map(source)
    seg = write_dicom_seg(
        labels,
        source,
        LABELS,
        tmp_path / "out" / "case_seg.dcm",
        algorithm=("toy", "1.0"),
        segmentation_type=kind,
    )
    ds = pydicom.dcmread(seg)
    assert ds.SegmentationType == kind.upper()
    assert [s.SegmentLabel for s in ds.SegmentSequence] == list(LABELS.values())
    assert ds.SegmentSequence[3].SegmentedPropertyTypeCodeSequence[0].CodeValue == GENERIC.type.value
    assert main(["convert", str(seg), str(tmp_path / "back.nii.gz")]) == 0
    back = sitk.ReadImage(str(tmp_path / "back.nii.gz"))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), labels)
    assert np.allclose(back.GetOrigin(), image.GetOrigin(), atol=1e-4)
    assert np.allclose(back.GetSpacing(), image.GetSpacing(), atol=1e-5)
    assert np.allclose(back.GetDirection(), image.GetDirection(), atol=1e-6)


def test_a_seg_killed_mid_write_leaves_no_file(tmp_path, monkeypatch):
    source, _ = read_source_series(_series(tmp_path / "ct"), for_seg=True)

    def killed(self, filename, *args, **kwargs):
        Path(filename).write_bytes(b"DICM half a segmentation")
        raise KeyboardInterrupt

    monkeypatch.setattr(pydicom.Dataset, "save_as", killed)
    with pytest.raises(KeyboardInterrupt):
        write_dicom_seg(
            _label_map(source), source, LABELS, tmp_path / "out" / "a.dcm", algorithm=("toy", "1")
        )
    assert list((tmp_path / "out").iterdir()) == []


def test_a_label_map_off_the_source_grid_is_refused(tmp_path):
    source, _ = read_source_series(_series(tmp_path / "ct"), for_seg=True)
    with pytest.raises(DataPrepError, match=r"label map of shape \(6, 11, 7\).*has \(6, 7, 11\)"):
        write_dicom_seg(
            np.zeros((6, 11, 7), np.uint8), source, LABELS, tmp_path / "a.dcm", algorithm=("t", "1")
        )
    assert not (tmp_path / "a.dcm").exists()


def test_overlapping_segments_cannot_become_one_label_map(tmp_path):
    import highdicom as hd

    source, _ = read_source_series(_series(tmp_path / "ct"), for_seg=True)
    masks = np.zeros((6, 7, 11, 2), bool)
    masks[2, 3:5, 3:5, :] = True  # both segments claim these voxels
    seg = hd.seg.Segmentation(
        source_images=source.headers(),
        pixel_array=masks,
        segmentation_type="BINARY",
        segment_descriptions=[
            hd.seg.SegmentDescription(
                segment_number=n,
                segment_label=name,
                segmented_property_category=codes.SCT.Tissue,
                segmented_property_type=codes.SCT.Tissue,
                algorithm_type="MANUAL",
            )
            for n, name in ((1, "a"), (2, "b"))
        ],
        series_instance_uid=hd.UID(),
        series_number=2,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="x",
        manufacturer_model_name="x",
        software_versions="1",
        device_serial_number="1",
    )
    seg.save_as(tmp_path / "overlap.dcm")
    with pytest.raises(DataPrepError, match="segments 1 and 2 overlap"):
        read_dicom_seg(tmp_path / "overlap.dcm")
    assert main(["convert", str(tmp_path / "overlap.dcm"), str(tmp_path / "o.nii.gz")]) != 0
    assert not (tmp_path / "o.nii.gz").exists()
