"""Bad input gives a clear error naming the file and writes nothing: no weights, weights that do not fit the
network, weights that are not a plain state dict, a destination that exists, a bundle without licence."""

from __future__ import annotations

import argparse
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bundle_tools.export import ExportError, export_monailabel, export_onnx, export_torchscript

NAME = "abdominal_mri_attention_unet"


@pytest.fixture
def bundle(eh, datasets, tmp_path) -> Path:
    """A trained copy this test may change."""
    return eh.make_trained_copy(NAME, tmp_path / "src", datasets(NAME))


def _assert_nothing_written(out_parent: Path) -> None:
    assert not out_parent.exists() or list(out_parent.iterdir()) == []


@pytest.mark.parametrize(
    "export", [export_torchscript, export_onnx, export_monailabel], ids=lambda f: f.__name__
)
def test_bundle_without_weights_is_refused(export, bundle, tmp_path):
    (bundle / "models" / "model.pt").unlink()
    with pytest.raises(ExportError, match=r"models/model\.pt: no trained weights"):
        export(bundle, tmp_path / "out" / "dest")
    _assert_nothing_written(tmp_path / "out")


def test_weights_with_missing_and_reshaped_tensors_are_refused(bundle, tmp_path):
    ckpt = torch.load(bundle / "models" / "model.pt", weights_only=True)
    keys = list(ckpt["model"])
    del ckpt["model"][keys[0]]
    ckpt["model"][keys[1]] = torch.zeros(3, 3)
    torch.save(ckpt, bundle / "models" / "model.pt")
    with pytest.raises(ExportError) as info:
        export_monailabel(bundle, tmp_path / "out" / "dest")
    message = str(info.value)
    assert "model.pt: weights do not match the network_def of" in message and "inference.json" in message
    assert f"1 missing ({keys[0]})" in message and f"{keys[1]} (3, 3)" in message
    _assert_nothing_written(tmp_path / "out")


def test_weights_of_another_network_are_refused(bundle, tmp_path):
    from custom_networks import CBAMUNet

    other = CBAMUNet(3, 1, 5, channels=(8, 16, 32))
    torch.save({"model": other.state_dict()}, bundle / "models" / "model.pt")
    with pytest.raises(ExportError, match="weights do not match the network_def"):
        export_torchscript(bundle, tmp_path / "out" / "dest")
    _assert_nothing_written(tmp_path / "out")


def test_checkpoint_needing_full_unpickling_is_refused(bundle, tmp_path):
    torch.save({"model": argparse.Namespace(a=1)}, bundle / "models" / "model.pt")
    with pytest.raises(
        ExportError, match=r"model\.pt: cannot be loaded with torch\.load\(weights_only=True\)"
    ):
        export_torchscript(bundle, tmp_path / "out" / "dest")
    _assert_nothing_written(tmp_path / "out")


def test_existing_destination_is_refused_and_left_alone(bundle, tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="dest: already exists"):
        export_torchscript(bundle, dest)
    assert [p.name for p in dest.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest", "src"]


def test_existing_zip_of_the_destination_is_refused(bundle, tmp_path):
    (tmp_path / "dest.zip").write_text("mine")
    with pytest.raises(ExportError, match=r"dest\.zip: already exists"):
        export_monailabel(bundle, tmp_path / "dest")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest.zip", "src"]


def test_failure_late_in_the_export_leaves_no_partial_output(bundle, tmp_path):
    (bundle / "LICENSE").unlink()
    with pytest.raises(ExportError, match="LICENSE: missing"):
        export_monailabel(bundle, tmp_path / "out" / "dest")
    _assert_nothing_written(tmp_path / "out")


def test_cli_reports_the_error_and_exits_non_zero(bundle, tmp_path, eh):
    (bundle / "models" / "model.pt").unlink()
    cmd = [sys.executable, "-m", "bundle_tools", "export", str(bundle), "--to", "torchscript",
           "--out", str(tmp_path / "dest")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=eh.subprocess_env(), timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and "model.pt: no trained weights" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "dest").exists()


def _one_error_line(capsys, path) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0], err
    return lines[0]


@pytest.mark.parametrize("target", ["torchscript", "onnx", "monailabel"])
def test_cli_refuses_a_destination_below_a_file_before_loading_the_bundle(target, tmp_path, capsys):
    from bundle_tools.cli import main

    blocker = tmp_path / "a_file"
    blocker.write_text("mine")
    dest = blocker / "dest"
    # the bundle folder does not even exist: the destination is checked first, in one line
    assert main(["export", str(tmp_path / "no_bundle"), "--to", target, "--out", str(dest)]) == 1
    assert f"{blocker} is a file" in _one_error_line(capsys, dest)
    assert blocker.read_text() == "mine"


def test_cli_refuses_a_destination_without_write_permission(tmp_path, capsys, monkeypatch):
    from bundle_tools.cli import main

    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != locked and real_access(p, mode))
    dest = locked / "dest"
    assert main(["export", str(tmp_path / "no_bundle"), "--to", "torchscript", "--out", str(dest)]) == 1
    assert "no write permission in" in _one_error_line(capsys, dest)


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o755), (0o027, 0o750)], ids=["022", "027"])
def test_staged_export_takes_the_umask_mode_and_removes_what_a_killed_export_left(tmp_path, umask, mode):
    from bundle_tools.export.errors import staged_outputs

    stale = [tmp_path / ".dest.abcd1234.partial", tmp_path / ".dest.zip.partial"]
    stale[0].mkdir()
    stale[1].write_text("half a zip")
    old = os.umask(umask)
    try:
        with staged_outputs(tmp_path / "dest", extra=(".zip",)) as (stage, files):
            (stage / "f").write_text("x")
            files[".zip"].write_text("zip")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "dest").stat().st_mode) == mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest", "dest.zip"]
