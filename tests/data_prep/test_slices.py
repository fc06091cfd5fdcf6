"""Slice stacks: natural order, geometry from a reference series or a spacing, and size checks."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from data_prep.dicom import read_dicom_series
from data_prep.errors import DataPrepError
from data_prep.slices import list_slice_files, natural_key, read_slice_list, read_slice_stack


def _write_pngs(folder, volume, names):
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        Image.fromarray(np.ascontiguousarray(volume[:, :, k].T)).save(folder / name)
    return [folder / n for n in names]


def test_natural_order_puts_numbers_in_value_order():
    names = ["IMG-0001-00010.png", "IMG-0001-00002.png", "slice10.png", "slice2.png", "IMG-0001-00001.png"]
    assert sorted(names, key=natural_key) == [
        "IMG-0001-00001.png",
        "IMG-0001-00002.png",
        "IMG-0001-00010.png",
        "slice2.png",
        "slice10.png",
    ]


def test_list_slice_files_sorts_naturally_and_skips_hidden(tmp_path):
    volume = np.zeros((8, 6, 3), np.uint8)
    _write_pngs(tmp_path, volume, ["s10.png", "s2.png", "s1.png"])
    (tmp_path / "._s1.png").write_bytes(b"junk")
    (tmp_path / "readme.txt").write_text("x")
    assert [p.name for p in list_slice_files(tmp_path)] == ["s1.png", "s2.png", "s10.png"]


def test_stack_with_spacing_maps_rows_to_y_and_columns_to_x(tmp_path):
    volume = np.arange(8 * 6 * 3, dtype=np.uint8).reshape(8, 6, 3)  # x=8 columns, y=6 rows
    files = _write_pngs(tmp_path, volume, ["a1.png", "a2.png", "a3.png"])
    image = read_slice_stack(files, spacing=(0.5, 0.7, 2.0))
    assert image.GetSize() == (8, 6, 3)
    assert image.GetSpacing() == (0.5, 0.7, 2.0)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image).T, volume)


def test_reference_series_gives_geometry_and_order_by_name(tmp_path, ingest_write_series, ingest_same_grid):
    truth = ingest_write_series(tmp_path / "dcm", reverse_names=True)
    series = read_dicom_series(tmp_path / "dcm")
    mask = (truth.volume % 7).astype(np.uint8)  # in position order
    _write_pngs(tmp_path / "png", mask, [p.stem + ".png" for p in truth.files])
    files = list_slice_files(tmp_path / "png")  # natural name order = reverse position order
    image = read_slice_stack(files, reference=series)
    ingest_same_grid(image, truth.spacing, truth.origin, truth.direction, tol=1e-6)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image).T, mask)
    # in name order without matching, the stack comes out upside down: the matching matters
    unmatched = read_slice_stack(files, reference=series, match_by_name=False)
    assert not np.array_equal(sitk.GetArrayFromImage(unmatched).T, mask)


def test_slice_count_differing_from_reference_names_both(tmp_path, ingest_write_series):
    ingest_write_series(tmp_path / "dcm")
    series = read_dicom_series(tmp_path / "dcm")
    files = _write_pngs(tmp_path / "png", np.zeros((32, 32, 11), np.uint8), [f"m{k}.png" for k in range(11)])
    with pytest.raises(DataPrepError) as err:
        read_slice_stack(files, reference=series)
    assert "11 slice files" in str(err.value) and "12 slices" in str(err.value) and "dcm" in str(err.value)


def test_slice_size_differing_from_reference_names_both(tmp_path, ingest_write_series):
    ingest_write_series(tmp_path / "dcm")
    series = read_dicom_series(tmp_path / "dcm")
    files = _write_pngs(tmp_path / "png", np.zeros((64, 32, 12), np.uint8), [f"m{k}.png" for k in range(12)])
    with pytest.raises(DataPrepError, match=r"m0\.png: 64x32 slice but the slices of .*dcm are 32x32"):
        read_slice_stack(files, reference=series)


def test_slices_of_different_sizes_are_refused(tmp_path):
    a = _write_pngs(tmp_path, np.zeros((8, 6, 1), np.uint8), ["a.png"])
    b = _write_pngs(tmp_path, np.zeros((8, 7, 1), np.uint8), ["b.png"])
    with pytest.raises(DataPrepError, match=r"b\.png: 8x7 pixels .* but a\.png has 8x6"):
        read_slice_stack(a + b, spacing=(1, 1, 1))


def test_unreadable_and_colour_pictures_are_refused(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataPrepError, match=r"bad\.png: cannot be read as a picture"):
        read_slice_stack([tmp_path / "bad.png"], spacing=(1, 1, 1))
    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(tmp_path / "colour.png")
    with pytest.raises(DataPrepError, match=r"colour\.png: colour picture"):
        read_slice_stack([tmp_path / "colour.png"], spacing=(1, 1, 1))


def test_slice_list_keeps_its_order(tmp_path):
    volume = np.stack([np.full((4, 4), v, np.uint8) for v in (10, 20, 30)], axis=-1)
    _write_pngs(tmp_path, volume, ["x1.png", "x2.png", "x3.png"])
    (tmp_path / "order.txt").write_text("# top first\nx3.png\nx1.png\n\nx2.png\n")
    files = read_slice_list(tmp_path / "order.txt")
    image = read_slice_stack(files, spacing=(1, 1, 1))
    assert sitk.GetArrayFromImage(image)[:, 0, 0].tolist() == [30, 10, 20]


def test_stack_without_geometry_is_refused(tmp_path):
    files = _write_pngs(tmp_path, np.zeros((4, 4, 1), np.uint8), ["a.png"])
    with pytest.raises(DataPrepError, match="needs a reference DICOM series or a spacing"):
        read_slice_stack(files)
