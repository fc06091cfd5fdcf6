"""When and how the kill soak kills a training run (``kill_soak.py``): wait for the moment of a kill of one kind
(at start-up, after a new checkpoint, at a random time, or while a watched file is being written), then
SIGKILL the run's whole session."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

__all__ = ["POLL_S", "WATCHED", "await_kill_moment", "kill_session"]

WATCHED = ("checkpoint_latest.pt", "model.pt", "plan.json")  # files whose writes `write` kills aim at
POLL_S = 0.002


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def _watched_temporary(models: Path) -> str | None:
    for name in os.listdir(models):
        if any(name.startswith(f".{w}.") for w in WATCHED) and ".tmp" in name:
            return name
    return None


def kill_session(proc: subprocess.Popen) -> bool:
    """SIGKILL the run's session; False when it had already exited."""
    if proc.poll() is not None:
        return False
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    proc.wait()
    return proc.returncode == -signal.SIGKILL


def await_kill_moment(
    proc: subprocess.Popen, kind: str, models: Path, rng: random.Random, max_delay_s: float, startup_s: float
) -> bool:
    """Wait for the moment of a ``kind`` kill; False when the run exited first."""
    ckpt = models / "checkpoint_latest.pt"
    start = time.monotonic()
    if kind == "startup":
        deadline = start + rng.uniform(0.2, startup_s)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            time.sleep(0.01)
        return True
    before = _stamp(ckpt)
    while _stamp(ckpt) == before:  # progress first: a new checkpoint of this run
        if proc.poll() is not None:
            return False
        time.sleep(POLL_S if kind == "write" else 0.02)
    if kind == "random":
        deadline = time.monotonic() + rng.uniform(0.0, max_delay_s)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            time.sleep(0.01)
        return True
    skip, seen = rng.randint(0, 1), set()
    while proc.poll() is None:
        name = _watched_temporary(models)
        if name is not None and name not in seen:
            if len(seen) >= skip:
                return True
            seen.add(name)
        time.sleep(POLL_S)
    return False
