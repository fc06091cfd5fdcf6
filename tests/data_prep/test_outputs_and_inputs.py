"""No command writes onto its own input; analyze refuses NaN/inf voxels; prepare's outputs take the
umask's modes."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk

from data_prep.cli import main
from data_prep.synth.raw_layouts import write_kvasir_raw

sys.path.insert(0, str(Path(__file__).resolve().parent))  # --import-mode=importlib: the helpers by path
from dataset_helpers import write_manifest  # noqa: E402


def _error_line(capsys, path) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0], err
    return lines[0]


def _mask(path: Path) -> Path:
    sitk.WriteImage(sitk.GetImageFromArray(np.array([[[0, 63], [126, 0]]], np.uint8)), str(path))
    return path


def test_convert_refuses_to_write_onto_its_input(tmp_path, capsys):
    volume = _mask(tmp_path / "scan.nii.gz")
    before = volume.read_bytes()
    assert main(["convert", str(volume), str(volume), "--overwrite"]) == 1
    assert "is the input" in _error_line(capsys, volume)
    assert volume.read_bytes() == before


def test_convert_refuses_an_output_inside_the_input_folder(
    tmp_path, capsys, ingest_write_series, ingest_tree_hash
):
    series = ingest_write_series(tmp_path / "dicom", size=(8, 8, 4))
    before = ingest_tree_hash(series.folder)
    out = series.folder / "nifti" / "t2.nii.gz"
    assert main(["convert", str(series.folder), str(out)]) == 1
    assert "is the input" in _error_line(capsys, out)
    assert ingest_tree_hash(series.folder) == before


def test_remap_labels_refuses_to_write_onto_its_input_file_or_folder(tmp_path, capsys, ingest_tree_hash):
    (tmp_path / "in").mkdir()
    mask = _mask(tmp_path / "in" / "mask.nii.gz")
    before = ingest_tree_hash(tmp_path / "in")
    for source, out in (
        (mask, mask),
        (tmp_path / "in", tmp_path / "in"),
        (tmp_path / "in", tmp_path / "in" / "remapped"),
        (tmp_path / "in", tmp_path),
    ):
        assert main(["remap-labels", str(source), str(out), "--preset", "chaos", "--overwrite"]) == 1
        assert "is the input" in _error_line(capsys, out)
        assert ingest_tree_hash(tmp_path / "in") == before


def _dataset_with_nan(root: Path) -> Path:
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    for name in ("c0", "c1"):
        image = np.arange(8 * 8 * 6, dtype=np.float32).reshape(8, 8, 6)
        if name == "c1":
            image[2, 3, 1], image[4, 4, 4] = np.nan, np.inf
        label = (np.arange(8 * 8 * 6).reshape(8, 8, 6) % 3).astype(np.uint8)
        nib.save(nib.Nifti1Image(image, np.eye(4)), str(root / "imagesTr" / f"{name}.nii.gz"))
        nib.save(nib.Nifti1Image(label, np.eye(4)), str(root / "labelsTr" / f"{name}.nii.gz"))
    write_manifest(root, ("c0", "c1"))
    return root


def test_analyze_and_validate_refuse_nan_and_infinite_voxels_naming_the_file(tmp_path, capsys):
    dataset = _dataset_with_nan(tmp_path / "data")
    bad = dataset / "imagesTr" / "c1.nii.gz"
    assert main(["analyze", str(dataset), "--workers", "1"]) == 1
    assert "2 voxels are NaN or infinite" in _error_line(capsys, bad)
    assert not (dataset / "plan.json").exists() and not (dataset / "fingerprint.json").exists()
    assert main(["validate", str(dataset), "--workers", "1"]) == 1
    assert "imagesTr/c1.nii.gz: 2 voxels are NaN or infinite" in capsys.readouterr().err


def test_prepare_outputs_take_the_modes_the_umask_gives(tmp_path):
    raw = write_kvasir_raw(tmp_path / "raw", n_images=2)
    out = tmp_path / "data"
    old = os.umask(0o022)
    try:
        assert main(["prepare", "kvasir", str(raw), str(out), "--workers", "1"]) == 0
    finally:
        os.umask(old)
    written = [out, *out.rglob("*")]
    assert {p.suffix for p in written if p.is_file()} >= {".json", ".gz"}
    for path in written:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), (path, oct(mode))
