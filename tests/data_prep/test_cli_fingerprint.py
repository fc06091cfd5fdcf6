"""``python -m data_prep synth | split | analyze``: exit codes, files written, refusals."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from data_prep import cli

FINGERPRINT_COMMANDS = ("data_prep.commands.split", "data_prep.commands.analyze", "data_prep.commands.synth")


@pytest.fixture(autouse=True, scope="module")
def _only_fingerprint_commands():
    """Build the CLI from this part's commands only, whatever state the other commands are in."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "COMMAND_MODULES", FINGERPRINT_COMMANDS)
        yield


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, _only_fingerprint_commands):
    root = tmp_path_factory.mktemp("cli") / "abd"
    assert (
        cli.main(
            ["synth", "abdominal", str(root), "--cases", "6", "--size", "32", "32", "16", "--workers", "1"]
        )
        == 0
    )
    return root


def test_synth_writes_a_ready_dataset(dataset):
    for name in ("dataset.json", "datalist.json", "plan.json"):
        assert (dataset / name).is_file()
    assert len(list((dataset / "imagesTr").glob("*.nii.gz"))) == 6


def test_split_rewrites_the_datalist_for_the_asked_fold(dataset, capsys):
    assert cli.main(["split", str(dataset), "--folds", "2", "--fold", "1", "--seed", "4"]) == 0
    datalist = json.loads((dataset / "datalist.json").read_text(encoding="utf-8"))
    assert (datalist["num_folds"], datalist["fold"], datalist["seed"]) == (2, 1, 4)
    assert {e["patient"] for e in datalist["validation"]} == set(datalist["folds"][1])
    assert "datalist.json" in capsys.readouterr().out


def test_split_proportions_option(dataset):
    assert cli.main(["split", str(dataset), "--proportions", "0.5", "0.25", "0.25"]) == 0
    assert json.loads((dataset / "datalist.json").read_text(encoding="utf-8"))["proportions"] == [
        0.5,
        0.25,
        0.25,
    ]
    assert cli.main(["split", str(dataset), "--proportions", "0.5", "0.5", "0.5"]) == 1


def test_analyze_writes_the_fingerprint_and_the_plan(dataset, capsys):
    (dataset / "plan.json").unlink()
    assert cli.main(["analyze", str(dataset), "--workers", "1"]) == 0
    plan = json.loads((dataset / "plan.json").read_text(encoding="utf-8"))
    fingerprint = json.loads((dataset / "fingerprint.json").read_text(encoding="utf-8"))
    assert fingerprint["num_cases"] == 6 and len(plan["class_weights"]) == 5
    out = capsys.readouterr().out
    assert "liver" in out and f"patch {plan['patch_size']}" in out


def test_analyze_sizes_the_patch_for_the_memory_budget(dataset):
    assert cli.main(["analyze", str(dataset), "--workers", "1", "--memory-budget-gb", "0.001"]) == 0
    small = json.loads((dataset / "plan.json").read_text(encoding="utf-8"))
    assert cli.main(["analyze", str(dataset), "--workers", "1", "--device", "cuda"]) == 0
    large = json.loads((dataset / "plan.json").read_text(encoding="utf-8"))
    assert np.prod(small["patch_size"]) < np.prod(large["patch_size"])
    assert (small["planned_for"], large["planned_for"]) == ("cpu", "cuda")
    assert large["memory_budget_gb"] == 8.0 and large["channels"][0] == 32


@pytest.mark.parametrize("command", ["split", "analyze"])
def test_a_folder_without_dataset_json_exits_1_naming_the_file(tmp_path, capsys, command):
    assert cli.main([command, str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and f"{tmp_path / 'dataset.json'}: no such file" in err
    assert list(tmp_path.iterdir()) == []


def test_synth_into_a_folder_with_results_is_refused_and_changes_nothing(dataset, capsys):
    before = {p: p.stat().st_mtime_ns for p in dataset.rglob("*")}
    assert cli.main(["synth", "pancreas", str(dataset), "--cases", "2", "--size", "32", "32", "16"]) == 1
    assert "already holds results" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in dataset.rglob("*")} == before


def test_synth_refuses_a_size_too_small(tmp_path, capsys):
    assert cli.main(["synth", "pancreas", str(tmp_path / "x"), "--size", "8", "8", "8"]) == 1
    assert "--size" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_raw_layouts_dispatch_to_raw_layouts_module(tmp_path, monkeypatch):
    calls = []
    fake = types.ModuleType("data_prep.synth.raw_layouts")

    def write_chaos_raw(out_dir, n_patients=4, seed=0, size=(48, 48, 16)):
        calls.append(("chaos", out_dir, n_patients, seed, size))
        return out_dir

    def write_msd_raw(out_dir, task="Task07_Pancreas", n_cases=4, seed=0, size=(48, 48, 24)):
        calls.append(("msd", out_dir, task, n_cases, seed, size))
        return out_dir / task

    fake.write_chaos_raw, fake.write_msd_raw = write_chaos_raw, write_msd_raw
    monkeypatch.setitem(sys.modules, "data_prep.synth.raw_layouts", fake)
    monkeypatch.setattr(sys.modules["data_prep.synth"], "raw_layouts", fake, raising=False)
    assert cli.main(["synth", "chaos-raw", str(tmp_path / "c"), "--cases", "3", "--seed", "2"]) == 0
    assert (
        cli.main(
            [
                "synth",
                "msd-raw",
                str(tmp_path / "m"),
                "--msd-task",
                "Task01_BrainTumour",
                "--size",
                "32",
                "32",
                "16",
            ]
        )
        == 0
    )
    assert calls == [
        ("chaos", tmp_path / "c", 3, 2, (48, 48, 16)),
        ("msd", tmp_path / "m", "Task01_BrainTumour", 4, 0, (32, 32, 16)),
    ]
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "old").write_text("x")
    assert cli.main(["synth", "chaos-raw", str(tmp_path / "c")]) == 1
    assert len(calls) == 2


def test_help_explains_each_command(capsys):
    for command in ("split", "analyze", "synth"):
        with pytest.raises(SystemExit) as exit_info:
            cli.main([command, "--help"])
        assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for text in (
        "--folds",
        "--proportions",
        "--workers",
        "chaos-raw",
        "--msd-task",
        "--overwrite",
        "plan.json",
    ):
        assert text in out


def test_python_dash_m_data_prep_reports_bad_input_with_exit_1(tmp_path):
    """The real entry point, with every command registered."""
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "data_prep", "analyze", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 1
    assert f"error: {tmp_path / 'dataset.json'}: no such file" in result.stderr
    assert "Traceback" not in result.stderr
