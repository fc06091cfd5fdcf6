"""Label remapping: exact and range maps, refusal of unmapped values, nearest class."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from data_prep.errors import DataPrepError
from data_prep.labels import (
    CHAOS_EXACT,
    CHAOS_RANGES,
    LabelMap,
    parse_exact,
    parse_ranges,
    remap_array,
    remap_image,
)


def test_chaos_exact_map():
    grey = np.array([[0, 63, 126], [189, 252, 0]], np.uint8)
    np.testing.assert_array_equal(remap_array(grey, CHAOS_EXACT), [[0, 1, 2], [3, 4, 0]])


def test_chaos_ranges_accept_interpolated_grey_values():
    grey = np.array([0, 55, 63, 70, 110, 135, 175, 200, 240, 255], np.uint8)
    np.testing.assert_array_equal(remap_array(grey, CHAOS_RANGES), [0, 1, 1, 1, 2, 2, 3, 3, 4, 4])


def test_unmapped_values_are_listed_with_voxel_counts():
    grey = np.array([0, 63, 80, 80, 160, 63, 80], np.uint8)
    with pytest.raises(DataPrepError) as err:
        remap_array(grey, CHAOS_EXACT, source="Ground/p03")
    message = str(err.value)
    assert message.startswith("Ground/p03: values outside the label map")
    assert "80 (3 voxels)" in message and "160 (1 voxels)" in message and "63 (" not in message


def test_nearest_sends_unmapped_values_to_the_nearest_class():
    grey = np.array([0, 5, 80, 160, 240, 255, 100], np.uint8)
    # 5 -> background (0); 80 -> 55-70 (1); 160 -> 175-200 (3); 240/255 -> 4; 100 -> 110-135 (2)
    np.testing.assert_array_equal(remap_array(grey, CHAOS_RANGES, nearest=True), [0, 0, 1, 3, 4, 4, 2])


def test_background_zero_can_be_remapped_or_disabled():
    assert remap_array(np.array([0, 1]), LabelMap(exact={0: 1, 1: 0})).tolist() == [1, 0]
    with pytest.raises(DataPrepError, match=r"0 \(1 voxels\)"):
        remap_array(np.array([0, 1]), LabelMap(exact={1: 1}, background_zero=False))


def test_overlapping_ranges_are_refused():
    with pytest.raises(DataPrepError, match="overlap"):
        LabelMap(ranges=((0, 10, 1), (5, 20, 2)))


def test_nan_in_labels_is_refused():
    with pytest.raises(DataPrepError, match="NaN or infinite"):
        remap_array(np.array([0.0, np.nan]), CHAOS_EXACT)


def test_remap_image_keeps_geometry_and_writes_uint8():
    image = sitk.GetImageFromArray(np.array([[[0, 63], [126, 252]]], np.int16))
    image.SetSpacing((0.7, 0.8, 3.0))
    image.SetOrigin((1.0, 2.0, 3.0))
    image.SetDirection((0, 1, 0, 1, 0, 0, 0, 0, -1))
    out = remap_image(image, CHAOS_EXACT)
    assert out.GetPixelID() == sitk.sitkUInt8
    assert (out.GetSpacing(), out.GetOrigin(), out.GetDirection()) == (
        image.GetSpacing(),
        image.GetOrigin(),
        image.GetDirection(),
    )
    assert sitk.GetArrayFromImage(out).ravel().tolist() == [0, 1, 2, 4]


def test_parse_map_and_ranges():
    assert parse_exact(["63=1", "126=2"]) == {63.0: 1, 126.0: 2}
    assert parse_ranges(["55-70=1"]) == ((55.0, 70.0, 1),)
    with pytest.raises(DataPrepError, match="expected VALUE=CLASS"):
        parse_exact(["63:1"])
    with pytest.raises(DataPrepError, match="expected LOW-HIGH=CLASS"):
        parse_ranges(["55=1"])
