"""Fixtures of the export tests: trained copies of the bundles in tmp_path (never the repository's bundles/).

"Trained" means: a copy of ``bundles/<name>`` whose ``models/model.pt`` holds a freshly initialised network
(seeded) under ``"model"``, as the bundles' ``BestModelSaver`` writes it, and whose ``models/plan.json`` is
the plan of a tiny synthetic dataset (``python -m data_prep synth``), as training writes it. Exports only
need weights that fit the network; the values do not matter.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
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


def isolated(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run ``python -S ...``: site-packages on PYTHONPATH, but no .pth files (the project's editable install is
    one) and neither the repository nor the test's folders on sys.path."""
    env = subprocess_env(PYTHONPATH=sysconfig.get_paths()["purelib"])
    env.pop("PYTHONHOME", None)
    return subprocess.run(
        [sys.executable, "-S", *cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def make_fold_ensemble(bundle: Path, dest: Path, folds: int = 2) -> Path:
    """Fold folders as ``bundle_tools cv`` leaves them (``fold_k/models/model.pt`` beside a copy of the bundle's
    ``plan.json``; weights: the bundle's, each fold's perturbed by its own seed) and the ``ensemble.json``
    that names them, with the local paths ``cv`` writes (``datalist``)."""
    import hashlib

    import torch

    plan = bundle / "models" / "plan.json"
    state = torch.load(bundle / "models" / "model.pt", weights_only=True)["model"]
    paths = []
    for k in range(folds):
        models = dest / f"fold_{k}" / "models"
        models.mkdir(parents=True)
        shutil.copy2(plan, models / "plan.json")
        gen = torch.Generator().manual_seed(k + 1)
        fold = {n: t + 0.5 * t.float().std(correction=0) * torch.randn(t.shape, generator=gen) if t.is_floating_point()
                else t for n, t in state.items()}  # fmt: skip
        sha = hashlib.sha256(plan.read_bytes()).hexdigest()
        torch.save({"model": fold, "plan_sha256": sha}, models / "model.pt")
        paths.append(str(models / "model.pt"))
    decision = {
        "version": 1,
        "method": "keep_largest_component",
        "label_kind": "label_map",
        "keep_largest_component": [2],
        "model": {"decided_on": "out-of-fold predictions", "folds": folds},
    }
    (dest / "postprocessing.json").write_text(json.dumps(decision, indent=2))
    args = {"ckpt_paths": paths, "ckpt_path": paths[0], "postprocessing_file": str(dest / "postprocessing.json"),
            "datalist": str(dest / "fold_0" / "datalist.json")}  # fmt: skip
    (dest / "ensemble.json").write_text(json.dumps(args, indent=2))
    return dest / "ensemble.json"


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

    def ignore(folder: str, names: list[str]) -> list[str]:  # outputs of runs in the working tree stay behind
        outputs = {"runs", "eval", "__pycache__"}
        return [n for n in names if n in outputs or (Path(folder).name == "models" and n != ".gitkeep")]

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
def exported_ensemble(tmp_path_factory: pytest.TempPathFactory, trained_bundles) -> tuple[Path, Path]:
    """``(ensemble.json, export)``: two folds of the abdominal bundle (:func:`make_fold_ensemble`) exported
    with ``--to monailabel --args_file ensemble.json`` (made once per session)."""
    from bundle_tools.export import export_monailabel

    args = make_fold_ensemble(trained_bundles("abdominal_mri_attention_unet"), tmp_path_factory.mktemp("cv"))
    out = tmp_path_factory.mktemp("exported") / "abdominal_ensemble"
    export_monailabel(trained_bundles("abdominal_mri_attention_unet"), out, make_zip=False, args_file=args)
    return args, out


@pytest.fixture(scope="session")
def eh():
    """The helpers of this folder as one object (``--import-mode=importlib`` cannot import conftest)."""
    return types.SimpleNamespace(
        REPO=REPO, BUNDLES=BUNDLES, BUNDLE_TASKS=BUNDLE_TASKS, subprocess_env=subprocess_env, synth=synth,
        make_trained_copy=make_trained_copy, isolated=isolated, make_fold_ensemble=make_fold_ensemble,
    )  # fmt: skip
