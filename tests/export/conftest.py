"""Fixtures of the export tests: trained copies of the bundles in tmp_path (never the repository's bundles/).

"Trained" means: a copy of ``bundles/<name>`` whose ``models/model.pt`` holds a freshly initialised network
(seeded) under ``"model"``, as the bundles' ``BestModelSaver`` writes it, and whose ``models/plan.json`` is
the plan of a tiny synthetic dataset (``python -m data_prep synth``), as training writes it. Exports only
need weights that fit the network; the values do not matter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUNDLES = REPO / "bundles"
BUNDLE_TASKS = {
    "abdominal_mri_attention_unet": "abdominal",
    "pancreas_ct_attention_unet": "pancreas",
    "brain_tumour_mri_cbam_unet": "brain_tumour",
}


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a subprocess of the main venv: quiet warnings, 2 threads."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "2")
    env["PYTHONWARNINGS"] = "ignore"
    env.update(extra)
    return env


def synth(task: str, out: Path, cases: int = 4, size: tuple[int, int, int] = (32, 32, 32)) -> Path:
    """``python -m data_prep synth TASK OUT --cases N --size X Y Z`` (in a subprocess, like a user)."""
    cmd = [sys.executable, "-m", "data_prep", "synth", task, str(out), "--cases", str(cases),
           "--size", *map(str, size), "--seed", "0", "--workers", "1"]  # fmt: skip
    subprocess.run(cmd, check=True, env=subprocess_env(), capture_output=True, timeout=300, cwd=REPO)
    return out


def make_trained_copy(name: str, dest_root: Path, dataset: Path) -> Path:
    """A copy of ``bundles/NAME`` under ``dest_root`` with fresh weights, the dataset's plan, docs and licence."""
    import torch
    from monai.bundle import ConfigParser

    dest = dest_root / name
    ignore = shutil.ignore_patterns("*.pt", "*.ts", "*.onnx", "runs", "eval", "__pycache__", "plan.json")
    shutil.copytree(BUNDLES / name, dest, ignore=ignore)
    if not (dest / "LICENSE").is_file():  # the bundles under construction may not carry them yet
        (dest / "LICENSE").write_text("Apache License 2.0 (test copy)\n")
    (dest / "docs").mkdir(exist_ok=True)
    if not (dest / "docs" / "README.md").is_file():
        (dest / "docs" / "README.md").write_text(f"# {name} (test copy)\n")
    (dest / "models").mkdir(exist_ok=True)
    shutil.copy2(dataset / "plan.json", dest / "models" / "plan.json")  # the topology the weights have
    parser = ConfigParser()
    parser.read_meta(str(dest / "configs" / "metadata.json"))
    parser.read_config(str(dest / "configs" / "inference.json"))
    parser["bundle_root"] = str(dest)
    torch.manual_seed(0)
    net = parser.get_parsed_content("network_def")
    torch.save({"model": net.state_dict(), "epoch": 1, "metric": 0.5}, dest / "models" / "model.pt")
    return dest


@pytest.fixture(scope="session")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``datasets(bundle_name)``: a tiny synthetic dataset for that bundle (made once per session)."""
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            made[name] = synth(
                BUNDLE_TASKS[name], tmp_path_factory.mktemp(f"data_{BUNDLE_TASKS[name]}") / "ds"
            )
        return made[name]

    return get


@pytest.fixture(scope="session")
def trained_bundles(tmp_path_factory: pytest.TempPathFactory, datasets) -> Callable[[str], Path]:
    """``trained_bundles(name)``: a trained copy of the bundle, shared by the tests of a session (read-only)."""
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            made[name] = make_trained_copy(name, tmp_path_factory.mktemp("bundles"), datasets(name))
        return made[name]

    return get


@pytest.fixture(scope="session")
def exported_monailabel(tmp_path_factory: pytest.TempPathFactory, trained_bundles) -> Callable[[str], Path]:
    """``exported_monailabel(name)``: the MONAI Label export of a trained copy (made once per session)."""
    from bundle_tools.export import export_monailabel

    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            out = tmp_path_factory.mktemp("exported") / name
            export_monailabel(trained_bundles(name), out)
            made[name] = out
        return made[name]

    return get


@pytest.fixture(scope="session")
def eh():
    """The helpers of this folder as one object (``--import-mode=importlib`` cannot import conftest)."""
    return types.SimpleNamespace(
        REPO=REPO, BUNDLES=BUNDLES, BUNDLE_TASKS=BUNDLE_TASKS, subprocess_env=subprocess_env, synth=synth,
        make_trained_copy=make_trained_copy,
    )  # fmt: skip
