"""staged_output_dir: an old output folder is replaced whole or not at all, whatever step fails or is
killed; what a killed run left is cleaned up by the next one; the staged folder follows the umask."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from data_prep.errors import DataPrepError
from data_prep.io import staged_output_dir, write_json


def _old_output(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    for name in ("a.txt", "b.txt", "sub/c.txt"):
        (out / name).write_text("old")
    return out


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def _write_new(stage: Path) -> None:
    for name in ("a.txt", "b.txt", "sub/c.txt", "d.txt"):
        (stage / name).parent.mkdir(parents=True, exist_ok=True)
        (stage / name).write_text("new")


OLD = {"a.txt": "old", "b.txt": "old", "sub/c.txt": "old"}
NEW = {"a.txt": "new", "b.txt": "new", "d.txt": "new", "sub/c.txt": "new"}


class Injected(Exception):
    """The failure a test puts between two steps of the swap."""


def test_overwrite_leaves_the_output_wholly_old_or_wholly_new_at_every_failure(tmp_path, monkeypatch):
    real_rename, real_replace, real_rmtree = os.rename, os.replace, shutil.rmtree
    out = tmp_path / "out"

    failed = []

    def failing_move(real):
        def move(src, dst, *args, **kwargs):  # the first move of the step fails, a rollback may move back
            hit = step == "set aside" and Path(src) == out or step == "rename in" and Path(dst) == out
            if hit and step not in failed:
                failed.append(step)
                raise Injected(step)
            return real(src, dst, *args, **kwargs)

        return move

    def half_rmtree(path, ignore_errors=False, **kwargs):
        # the old folder's deletion dies after one file: only ever acceptable away from the final name
        if step == "delete old" and Path(path).parent == tmp_path and Path(path) != tmp_path:
            next(p for p in Path(path).rglob("*") if p.is_file()).unlink()
            if not ignore_errors:
                raise Injected(step)
            return None
        return real_rmtree(path, ignore_errors=ignore_errors, **kwargs)

    monkeypatch.setattr(os, "rename", failing_move(real_rename))
    monkeypatch.setattr(os, "replace", failing_move(real_replace))
    monkeypatch.setattr(shutil, "rmtree", half_rmtree)
    for step in ("set aside", "rename in", "delete old"):
        real_rmtree(out, ignore_errors=True)
        _old_output(tmp_path)
        try:
            with staged_output_dir(out, overwrite=True) as stage:
                _write_new(stage)
        except Injected:
            pass
        assert _tree(out) in (OLD, NEW), step
        step = None
        with staged_output_dir(out, overwrite=True) as stage:  # the next run cleans up and replaces
            _write_new(stage)
        assert _tree(out) == NEW, step
        assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_run_killed_between_set_aside_and_rename_in_gets_the_old_folder_back(tmp_path):
    out = _old_output(tmp_path)
    os.rename(out, tmp_path / ".out.k1ll3d_x.old")  # killed here: the old folder aside, the new one staged
    staged = tmp_path / ".out.abc_1234.partial"
    staged.mkdir()
    (staged / "a.txt").write_text("half")
    with pytest.raises(DataPrepError, match="out: output folder already holds results"):
        with staged_output_dir(out):  # the old results are back, so a run without --overwrite is refused
            pass
    assert _tree(out) == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_staging_folders_of_a_killed_run_are_removed_at_the_next_start_and_no_others(tmp_path):
    out = tmp_path / "out"
    stale = [tmp_path / ".out.abcd1234.partial", tmp_path / ".out.zz_9zz9z.old"]
    others = [tmp_path / ".out.x.abcd1234.partial", tmp_path / ".outer.abcd1234.partial"]
    for folder in stale + others:
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "f").write_text("x")
    out.mkdir()
    with staged_output_dir(out) as stage:
        assert not any(folder.exists() for folder in stale)
        (stage / "f").write_text("new")
    assert all(folder.exists() for folder in others)
    assert (out / "f").read_text() == "new"


@pytest.mark.parametrize(
    ("umask", "dirs", "files"), [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)], ids=["022", "027"]
)
def test_staged_folder_and_what_the_writers_make_in_it_follow_the_umask(tmp_path, umask, dirs, files):
    old = os.umask(umask)
    try:
        with staged_output_dir(tmp_path / "out") as stage:
            assert stat.S_IMODE(stage.stat().st_mode) == dirs
            write_json({"a": 1}, stage / "sub" / "x.json")
    finally:
        os.umask(old)
    out = tmp_path / "out"
    assert stat.S_IMODE(out.stat().st_mode) == dirs
    assert stat.S_IMODE((out / "sub").stat().st_mode) == dirs
    assert stat.S_IMODE((out / "sub" / "x.json").stat().st_mode) == files
