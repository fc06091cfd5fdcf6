"""prepare kvasir: JPEG pictures and masks -> 2D cases as (x, y, 1, 3) images and (x, y, 1) labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from data_prep.errors import DataPrepError
from data_prep.recipes import prepare_kvasir
from data_prep.synth.raw_layouts import write_kvasir_raw


def test_pictures_become_2d_cases_with_thresholded_masks(tmp_path, ingest_tree_hash):
    root = write_kvasir_raw(tmp_path / "raw", n_images=3)
    before = ingest_tree_hash(root)
    out = prepare_kvasir(tmp_path / "raw", tmp_path / "out", workers=1)
    assert ingest_tree_hash(root) == before
    manifest = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    assert manifest["labels"] == {"0": "background", "1": "polyp"} and len(manifest["modality"]) == 3
    for case in manifest["training"]:
        stem = case["patient"]
        rgb = np.asarray(Image.open(root / "images" / f"{stem}.jpg").convert("RGB"))
        grey = np.asarray(Image.open(root / "masks" / f"{stem}.jpg").convert("L"))
        assert ((grey > 0) & (grey < 255)).any()  # JPEG edges really are grey
        image = sitk.ReadImage(str(out / case["image"]))
        label = sitk.ReadImage(str(out / case["label"]))
        assert image.GetSize() == (rgb.shape[1], rgb.shape[0], 1, 3)
        assert label.GetSize() == (rgb.shape[1], rgb.shape[0], 1) and label.GetSpacing() == (1.0, 1.0, 1.0)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(image)[:, 0], np.moveaxis(rgb, -1, 0))
        np.testing.assert_array_equal(sitk.GetArrayFromImage(label)[0], (grey >= 128).astype(np.uint8))
    assert json.loads((out / "plan.json").read_text(encoding="utf-8"))["num_channels"] == 3


def test_missing_mask_is_named(tmp_path):
    root = write_kvasir_raw(tmp_path / "raw", n_images=2)
    victim = sorted((root / "masks").iterdir())[0]
    victim.unlink()
    with pytest.raises(DataPrepError, match=rf"images/{victim.stem}\.jpg: no mask of the same name"):
        prepare_kvasir(root, tmp_path / "out", workers=1)
    assert not (tmp_path / "out").exists()


def test_mask_of_another_size_is_refused(tmp_path, ingest_no_leftovers):
    root = write_kvasir_raw(tmp_path / "raw", n_images=2)
    victim = sorted((root / "masks").iterdir())[1]
    Image.fromarray(np.zeros((5, 7), np.uint8)).save(victim)
    with pytest.raises(DataPrepError, match=rf"masks/{victim.name}: 7x5 mask but the image .* is \d+x\d+"):
        prepare_kvasir(root, tmp_path / "out", workers=1)
    assert not (tmp_path / "out").exists()
    ingest_no_leftovers(tmp_path)


def test_unreadable_picture_is_named(tmp_path):
    root = write_kvasir_raw(tmp_path / "raw", n_images=2)
    victim = sorted((root / "images").iterdir())[0]
    victim.write_bytes(b"not a jpeg")
    with pytest.raises(DataPrepError, match=rf"{victim.name}: cannot be read as a picture"):
        prepare_kvasir(root, tmp_path / "out", workers=1)
