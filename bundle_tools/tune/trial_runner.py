"""One trial of ``tune``: a real bundle training in its own folder, watched epoch by epoch.

The trial is ``python -m monai.bundle run training --config_file BUNDLE/configs/train.json --dataset_dir D
--bundle_root TRIAL [user overrides] --args_file TRIAL/overrides.json``: ``bundle_root`` moves the bundle's
``models/`` and ``runs/`` into the trial's folder (``ckpt_dir`` and ``output_dir`` derive from it), and the
trial's values go in an args file, so they keep their JSON types (a categorical ``"1e-3"`` stays a
string; a list stays a list), exactly as ``best_overrides.json`` is used later. Its stdout and stderr go
to ``TRIAL/train.log``.

The process runs in its own process group, so a pruned trial is stopped with its workers
(``os.killpg``); on Linux it also dies with the tuner (``PR_SET_PDEATHSIG``), so a killed tuner leaves no
training behind. With several CUDA devices visible, job slot ``i`` runs on the ``i``-th of them (modulo
their number, through ``CUDA_VISIBLE_DEVICES``); on the CPU, parallel jobs share the cores
(``OMP_NUM_THREADS`` = cores / jobs unless set).

While it runs, :func:`run_trial` polls ``TRIAL/runs/training_curves.csv`` (which
:class:`bundle_tools.handlers.TrainingCurves` rewrites atomically after every epoch) and hands each new
epoch's metric to a ``report`` callback that answers whether to prune.
"""

from __future__ import annotations

import csv
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "TrialResult",
    "last_error_line",
    "read_curves",
    "run_trial",
    "trial_command",
    "trial_env",
    "visible_gpus",
]

#: the project root, put on the trials' PYTHONPATH so they import the same packages as the tuner
_PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: where a trial's curves are, relative to its folder (``output_dir`` is ``bundle_root/runs``)
CURVES_CSV = Path("runs") / "training_curves.csv"

# sets PR_SET_PDEATHSIG (1) so the training dies with the tuner's thread that started it, then becomes it
_LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "try:\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))\n"
    "except Exception:\n"
    "    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    os._exit(1)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)

_ERROR_LINE = re.compile(r"^(error: |([A-Za-z_][\w.]*)?(Error|Exception|Interrupt)\b|Killed)")


@dataclass
class TrialResult:
    """What a trial did.

    Args:
        returncode: the exit status (negative: killed by that signal).
        pruned: the ``report`` callback asked to stop it, and it was killed.
        values: the metric by epoch, for the epochs that were validated.
        epochs: the epochs that completed (rows of the curves with a loss).
        seconds: wall time of the process.
        error: the last error line of its log when it failed, else None.
    """

    returncode: int
    pruned: bool = False
    values: dict[int, float] = field(default_factory=dict)
    epochs: int = 0
    seconds: float = 0.0
    error: str | None = None


def trial_command(
    config_file: str | os.PathLike,
    dataset_dir: str | os.PathLike,
    trial_dir: str | os.PathLike,
    user_overrides: Sequence[str] = (),
    args_file: str | os.PathLike | None = None,
) -> list[str]:
    """The ``python -m monai.bundle run training ...`` command of one trial (paths made absolute)."""
    command = [
        sys.executable,
        "-m",
        "monai.bundle",
        "run",
        "training",
        "--config_file",
        str(Path(config_file).absolute()),
        "--dataset_dir",
        str(Path(dataset_dir).absolute()),
        "--bundle_root",
        str(Path(trial_dir).absolute()),
        *user_overrides,
    ]
    if args_file is not None:
        command += ["--args_file", str(Path(args_file).absolute())]
    return command


