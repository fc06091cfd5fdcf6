"""The bundles' inference reads DICOM series (several per folder, oblique, anisotropic, beside NIfTI files)
and writes DICOM SEG on them (``--output_format dicom_seg``): segments named and coded, the source instances
referenced, the source geometry, the very voxels of the NIfTI prediction of the same run; a series with a
missing tag, a mixed series or a truncated file is refused naming the file and the tag, and nothing is
written."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from monai.bundle import ConfigParser

from data_prep.convert import convert_to_nifti
from data_prep.dicom import read_dicom_series
from data_prep.synth.dicom_series import make_uid, oblique_direction, write_dicom_series

SPACING = (0.8, 1.1, 2.7)


@pytest.fixture
def small_plan(plan_dict):
    """A 2-level network on 16^3 patches at 1.5 mm; labels liver, right kidney (codes with a modifier)."""
    return plan_dict(
        labels={"0": "background", "1": "liver", "2": "right_kidney"},
        target_spacing=[1.5, 1.5, 1.5],
        median_shape=[16, 16, 16],
        patch_size=[16, 16, 16],
        channels=[4, 8],
        strides=[[2, 2, 2]],
        kernel_sizes=[[3, 3, 3], [3, 3, 3]],
    )


sys.path.insert(0, str(Path(__file__).resolve().parent))  # --import-mode=importlib: the helpers by path
import inference_helpers  # noqa: E402

_parser, _fake_training = inference_helpers.inference_parser, inference_helpers.fake_training


def _series(
    folder: Path, rng: np.random.Generator, *, prefix: str = "IM", suffix: str = "", **tags
) -> list[Path]:
    """A 14x12x9 int16 volume as an oblique, anisotropic MR series with a Frame of Reference; files named out
    of slice order, without suffix unless ``suffix``."""
    x, y, z = np.meshgrid(np.arange(14), np.arange(12), np.arange(9), indexing="ij")
    volume = (100 * np.sin(x / 3.0) * np.cos(y / 4.0) + 20 * z + rng.normal(0, 5, x.shape)).astype(np.int16)
    paths = write_dicom_series(
        volume,
        folder,
        spacing=SPACING,
        origin=(-20.0, 13.5, 7.25),
        direction=oblique_direction(rng),
        file_names=[f"{prefix}{k:04d}.dcm" for k in rng.permutation(9)],
        patient_id="p01",
        study_uid=make_uid(rng),
        series_uid=make_uid(rng),
        rng=rng,
        extra_tags={"0020|0052": make_uid(rng), **tags},
    )
    if suffix == ".dcm":
        return paths
    return [p.rename(p.with_suffix(suffix)) or p.with_suffix(suffix) for p in paths]


def _inputs(tmp_path: Path) -> Path:
    """``in/`` with two series in ``in/p01`` (one named without suffix, one ``.dcm``) and a NIfTI file."""
    rng = np.random.default_rng(7)
    inputs = tmp_path / "in"
    _series(inputs / "p01", rng)
    _series(inputs / "p01", rng, prefix="b", suffix=".dcm")
    return inputs


def _run(tmp_path: Path, **overrides) -> Path:
    _parser(tmp_path, **overrides).get_parsed_content("evaluator").run()
    return tmp_path / "out"


def test_dicom_series_are_inferred_with_their_own_geometry(tmp_path, small_plan):
    _fake_training(tmp_path, small_plan)
    inputs = _inputs(tmp_path)
    sitk.WriteImage(sitk.Image(10, 10, 10, sitk.sitkFloat32), str(inputs / "plain.nii.gz"))
    out = _run(tmp_path, input_dir=str(inputs))
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 3 and "plain_seg.nii.gz" in names
    for uid in (pydicom.dcmread(next((inputs / "p01").glob(g))).SeriesInstanceUID for g in ("IM*", "b*")):
        pred = sitk.ReadImage(str(out / f"p01_{uid}_seg.nii.gz"))
        source = read_dicom_series(inputs / "p01", uid).image
        assert pred.GetSize() == source.GetSize()
        assert np.allclose(pred.GetSpacing(), SPACING, atol=1e-5)
        assert np.allclose(pred.GetDirection(), source.GetDirection(), atol=1e-6)
        assert np.allclose(pred.GetOrigin(), source.GetOrigin(), atol=1e-4)


def test_dicom_seg_output_is_the_nifti_prediction_on_the_source_series(tmp_path, small_plan):
    _fake_training(tmp_path, small_plan)
    inputs = _inputs(tmp_path)
    out = _run(tmp_path, input_dir=str(inputs), output_format="dicom_seg")
    segs = sorted(out.glob("*_seg.dcm"))
    assert len(segs) == 2 and len(list(out.glob("*_seg.nii.gz"))) == 2
    for seg_path in segs:
        seg = pydicom.dcmread(seg_path)
        source = read_dicom_series(inputs / "p01", seg.ReferencedSeriesSequence[0].SeriesInstanceUID)
        headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in source.files]
        first = headers[0]
        # segments: names, codes (right kidney = Kidney + Right), algorithm
        assert [s.SegmentLabel for s in seg.SegmentSequence] == ["liver", "right_kidney"]
        liver, kidney = seg.SegmentSequence
        assert liver.SegmentedPropertyTypeCodeSequence[0].CodeValue == "10200004"
        assert liver.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "91723000"
        kidney_type = kidney.SegmentedPropertyTypeCodeSequence[0]
        assert kidney_type.CodeValue == "64033007"
        assert kidney_type.SegmentedPropertyTypeModifierCodeSequence[0].CodeValue == "24028007"
        algorithm = liver.SegmentationAlgorithmIdentificationSequence[0]
        assert (
            algorithm.AlgorithmName == "Abdominal MRI Attention U-Net"
            and algorithm.AlgorithmVersion == "0.2.0"
        )
        assert seg.SegmentationType == "BINARY"
        # references, patient and study, geometry
        referenced = [
            i.ReferencedSOPInstanceUID for i in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence
        ]
        assert sorted(referenced) == sorted(h.SOPInstanceUID for h in headers)
        for keyword in ("PatientID", "PatientName", "StudyInstanceUID", "FrameOfReferenceUID"):
            assert seg.get(keyword) == first.get(keyword), keyword
        shared = seg.SharedFunctionalGroupsSequence[0]
        assert np.allclose(
            [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient],
            [float(v) for v in first.ImageOrientationPatient],
        )
        assert seg.NumberOfFrames == 2 * len(headers)
        for frame in seg.PerFrameFunctionalGroupsSequence:  # each frame lies on the slice it references
            uid = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
            slice_header = next(h for h in headers if h.SOPInstanceUID == uid)
            assert np.allclose(
                [float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient],
                [float(v) for v in slice_header.ImagePositionPatient],
                atol=1e-4,
            )
        # voxel for voxel the NIfTI prediction, through data_prep convert
        back = convert_to_nifti(seg_path, tmp_path / f"{seg_path.stem}_back.nii.gz")
        nifti = sitk.ReadImage(str(seg_path.with_name(seg_path.stem + ".nii.gz")))
        back_image = sitk.ReadImage(str(back))
        np.testing.assert_array_equal(sitk.GetArrayFromImage(back_image), sitk.GetArrayFromImage(nifti))
        assert np.count_nonzero(sitk.GetArrayFromImage(nifti)) > 0
        assert np.allclose(back_image.GetOrigin(), nifti.GetOrigin(), atol=1e-4)
        assert np.allclose(back_image.GetDirection(), nifti.GetDirection(), atol=1e-5)
        assert np.allclose(back_image.GetSpacing(), nifti.GetSpacing(), atol=1e-5)


def test_fractional_dicom_seg_holds_the_same_masks(tmp_path, small_plan):
    _fake_training(tmp_path, small_plan)
    inputs = tmp_path / "in"
    _series(inputs / "p02", np.random.default_rng(3))
    out = _run(tmp_path, input_dir=str(inputs), output_format="dicom_seg", dicom_seg_type="fractional")
    seg = pydicom.dcmread(out / "p02_seg.dcm")
    assert seg.SegmentationType == "FRACTIONAL"
    back = sitk.ReadImage(str(convert_to_nifti(out / "p02_seg.dcm", tmp_path / "back.nii.gz")))
    nifti = sitk.ReadImage(str(out / "p02_seg.nii.gz"))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(nifti))


def _refusal(parser: ConfigParser) -> str:
    with pytest.raises(Exception) as info:
        parser.get_parsed_content("evaluator").run()
    err, text = info.value, str(info.value)
    while err.__cause__ is not None or err.__context__ is not None:
        err = err.__cause__ or err.__context__
        text += "\n" + str(err)
    return text


@pytest.mark.parametrize(
    ("tag", "keyword"),
    [("0020|0032", "ImagePositionPatient (0020,0032)"), ("0020|0052", "FrameOfReferenceUID (0020,0052)")],
)
def test_a_series_without_a_needed_tag_is_refused_naming_file_and_tag(tmp_path, small_plan, tag, keyword):
    _fake_training(tmp_path, small_plan)
    inputs = tmp_path / "in"
    files = _series(inputs / "p03", np.random.default_rng(4))
    broken = sorted(files)[3]
    ds = pydicom.dcmread(broken)
    del ds[int(tag.replace("|", ""), 16)]
    ds.save_as(broken)
    text = _refusal(_parser(tmp_path, input_dir=str(inputs), output_format="dicom_seg"))
    assert f"{broken}: no {keyword}" in text
    assert not (tmp_path / "out").exists()


def test_a_mixed_series_is_refused_naming_the_odd_file(tmp_path, small_plan):
    _fake_training(tmp_path, small_plan)
    inputs = tmp_path / "in"
    files = sorted(_series(inputs / "p04", np.random.default_rng(5)))
    ds = pydicom.dcmread(files[5])
    ds.FrameOfReferenceUID = "1.2.3.4"
    ds.save_as(files[5])
    text = _refusal(_parser(tmp_path, input_dir=str(inputs), output_format="dicom_seg"))
    assert f"{files[5]}: mixed series: FrameOfReferenceUID '1.2.3.4' differs" in text
    assert not (tmp_path / "out").exists()


def test_a_truncated_slice_is_refused_naming_the_file(tmp_path, small_plan):
    _fake_training(tmp_path, small_plan)
    inputs = tmp_path / "in"
    files = sorted(_series(inputs / "p05", np.random.default_rng(6)))
    files[2].write_bytes(files[2].read_bytes()[:-100])
    text = _refusal(_parser(tmp_path, input_dir=str(inputs), output_format="dicom_seg"))
    assert f"{files[2]}: not a DICOM file, or truncated" in text
    assert not (tmp_path / "out").exists()


def test_dicom_seg_output_refuses_inputs_that_are_not_dicom(tmp_path, small_plan):
    _fake_training(tmp_path, small_plan)
    inputs = tmp_path / "in"
    inputs.mkdir()
    sitk.WriteImage(sitk.Image(10, 10, 10, sitk.sitkFloat32), str(inputs / "plain.nii.gz"))
    text = _refusal(_parser(tmp_path, input_dir=str(inputs), output_format="dicom_seg"))
    assert "plain.nii.gz: not a DICOM series; --output_format dicom_seg" in text
    assert not (tmp_path / "out").exists()


def test_a_datalist_may_name_a_series_folder(tmp_path, small_plan):
    _fake_training(tmp_path, small_plan)
    dataset = tmp_path / "no_dataset"
    _series(dataset / "scans" / "p06", np.random.default_rng(8))
    (dataset / "datalist.json").write_text(json.dumps({"test": [{"image": "scans/p06"}]}))
    out = _run(tmp_path, output_format="dicom_seg")
    assert sorted(p.name for p in out.iterdir()) == ["p06_seg.dcm", "p06_seg.nii.gz"]
