"""Shared fixtures of the bundle tests: tiny synthetic datasets and copies of the bundles in tmp_path.

Every test that trains works on a copy of the bundle (``bundle_copy``) so the repository's ``models/``,
``runs/`` and ``eval/`` stay untouched; this also proves a bundle stands alone when copied out.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BUNDLES = REPO / "bundles"
SCHEMA = REPO / "bundle_tools" / "schemas" / "meta_schema.json"

# bundle name -> synthetic task of data_prep
BUNDLE_TASKS = {
    "abdominal_mri_attention_unet": "abdominal",
    "pancreas_ct_attention_unet": "pancreas",
    "brain_tumour_mri_cbam_unet": "brain_tumour",
    "polyp_kvasir_cbam_unet": "kvasir",
}
ATTENTION_BUNDLES = {"abdominal_mri_attention_unet", "pancreas_ct_attention_unet"}

# overrides of every smoke training: data, sizes, epochs only (plus CPU-friendly loader settings)
SMALL = [
    "--roi_size",
    "[32,32,32]",
    "--iterations_per_epoch",
    "4",
    "--num_workers",
    "0",
    "--progress_bar",
    "False",
]


def env() -> dict[str, str]:
    """The environment of a bundle subprocess: the repository importable, quiet warnings, 2 threads."""
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(REPO), e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    e.setdefault("OMP_NUM_THREADS", "2")
    e["PYTHONWARNINGS"] = "ignore"
    return e


def synth(task: str, out: Path, cases: int = 6, size: Sequence[int] = (40, 40, 32), seed: int = 0) -> Path:
    """``python -m data_prep synth TASK OUT --cases N --size X Y Z`` (in a subprocess, like a user).

    ``kvasir``: 12 pictures of ``size[:2]`` pixels (``synth kvasir-raw``), then ``prepare kvasir``.
    """
    if task == "kvasir":
        raw = out.with_name(out.name + "_raw")
        cmd = [sys.executable, "-m", "data_prep", "synth", "kvasir-raw", str(raw), "--cases", str(max(cases, 12)),
               "--size", *map(str, size[:2]), "--seed", str(seed)]  # fmt: skip
        subprocess.run(cmd, check=True, env=env(), capture_output=True, timeout=300)
        cmd = [sys.executable, "-m", "data_prep", "prepare", "kvasir", str(raw), str(out), "--workers", "1"]
        subprocess.run(cmd, check=True, env=env(), capture_output=True, timeout=300)
        return out
    cmd = [
        sys.executable,
        "-m",
        "data_prep",
        "synth",
        task,
        str(out),
        "--cases",
        str(cases),
        "--size",
        *map(str, size),
        "--seed",
        str(seed),
        "--workers",
        "1",
    ]
    subprocess.run(cmd, check=True, env=env(), capture_output=True, timeout=300)
    return out


def bundle_cmd(args: Sequence[Any]) -> list[str]:
    """The command line ``python -m monai.bundle ARGS`` (paths and numbers as strings)."""
    return [sys.executable, "-m", "monai.bundle", *map(str, args)]


def run_bundle(args: Sequence[Any], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m monai.bundle ARGS`` in ``cwd``; fails the test with the output tail on a non-zero exit."""
    cmd = bundle_cmd(args)
    proc = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-6000:]}")
    return proc


def popen_bundle(args: Sequence[Any], cwd: Path, capture_output: bool = False) -> subprocess.Popen:
    """``python -m monai.bundle ARGS`` started in ``cwd`` and in a new session, to watch while it runs.

    Stop it with :func:`stop_bundle`. With ``capture_output``, stdout and stderr go to one text pipe.
    """
    return subprocess.Popen(
        bundle_cmd(args),
        cwd=cwd,
        env=env(),
        stdout=subprocess.PIPE if capture_output else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if capture_output else subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


def stop_bundle(proc: subprocess.Popen) -> str:
    """Kill a :func:`popen_bundle` process and its workers (its session) if it still runs; its output."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    return proc.communicate()[0] or ""


def train_until(
    args: Sequence[Any], cwd: Path, best_path: Path, threshold: float, timeout: float = 420
) -> tuple:
    """Run a training (``python -m monai.bundle ARGS``) until ``best_path`` (written atomically at every new
    best) holds a metric above ``threshold``, the run ends, or ``timeout`` seconds pass; then stop it.

    Returns ``(best, output)``: the last ``{"metric", "epoch", ...}`` read (metric -inf when none) and the
    run's output.
    """
    import time

    import torch

    proc = popen_bundle(args, cwd=cwd, capture_output=True)
    best: dict[str, Any] = {"metric": float("-inf"), "epoch": 0}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if best_path.exists():
                best = torch.load(best_path, weights_only=True)
                if best["metric"] > threshold:
                    break
            if proc.poll() is not None:
                break
            time.sleep(1.0)
    finally:
        output = stop_bundle(proc)
    if best_path.exists():
        best = torch.load(best_path, weights_only=True)
    return best, output


def copy_bundle(name: str, dest_root: Path) -> Path:
    """A clean copy of ``bundles/NAME`` (configs, docs, LICENSE, empty models/) under ``dest_root``."""
    dest = dest_root / name
    ignore = shutil.ignore_patterns("*.pt", "*.ts", "runs", "eval", "__pycache__", "plan.json")
    shutil.copytree(BUNDLES / name, dest, ignore=ignore)
    return dest


@pytest.fixture(scope="session")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``datasets(bundle_name)``: a synthetic dataset folder for that bundle (made once per session)."""
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            root = tmp_path_factory.mktemp(f"data_{BUNDLE_TASKS[name]}")
            made[name] = synth(BUNDLE_TASKS[name], root / "ds")
        return made[name]

    return get


@pytest.fixture
def bundle_copy(tmp_path: Path) -> Callable[[str], Path]:
    """``bundle_copy(name)``: a copy of the bundle in this test's tmp_path."""
    return lambda name: copy_bundle(name, tmp_path)


def config_list(bundle: Path, *names: str) -> str:
    """The ``"['a.json','b.json']"`` form of ``--config_file`` for configs of ``bundle``."""
    return "[" + ",".join(f"'{bundle / 'configs' / n}'" for n in names) + "]"


def load_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def bh():
    """The helpers of this folder as one object (``--import-mode=importlib`` cannot import conftest)."""
    import types

    return types.SimpleNamespace(
        REPO=REPO,
        BUNDLES=BUNDLES,
        SCHEMA=SCHEMA,
        BUNDLE_TASKS=BUNDLE_TASKS,
        ATTENTION_BUNDLES=ATTENTION_BUNDLES,
        SMALL=SMALL,
        env=env,
        synth=synth,
        run_bundle=run_bundle,
        popen_bundle=popen_bundle,
        stop_bundle=stop_bundle,
        train_until=train_until,
        copy_bundle=copy_bundle,
        config_list=config_list,
        load_json=load_json,
    )