def read_curves(path: str | os.PathLike) -> list[dict[str, float | None]]:
    """The rows of a ``training_curves.csv`` (numbers, or None for an empty cell); [] when there is none."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return []
    rows = []
    for row in csv.DictReader(text.splitlines()):
        rows.append({k: _number(v) for k, v in row.items() if k is not None})
    return rows


def last_error_line(log: str | os.PathLike, limit: int = 1 << 16) -> str:
    """The last line of a trial's log that reads as an error (``error: ...``, ``XxxError: ...``), else its
    last non-empty line; read from the last ``limit`` bytes."""
    try:
        with open(log, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - limit))
            lines = [
                line.strip() for line in f.read().decode("utf-8", "replace").splitlines() if line.strip()
            ]
    except OSError:
        return ""
    errors = [line for line in lines if _ERROR_LINE.match(line)]
    return (errors or lines or [""])[-1][:500]


def visible_gpus() -> list[str]:
    """The CUDA devices trials may use: ``CUDA_VISIBLE_DEVICES`` when set, else all that torch counts."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is not None:
        return [v.strip() for v in value.split(",") if v.strip() and v.strip() != "-1"]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except (ImportError, RuntimeError):
        return []


def trial_env(slot: int, jobs: int, gpus: Sequence[str]) -> dict[str, str]:
    """The environment of the trial in job slot ``slot``: the project importable, one GPU per slot when
    several are visible, a share of the CPU threads when jobs run on the CPU."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    if len(gpus) > 1:
        env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
    elif not gpus and jobs > 1 and "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    return env


def run_trial(
    command: Sequence[str],
    trial_dir: str | os.PathLike,
    metric: str,
    report: Callable[[int, float], bool] | None = None,
    env: Mapping[str, str] | None = None,
    poll_seconds: float = 2.0,
) -> TrialResult:
    """Run one trial and watch it; returns when its process has ended.

    Args:
        command: the trial's command (:func:`trial_command`).
        trial_dir: its folder; ``train.log`` is written there and the curves are read from ``runs/``.
        metric: the column of the curves to report (``val_mean_dice``).
        report: called once per validated epoch, in order, with ``(epoch, value)``; returning True kills
            the trial (pruned). A non-finite value is not reported.
        env: the process's environment (default this one's).
        poll_seconds: how often the curves are read.
    """
    trial_dir = Path(trial_dir)
    trial_dir.mkdir(parents=True, exist_ok=True)
    curves = trial_dir / CURVES_CSV
    reported: dict[int, float] = {}
    pruned = False
    start = time.monotonic()
    with open(trial_dir / "train.log", "ab") as log:
        log.write(("$ " + shlex.join(command) + "\n").encode())
        log.flush()
        launcher = [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *command]
        proc = subprocess.Popen(
            launcher,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
        try:
            while True:
                finished = _wait(proc, poll_seconds)
                for epoch, value in _new_values(read_curves(curves), metric, reported):
                    reported[epoch] = value
                    if report is not None and report(epoch, value) and not finished:
                        _kill_group(proc)
                        pruned = True
                        break
                if finished or pruned:
                    break
        except BaseException:  # the tuner is interrupted: stop the training too
            _kill_group(proc)
            raise
        finally:
            proc.wait()
    rows = read_curves(curves)
    result = TrialResult(
        returncode=proc.returncode,
        pruned=pruned,
        values=reported,
        epochs=sum(1 for r in rows if r.get("loss") is not None),
        seconds=time.monotonic() - start,
    )
    if proc.returncode != 0 and not pruned:
        result.error = last_error_line(trial_dir / "train.log") or f"exited with status {proc.returncode}"
    return result


def _new_values(rows: list[dict[str, float | None]], metric: str, reported: Mapping[int, float]):
    for row in rows:
        epoch, value = row.get("epoch"), row.get(metric)
        if epoch is None or value is None or not math.isfinite(value) or int(epoch) in reported:
            continue
        yield int(epoch), value


def _wait(proc: subprocess.Popen, seconds: float) -> bool:
    try:
        proc.wait(timeout=seconds)
        return True
    except subprocess.TimeoutExpired:
        return False


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None
