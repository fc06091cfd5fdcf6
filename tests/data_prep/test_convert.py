"""convert: DICOM series / slice stack / volume -> NIfTI with the geometry read back and checked."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from data_prep.convert import align_to_reference, convert_to_nifti
from data_prep.errors import DataPrepError


def test_dicom_series_to_nifti_keeps_geometry_and_voxels(
    tmp_path, ingest_write_series, ingest_same_grid, ingest_tree_hash
):
    truth = ingest_write_series(tmp_path / "dcm", reverse_names=True)
    before = ingest_tree_hash(tmp_path / "dcm")
    out = convert_to_nifti(tmp_path / "dcm", tmp_path / "out" / "t2.nii.gz")
    back = sitk.ReadImage(str(out))
    ingest_same_grid(back, truth.spacing, truth.origin, truth.direction)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back).T, truth.volume)
    assert back.GetPixelID() == sitk.sitkUInt16
    assert ingest_tree_hash(tmp_path / "dcm") == before


def test_mask_slices_take_the_reference_series_geometry(tmp_path, ingest_write_series, ingest_same_grid):
    truth = ingest_write_series(tmp_path / "dcm", reverse_names=True)
    (tmp_path / "png").mkdir()
    mask = (truth.volume > 2000).astype(np.uint8) * 63
    for k, path in enumerate(truth.files):
        Image.fromarray(np.ascontiguousarray(mask[:, :, k].T)).save(tmp_path / "png" / f"{path.stem}.png")
    out = convert_to_nifti(tmp_path / "png", tmp_path / "mask.nii.gz", reference_dicom=tmp_path / "dcm")
    back = sitk.ReadImage(str(out))
    ingest_same_grid(back, truth.spacing, truth.origin, truth.direction)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back).T, mask)


def test_slice_stack_with_spacing_and_list(tmp_path):
    (tmp_path / "png").mkdir()
    for k, value in enumerate((5, 6, 7)):
        Image.fromarray(np.full((4, 5), value, np.uint8)).save(tmp_path / "png" / f"s{k}.png")
    (tmp_path / "order.txt").write_text("s2.png\ns0.png\ns1.png\n")
    out = convert_to_nifti(
        tmp_path / "png", tmp_path / "o.nii.gz", slice_list=tmp_path / "order.txt", spacing=(0.5, 0.5, 2.0)
    )
    back = sitk.ReadImage(str(out))
    assert back.GetSpacing() == (0.5, 0.5, 2.0) and back.GetSize() == (5, 4, 3)
    assert sitk.GetArrayFromImage(back)[:, 0, 0].tolist() == [7, 5, 6]


@pytest.mark.parametrize("suffix", [".mha", ".nrrd", ".nii"])
def test_volume_files_convert_exactly(tmp_path, suffix, ingest_same_grid):
    image = sitk.GetImageFromArray(np.random.default_rng(0).normal(size=(6, 7, 8)).astype(np.float32))
    image.SetSpacing((0.9, 1.1, 3.3))
    image.SetOrigin((-12.5, 40.0, 7.25))
    image.SetDirection((0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0))
    sitk.WriteImage(image, str(tmp_path / f"in{suffix}"))
    back = sitk.ReadImage(str(convert_to_nifti(tmp_path / f"in{suffix}", tmp_path / "out.nii.gz")))
    ingest_same_grid(back, image.GetSpacing(), image.GetOrigin(), image.GetDirection())
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image))


def test_geometry_nifti_cannot_hold_is_refused_and_nothing_is_left(tmp_path):
    image = sitk.GetImageFromArray(np.zeros((4, 4, 4), np.uint8))
    image.SetDirection((1.0, 0.3, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))  # sheared
    sitk.WriteImage(image, str(tmp_path / "sheared.mha"))
    (tmp_path / "out").mkdir()
    with pytest.raises(
        DataPrepError, match=r"sheared\.mha: NIfTI cannot hold this image exactly \(direction"
    ):
        convert_to_nifti(tmp_path / "sheared.mha", tmp_path / "out" / "x.nii.gz")
    assert list((tmp_path / "out").iterdir()) == []


def test_existing_output_is_refused_unless_overwrite(tmp_path, ingest_write_series):
    ingest_write_series(tmp_path / "dcm")
    target = tmp_path / "x.nii.gz"
    target.write_bytes(b"old")
    with pytest.raises(DataPrepError, match=r"x\.nii\.gz: already exists"):
        convert_to_nifti(tmp_path / "dcm", target)
    assert target.read_bytes() == b"old"
    convert_to_nifti(tmp_path / "dcm", target, overwrite=True)
    assert sitk.ReadImage(str(target)).GetSize() == (32, 32, 12)


def test_bad_inputs_name_the_file(tmp_path, ingest_write_series):
    truth = ingest_write_series(tmp_path / "dcm")
    data = truth.files[3].read_bytes()
    truth.files[3].write_bytes(data[:200])
    with pytest.raises(DataPrepError, match=rf"{truth.files[3].name}: not a DICOM file, or truncated"):
        convert_to_nifti(tmp_path / "dcm", tmp_path / "out.nii.gz")
    assert not (tmp_path / "out.nii.gz").exists()
    (tmp_path / "garbage.nii.gz").write_bytes(b"nonsense")
    with pytest.raises(DataPrepError, match=r"garbage\.nii\.gz: cannot be read as an image"):
        convert_to_nifti(tmp_path / "garbage.nii.gz", tmp_path / "out.nii.gz")
    with pytest.raises(DataPrepError, match="output must be a NIfTI file"):
        convert_to_nifti(tmp_path / "garbage.nii.gz", tmp_path / "out.png")
    (tmp_path / "png").mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "png" / "a.png")
    with pytest.raises(DataPrepError, match="has no geometry; give --reference-dicom DIR or --spacing"):
        convert_to_nifti(tmp_path / "png", tmp_path / "out.nii.gz")
    assert not (tmp_path / "out.nii.gz").exists()


def _grid(size, spacing, origin, direction):
    image = sitk.Image(size, sitk.sitkUInt8)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(direction)
    return image


def test_align_reindexes_flipped_and_permuted_labels_exactly():
    reference = _grid((5, 4, 3), (0.8, 0.9, 2.5), (10.0, -5.0, 30.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    values = (
        np.random.default_rng(0).integers(0, 3, (5, 4, 3)).astype(np.uint8)
    )  # (x, y, z) on the reference grid
    # the same voxels stored with x and y swapped and z reversed
    stored = np.ascontiguousarray(np.transpose(values, (1, 0, 2))[:, :, ::-1])
    moving = sitk.GetImageFromArray(stored.T.copy())
    moving.SetSpacing((0.9, 0.8, 2.5))
    moving.SetOrigin(reference.TransformIndexToPhysicalPoint((0, 0, 2)))
    moving.SetDirection((0, 1, 0, 1, 0, 0, 0, 0, -1))
    aligned = align_to_reference(moving, reference)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(aligned).T, values)
    assert aligned.GetOrigin() == reference.GetOrigin() and aligned.GetDirection() == reference.GetDirection()


def test_align_refuses_a_label_on_another_grid():
    reference = _grid((5, 4, 3), (1.0, 1.0, 2.5), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    shifted = _grid((5, 4, 3), (1.0, 1.0, 2.5), (0.0, 0.0, 1.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    with pytest.raises(DataPrepError, match=r"label0001: not on the voxel grid of the CT.*origin"):
        align_to_reference(shifted, reference, source="label0001", reference_name="the CT")
    rescaled = _grid((5, 4, 3), (1.0, 1.0, 3.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    with pytest.raises(DataPrepError, match="spacing"):
        align_to_reference(rescaled, reference)
