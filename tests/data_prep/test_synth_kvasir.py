"""synth kvasir-raw: Kvasir-SEG-like pictures and JPEG masks, deterministic, readable by prepare kvasir, and
not separable by one colour threshold (the polyp differs from the mucosa in texture more than in colour)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from data_prep.cli import main
from data_prep.plan import load_plan
from data_prep.synth.raw_layouts import write_kvasir_raw

SIZE = ("64", "64")


def _synth(out: Path, *extra: str) -> Path:
    assert main(["synth", "kvasir-raw", str(out), "--size", *SIZE, *extra]) == 0
    return out / "Kvasir-SEG"


def _pairs(root: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(RGB picture, grey mask) of every image, by name."""
    return [
        (
            np.asarray(Image.open(path).convert("RGB")),
            np.asarray(Image.open(root / "masks" / path.name).convert("L")),
        )
        for path in sorted((root / "images").iterdir())
    ]


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> list[tuple[np.ndarray, np.ndarray]]:
    return _pairs(write_kvasir_raw(tmp_path_factory.mktemp("kvasir"), n_images=24, seed=5, size=(64, 64)))


def test_command_writes_n_jpeg_pictures_and_masks_of_the_same_names_and_sizes(tmp_path):
    root = _synth(tmp_path / "raw", "--cases", "6", "--seed", "1")
    images = sorted(p.name for p in (root / "images").iterdir())
    assert images == sorted(p.name for p in (root / "masks").iterdir()) and len(images) == 6
    assert all(re.fullmatch(r"cju[a-z0-9]{22}\.jpg", name) for name in images)
    sizes = set()
    for name in images:
        with Image.open(root / "images" / name) as picture, Image.open(root / "masks" / name) as mask:
            assert picture.format == mask.format == "JPEG" and picture.mode == "RGB" and mask.mode == "L"
            assert picture.size == mask.size
            assert all(54 <= side <= 74 for side in picture.size)  # 64 scaled by 0.9-1.1, aspect +-5 %
            sizes.add(picture.size)
    assert len(sizes) > 1  # sizes vary per picture, as Kvasir's do


def test_masks_threshold_to_one_or_two_blobs_covering_5_to_40_percent(pictures):
    blobs = []
    for _rgb, grey in pictures:
        polyp = grey >= 128
        blobs.append(ndimage.label(polyp)[1])
        assert 0.05 <= polyp.mean() <= 0.40
        assert ((grey > 0) & (grey < 255)).any()  # JPEG edges are grey, as in Kvasir-SEG
    assert set(blobs) <= {1, 2} and 1 in blobs


def test_same_seed_writes_the_same_bytes_and_another_seed_other_pictures(tmp_path):
    first, again = _synth(tmp_path / "a", "--cases", "3"), _synth(tmp_path / "b", "--cases", "3")
    other = _synth(tmp_path / "c", "--cases", "3", "--seed", "1")
    files = sorted(p.relative_to(first) for p in first.rglob("*.jpg"))
    assert files == sorted(p.relative_to(again) for p in again.rglob("*.jpg")) and len(files) == 6
    assert all((first / f).read_bytes() == (again / f).read_bytes() for f in files)
    assert not set(files) & {p.relative_to(other) for p in other.rglob("*.jpg")}


def test_prepare_kvasir_reads_it_into_a_2d_three_channel_two_class_plan(tmp_path):
    root = _synth(tmp_path / "raw", "--cases", "6")
    assert main(["prepare", "kvasir", str(root.parent), str(tmp_path / "dataset"), "--workers", "1"]) == 0
    plan = load_plan(tmp_path / "dataset")
    assert len(plan.patch_size) == 2 and plan.num_channels == 3 and plan.num_classes == 2


def test_no_single_colour_threshold_separates_polyp_from_mucosa(pictures):
    """Best Dice of ``channel >= t`` or ``channel < t`` over all t, pooled over the pictures, and the mean
    of the best per picture (a threshold chosen for each picture with its mask in hand)."""

    def best_dice(values: np.ndarray, truth: np.ndarray) -> float:
        best = 0.0
        for ordered in (np.argsort(-values, kind="stable"), np.argsort(values, kind="stable")):
            hits = np.cumsum(truth[ordered])
            best = max(best, float(np.max(2 * hits / (np.arange(1, truth.size + 1) + truth.sum()))))
        return best

    truth = [grey.ravel() >= 128 for _rgb, grey in pictures]
    for channel in range(3):
        values = [rgb[..., channel].ravel().astype(np.float32) for rgb, _grey in pictures]
        assert best_dice(np.concatenate(values), np.concatenate(truth)) < 0.8, channel
        assert np.mean([best_dice(v, t) for v, t in zip(values, truth, strict=True)]) < 0.8, channel


def test_size_of_three_values_or_too_small_is_refused_for_kvasir_raw(tmp_path, capsys):
    refusals = (
        (["64", "64", "32"], "takes 2 values (WIDTH HEIGHT) for kvasir-raw, got 3"),
        (["16", "64"], "at least 32 32 for kvasir-raw"),
    )
    for size, problem in refusals:
        assert main(["synth", "kvasir-raw", str(tmp_path / "raw"), "--size", *size]) == 1
        assert problem in capsys.readouterr().err
    assert not (tmp_path / "raw").exists()
    assert main(["synth", "abdominal", str(tmp_path / "abd"), "--size", "32", "32"]) == 1
    assert "takes 3 values (X Y Z) for abdominal" in capsys.readouterr().err


def test_default_pictures_are_about_256_by_256(tmp_path):
    assert main(["synth", "kvasir-raw", str(tmp_path / "raw"), "--cases", "1"]) == 0
    (picture,) = (tmp_path / "raw" / "Kvasir-SEG" / "images").iterdir()
    with Image.open(picture) as image:
        assert all(215 <= side <= 296 for side in image.size)
