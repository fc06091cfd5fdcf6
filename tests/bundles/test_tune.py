"""``python -m bundle_tools tune`` end to end on the abdominal bundle and a tiny synthetic dataset.

Three short trials with the median pruner; the tuner is killed (SIGKILL of its process group) while its
second trial trains, and the same command resumes the study: the finished trial is not rerun, the
interrupted one runs again with the same values, and the reports and ``best_overrides.json`` are
written; a 1-epoch training then reads ``best_overrides.json`` with ``--args_file``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BUNDLE = "abdominal_mri_attention_unet"
SPACE = {
    "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
    "optimizer_type": {"type": "categorical", "choices": ["adamw", "sgd"]},
    "network_def#channels": {"type": "categorical", "choices": [[8, 16, 32, 64], [16, 32, 64, 128]]},
}
SMALL = [
    "--iterations_per_epoch",
    "2",
    "--roi_size",
    "[32,32,32]",
    "--num_workers",
    "0",
    "--progress_bar",
    "False",
]
SMALL += ["--postprocess", "False"]
TRIAL_OVERRIDES = ["--epochs", "2", *SMALL]


def _study(out: Path):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name="tune", storage=f"sqlite:///{out / 'study.db'}")


def _training_processes(out: Path) -> list[int]:
    """Processes whose command line names the search folder (the trials' trainings)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError, ValueError):
            continue
        if str(out) in cmdline and "monai.bundle" in cmdline and state != "Z":
            pids.append(int(proc.name))
    return pids


def test_tune_prunes_survives_a_kill_resumes_and_writes_a_usable_best(tmp_path, datasets, bh):
    from optuna.trial import TrialState

    data = datasets(BUNDLE)
    (tmp_path / "space.json").write_text(json.dumps(SPACE))
    out = tmp_path / "search"
    cmd = [sys.executable, "-m", "bundle_tools", "tune", bh.BUNDLES / BUNDLE, "--dataset_dir", data]
    cmd += ["--space", tmp_path / "space.json", "--trials", "3", "--output", out, "--seed", "1"]
    cmd += ["--pruner", "median", "--startup-trials", "1", "--poll-seconds", "0.5", "--", *TRIAL_OVERRIDES]
    cmd = [str(c) for c in cmd]

    # first run: killed with its whole process group once trial 0 is over and trial 1 trains
    with open(tmp_path / "first.log", "w") as log:
        tuner = subprocess.Popen(
            cmd, cwd=tmp_path, env=bh.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 240
        second_log = out / "trials" / "0001" / "train.log"
        while time.monotonic() < deadline and tuner.poll() is None:
            if second_log.exists() and "input summary" in second_log.read_text(errors="replace"):
                break
            time.sleep(0.5)
        assert tuner.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        assert second_log.exists(), "trial 1 never started"
    finally:
        if tuner.poll() is None:
            os.killpg(tuner.pid, signal.SIGKILL)
        tuner.wait()
    deadline = time.monotonic() + 30
    while _training_processes(out) and time.monotonic() < deadline:  # the training dies with the tuner
        time.sleep(0.2)
    assert not _training_processes(out)
    first = {t.number: t for t in _study(out).trials}
    assert first[0].state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert first[1].state == TrialState.RUNNING  # what the killed tuner left
    trial0_log = (out / "trials" / "0000" / "train.log").read_bytes()

    # second run: the same command resumes
    resumed = subprocess.run(cmd, cwd=tmp_path, env=bh.env(), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-4000:]
    assert "trial(s) 1 were interrupted and will run again" in resumed.stdout
    trials = {t.number: t for t in _study(out).trials}
    assert trials[0].state == first[0].state and trials[0].datetime_complete == first[0].datetime_complete
    assert (out / "trials" / "0000" / "train.log").read_bytes() == trial0_log  # not rerun
    assert trials[1].state == TrialState.FAIL and trials[1].user_attrs["interrupted"] is True
    assert trials[2].user_attrs["retry_of"] == 1 and trials[2].params == first[1].params
    assert sorted(trials) == [0, 1, 2, 3]
    finished = [t for t in trials.values() if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 3
    for t in finished:  # the pruner saw every validated epoch
        assert set(t.intermediate_values) == set(range(1, t.user_attrs["epochs"] + 1))
        assert t.user_attrs["epochs"] == 2 or t.state == TrialState.PRUNED

    # the reports
    rows = (out / "trials.csv").read_text().splitlines()
    assert rows[0].startswith("trial,state,val_mean_dice,epochs,seconds,learning_rate,optimizer_type,")
    assert [r.split(",")[1] for r in rows[1:3]] == [
        {"COMPLETE": "complete", "PRUNED": "pruned"}[first[0].state.name],
        "interrupted",
    ]
    assert "| 1 | interrupted |" in (out / "trials.md").read_text()
    assert (out / "metric_per_trial.png").stat().st_size > 1000
    best = json.loads((out / "best_overrides.json").read_text())
    assert set(best) == set(SPACE) and isinstance(best["network_def#channels"], list)
    assert (out / "best_training_curves.png").stat().st_size > 1000
    complete = [t for t in finished if t.state == TrialState.COMPLETE]
    assert (out / "param_importances.png").exists() == (len(complete) >= 2)

    # best_overrides.json is an args file monai.bundle accepts
    final = tmp_path / "final"
    args = ["run", "training", "--config_file", bh.BUNDLES / BUNDLE / "configs" / "train.json"]
    args += ["--dataset_dir", data, "--bundle_root", final, "--args_file", out / "best_overrides.json"]
    proc = bh.run_bundle([*args, "--epochs", "1", *SMALL], cwd=tmp_path)
    assert f"> learning_rate: {best['learning_rate']!r}" in proc.stdout + proc.stderr
    assert (final / "models" / "model.pt").is_file()
