"""Command lines: an output that cannot be written and an unreadable dataset.json give one line, ``error:``
and the path, exit 1, no traceback; ``--debug`` and ``SEG3D_DEBUG=1`` give the traceback instead."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from data_prep.cli import main
from data_prep.errors import DataPrepError, user_error_message
from data_prep.synth.raw_layouts import write_kvasir_raw

sys.path.insert(0, str(Path(__file__).resolve().parent))  # --import-mode=importlib: the helpers by path
from dataset_helpers import write_manifest  # noqa: E402


def _one_error_line(capsys, path) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert str(path) in lines[0], err
    return lines[0]


def _volume(path: Path) -> Path:
    sitk.WriteImage(sitk.GetImageFromArray(np.array([[[0, 63], [126, 0]]], np.uint8)), str(path))
    return path


def _dataset(root: Path) -> Path:
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    image = sitk.GetImageFromArray(np.arange(6 * 8 * 8, dtype=np.float32).reshape(6, 8, 8))
    label = sitk.GetImageFromArray((np.arange(6 * 8 * 8).reshape(6, 8, 8) % 3).astype(np.uint8))
    for name in ("c0", "c1"):
        sitk.WriteImage(image, str(root / "imagesTr" / f"{name}.nii.gz"))
        sitk.WriteImage(label, str(root / "labelsTr" / f"{name}.nii.gz"))
    write_manifest(root, ("c0", "c1"))
    return root


def _commands(tmp_path: Path, out: Path) -> dict[str, list[str]]:
    """Every writing command, with ``out`` as its output."""
    raw = write_kvasir_raw(tmp_path / "raw", n_images=2)
    volume = _volume(tmp_path / "mask.nrrd")
    dataset = _dataset(tmp_path / "data")
    return {
        "prepare": ["prepare", "kvasir", str(raw), str(out), "--workers", "1"],
        "convert": ["convert", str(volume), str(out)],
        "synth": [
            "synth",
            "abdominal",
            str(out),
            "--cases",
            "2",
            "--size",
            "16",
            "16",
            "16",
            "--workers",
            "1",
        ],
        "synth raw": ["synth", "chaos-raw", str(out), "--cases", "1"],
        "validate --report": ["validate", str(dataset), "--report", str(out), "--workers", "1"],
        "remap-labels": ["remap-labels", str(volume), str(out), "--preset", "chaos"],
    }


def test_an_output_below_a_file_is_one_error_line_for_every_command(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = blocker / "out.nii.gz"
    for name, argv in _commands(tmp_path, out).items():
        assert main(argv) == 1, name
        line = _one_error_line(capsys, out)
        assert f"{blocker} is a file" in line, name
        assert blocker.read_text() == "not a folder"


def test_an_output_of_the_wrong_kind_is_one_error_line(tmp_path, capsys):
    commands = _commands(tmp_path, tmp_path / "x")
    folder = tmp_path / "taken.nii.gz"
    folder.mkdir()
    (folder / "keep").write_text("mine")
    a_file = tmp_path / "taken_file"
    a_file.write_text("mine")
    for name, argv in commands.items():
        out = a_file if name in ("prepare", "synth", "synth raw") else folder
        argv = [str(out) if arg == str(tmp_path / "x") else arg for arg in argv] + (
            ["--overwrite"] if name not in ("validate --report",) else []
        )
        assert main(argv) == 1, name
        _one_error_line(capsys, out)
    assert (folder / "keep").read_text() == "mine" and a_file.read_text() == "mine"


def test_an_output_folder_without_write_permission_is_one_error_line(tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    # root may write anywhere, so the permission is taken away where the project asks for it
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != locked and real_access(p, mode))
    for name, argv in _commands(tmp_path, locked / "out.nii.gz").items():
        assert main(argv) == 1, name
        assert "no write permission in" in _one_error_line(capsys, locked / "out.nii.gz")
    assert list(locked.iterdir()) == []


def test_an_os_error_naming_its_file_is_one_error_line(tmp_path, capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "data" / "x.tmp"))

    dataset = _dataset(tmp_path / "data")
    monkeypatch.setattr("tempfile.mkstemp", refuse)
    assert main(["analyze", str(dataset), "--workers", "1"]) == 1
    assert _one_error_line(capsys, tmp_path / "data" / "x.tmp").endswith("x.tmp: permission denied")


@pytest.mark.parametrize("command", ["validate", "split", "analyze"])
def test_an_unreadable_dataset_json_is_one_error_line_naming_it(tmp_path, capsys, monkeypatch, command):
    dataset = _dataset(tmp_path / "data")
    manifest = dataset / "dataset.json"
    manifest.write_text("{not json")
    assert main([command, str(dataset)]) == 1
    assert "not valid JSON" in _one_error_line(capsys, manifest)
    manifest.unlink()
    manifest.mkdir()
    assert main([command, str(dataset)]) == 1
    assert "is a folder, not a JSON file" in _one_error_line(capsys, manifest)
    manifest.rmdir()
    manifest.write_text("{}")
    real_read_text = Path.read_text

    def unreadable(self, *args, **kwargs):
        if self == manifest:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", unreadable)
    assert main([command, str(dataset)]) == 1
    assert "cannot be read (permission denied)" in _one_error_line(capsys, manifest)


def test_debug_flag_and_environment_variable_give_the_traceback(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataPrepError, match="nowhere"):
        main(["--debug", "validate", str(missing)])
    monkeypatch.setenv("SEG3D_DEBUG", "1")
    with pytest.raises(DataPrepError, match="nowhere"):
        main(["validate", str(missing)])


def test_user_error_message_is_one_line_for_input_errors_and_none_for_bugs():
    assert user_error_message(DataPrepError("a.json: bad\nsecond line")) == "a.json: bad; second line"
    assert user_error_message(NotADirectoryError(20, "Not a directory", "out/x")) == "out/x: not a directory"
    assert user_error_message(FileNotFoundError("no name")) is None
    try:
        json.loads("{")
    except json.JSONDecodeError as err:
        assert user_error_message(err).startswith("not valid JSON")
    assert user_error_message(ValueError("a bug")) is None
    assert user_error_message(KeyError("k")) is None
