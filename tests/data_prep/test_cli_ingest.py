"""Command line of the ingest commands: convert, remap-labels, validate, prepare."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from data_prep.cli import build_parser, main
from data_prep.synth.raw_layouts import write_chaos_raw, write_kvasir_raw

REPO = Path(__file__).resolve().parents[2]


def test_help_lists_the_ingest_commands():
    result = subprocess.run(
        [sys.executable, "-m", "data_prep", "--help"], cwd=REPO, capture_output=True, text=True, check=True
    )
    for command in ("convert", "remap-labels", "validate", "prepare"):
        assert command in result.stdout


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["convert", "--help"], "--reference-dicom"),
        (["remap-labels", "--help"], "--nearest"),
        (["validate", "--help"], "--tolerance"),
        (["prepare", "--help"], "RECIPE"),
        (["prepare", "chaos", "--help"], "T2SPIR/Ground"),
        (["prepare", "msd", "--help"], "dataset.json"),
        (["prepare", "pancreas-ct", "--help"], "--labels"),
        (["prepare", "kvasir", "--help"], "masks"),
    ],
)
def test_sub_command_help_explains_inputs(argv, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 0
    assert expected in capsys.readouterr().out


def test_convert_dicom_series(tmp_path, ingest_write_series, ingest_same_grid, capsys):
    truth = ingest_write_series(tmp_path / "dcm")
    assert main(["convert", str(tmp_path / "dcm"), str(tmp_path / "o.nii.gz")]) == 0
    back = sitk.ReadImage(str(tmp_path / "o.nii.gz"))
    ingest_same_grid(back, truth.spacing, truth.origin, truth.direction)
    assert main(["convert", str(tmp_path / "dcm"), str(tmp_path / "o.nii.gz")]) == 1
    assert "o.nii.gz: already exists" in capsys.readouterr().err


def test_convert_with_unknown_series_uid_fails_with_message(tmp_path, ingest_write_series, capsys):
    ingest_write_series(tmp_path / "dcm")
    assert main(["convert", str(tmp_path / "dcm"), str(tmp_path / "o.nii.gz"), "--series-uid", "9.9"]) == 1
    assert "no DICOM series with SeriesInstanceUID 9.9" in capsys.readouterr().err
    assert not (tmp_path / "o.nii.gz").exists()


def _grey_volume(path: Path, values: list[int]) -> None:
    image = sitk.GetImageFromArray(np.array(values, np.uint8).reshape(1, 1, -1))
    image.SetSpacing((0.5, 0.6, 3.0))
    sitk.WriteImage(image, str(path))


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--preset", "chaos"], [0, 1, 2, 3, 4]),
        (["--preset", "chaos-ranges"], [0, 1, 2, 3, 4]),
        (["--map", "63=1", "126=2", "189=3", "252=4"], [0, 1, 2, 3, 4]),
        (["--ranges", "55-70=1", "110-135=2", "175-200=3", "240-255=4"], [0, 1, 2, 3, 4]),
    ],
)
def test_remap_labels_maps(tmp_path, options, expected):
    _grey_volume(tmp_path / "mask.nrrd", [0, 63, 126, 189, 252])
    assert main(["remap-labels", str(tmp_path / "mask.nrrd"), str(tmp_path / "l.nii.gz"), *options]) == 0
    out = sitk.ReadImage(str(tmp_path / "l.nii.gz"))
    assert sitk.GetArrayFromImage(out).ravel().tolist() == expected
    assert out.GetSpacing() == pytest.approx((0.5, 0.6, 3.0), rel=1e-6)


def test_remap_labels_refuses_unmapped_values_unless_nearest(tmp_path, capsys):
    _grey_volume(tmp_path / "mask.nii.gz", [0, 63, 80, 80])
    target = tmp_path / "l.nii.gz"
    assert main(["remap-labels", str(tmp_path / "mask.nii.gz"), str(target), "--preset", "chaos"]) == 1
    assert "values outside the label map: 80 (2 voxels)" in capsys.readouterr().err
    assert not target.exists()
    assert (
        main(["remap-labels", str(tmp_path / "mask.nii.gz"), str(target), "--preset", "chaos", "--nearest"])
        == 0
    )
    assert sitk.GetArrayFromImage(sitk.ReadImage(str(target))).ravel().tolist() == [0, 1, 1, 1]
    assert main(["remap-labels", str(tmp_path / "mask.nii.gz"), str(tmp_path / "x.nii.gz")]) == 1
    assert "no label map" in capsys.readouterr().err


def test_remap_labels_folder_to_folder(tmp_path):
    (tmp_path / "in").mkdir()
    _grey_volume(tmp_path / "in" / "a.nii.gz", [0, 63])
    _grey_volume(tmp_path / "in" / "b.mha", [252, 0])
    assert main(["remap-labels", str(tmp_path / "in"), str(tmp_path / "out"), "--preset", "chaos"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.nii.gz", "b.nii.gz"]
    assert sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "out" / "b.nii.gz"))).ravel().tolist() == [
        4,
        0,
    ]


def test_prepare_chaos_then_validate(tmp_path, capsys):
    write_chaos_raw(tmp_path / "raw", n_patients=2, size=(32, 32, 16))
    out = tmp_path / "data"
    assert main(["prepare", "chaos", str(tmp_path / "raw"), str(out), "--workers", "1", "--seed", "4"]) == 0
    assert json.loads((out / "datalist.json").read_text(encoding="utf-8"))["seed"] == 4
    assert main(["validate", str(out), "--report", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["ok"] is True
    # a second run into the same folder is refused; --overwrite replaces it
    assert main(["prepare", "chaos", str(tmp_path / "raw"), str(out), "--workers", "1"]) == 1
    assert "output folder already holds results" in capsys.readouterr().err
    assert main(["prepare", "chaos", str(tmp_path / "raw"), str(out), "--workers", "1", "--overwrite"]) == 0


def test_prepare_refuses_output_inside_raw_folder(tmp_path, capsys):
    root = write_kvasir_raw(tmp_path / "raw", n_images=2)
    assert main(["prepare", "kvasir", str(root), str(root / "out"), "--workers", "1"]) == 1
    assert "must not contain or sit inside the raw folder" in capsys.readouterr().err
    assert not (root / "out").exists()
