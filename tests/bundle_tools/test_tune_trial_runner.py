"""One ``tune`` trial's process: curves polled per epoch, pruning kills its process group, a failure's
error line, and no training left behind when the tuner dies. A tiny script stands in for the training."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bundle_tools.tune.trial_runner import last_error_line, read_curves, run_trial, trial_command

# a stand-in training: writes runs/training_curves.csv (atomically) after each of EPOCHS epochs, starts a
# child in its process group (a data-loader worker) and writes the child's pid; FAIL=1 ends in an error
FAKE_TRAINING = textwrap.dedent(
    """
    import os, subprocess, sys, time
    folder, epochs, fail = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
    os.makedirs(os.path.join(folder, "runs"), exist_ok=True)
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    open(os.path.join(folder, "worker.pid"), "w").write(str(worker.pid))
    rows = ["epoch,loss,val_mean_dice"]
    for epoch in range(1, epochs + 1):
        time.sleep(0.2)
        rows.append(f"{epoch},{1 / epoch},{epoch / 10}" if epoch % 2 == 0 else f"{epoch},{1 / epoch},")
        tmp = os.path.join(folder, "runs", ".training_curves.csv.tmp")
        open(tmp, "w").write("\\n".join(rows) + "\\n")
        os.replace(tmp, os.path.join(folder, "runs", "training_curves.csv"))
    worker.kill()
    if fail:
        print("Traceback (most recent call last):\\n  File x", file=sys.stderr)
        print("ValueError: bad learning rate", file=sys.stderr)
        sys.exit(1)
    """
)


def _command(folder: Path, epochs: int, fail: bool = False) -> list[str]:
    return [sys.executable, "-c", FAKE_TRAINING, str(folder), str(epochs), "1" if fail else "0"]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _wait_dead(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def test_trial_command_runs_training_in_the_trial_folder_with_an_args_file(tmp_path):
    cmd = trial_command(
        "b/configs/train.json", "data", tmp_path / "0001", ["--epochs", "2"], tmp_path / "o.json"
    )
    assert cmd[1:5] == ["-m", "monai.bundle", "run", "training"]
    assert cmd[cmd.index("--bundle_root") + 1] == str(tmp_path / "0001")
    assert cmd[cmd.index("--config_file") + 1] == str(Path("b/configs/train.json").absolute())
    assert cmd[-4:] == ["--epochs", "2", "--args_file", str(tmp_path / "o.json")]


def test_trial_reports_each_validated_epoch_in_order_and_logs_its_output(tmp_path):
    reported = []
    result = run_trial(
        _command(tmp_path, 4),
        tmp_path,
        "val_mean_dice",
        lambda e, v: reported.append((e, v)),
        poll_seconds=0.05,
    )
    assert result.returncode == 0 and not result.pruned and result.error is None
    assert reported == [(2, 0.2), (4, 0.4)]  # odd epochs have no validation
    assert result.values == {2: 0.2, 4: 0.4} and result.epochs == 4
    assert (tmp_path / "train.log").read_text().startswith("$ ")
    assert [r["epoch"] for r in read_curves(tmp_path / "runs" / "training_curves.csv")] == [1, 2, 3, 4]


def test_pruned_trial_is_killed_with_its_process_group(tmp_path):
    result = run_trial(
        _command(tmp_path, 200), tmp_path, "val_mean_dice", lambda e, v: e >= 2, poll_seconds=0.05
    )
    assert result.pruned and result.returncode == -signal.SIGKILL
    assert max(result.values) < 200
    assert _wait_dead(int((tmp_path / "worker.pid").read_text()))


def test_failed_trial_keeps_the_last_error_line_of_its_log(tmp_path):
    result = run_trial(_command(tmp_path, 2, fail=True), tmp_path, "val_mean_dice", poll_seconds=0.05)
    assert result.returncode == 1 and not result.pruned
    assert result.error == "ValueError: bad learning rate"
    log = tmp_path / "other.log"
    log.write_text("INFO start\nerror: data/x.nii.gz: no such file\nINFO shutting down\n")
    assert last_error_line(log) == "error: data/x.nii.gz: no such file"
    log.write_text("INFO start\nKilled\n\n")
    assert last_error_line(log) == "Killed"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_training_dies_with_a_killed_tuner(tmp_path):
    tuner = textwrap.dedent(
        f"""
        import sys
        from bundle_tools.tune.trial_runner import run_trial
        run_trial({_command(tmp_path, 500)!r}, {str(tmp_path)!r}, "val_mean_dice", poll_seconds=0.05)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", tuner], env=env, start_new_session=True)
    curves = tmp_path / "runs" / "training_curves.csv"
    deadline = time.monotonic() + 60
    while not curves.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert curves.exists(), "the stand-in training never started"
    children = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    assert len(children) == 1
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    try:
        assert _wait_dead(children[0])
    finally:  # the stand-in's own child is an orphan now (a real data-loader worker exits by itself)
        os.kill(int((tmp_path / "worker.pid").read_text()), signal.SIGKILL)


def test_trial_env_gives_each_job_slot_a_gpu_or_a_share_of_the_cpu(monkeypatch):
    from bundle_tools.tune.trial_runner import trial_env, visible_gpus

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    assert visible_gpus() == ["2", "5"]
    assert [trial_env(slot, 3, ["2", "5"])["CUDA_VISIBLE_DEVICES"] for slot in range(3)] == ["2", "5", "2"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert trial_env(0, 2, [])["OMP_NUM_THREADS"] == "4"
    assert "OMP_NUM_THREADS" not in trial_env(0, 1, [])
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert trial_env(0, 2, [])["OMP_NUM_THREADS"] == "1"  # the user's setting wins
    assert str(Path(__file__).resolve().parents[2]) in trial_env(0, 1, [])["PYTHONPATH"]
