"""Fixtures of the benchmark tests: the nnU-Net v2 environment, created on first use; benchmark scripts as modules."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENV_TOOLS = REPO / "benchmarks" / "nnunet_env"


def _load(name: str, path: Path):
    """The Python file at ``path`` as a module (benchmark scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _env_module():
    return _load("seg3d_nnunet_env", ENV_TOOLS / "create_env.py")


@pytest.fixture(scope="session")
def bench_bundle_training():
    """``benchmarks/bench_bundle_training.py`` as a module."""
    return _load("bench_bundle_training", REPO / "benchmarks" / "bench_bundle_training.py")


@pytest.fixture(scope="session")
def nnunet_python() -> Path:
    """The nnU-Net environment's interpreter; created when missing, else the test is skipped with why."""
    tools = _env_module()
    dest = Path(os.environ.get("SEG3D_NNUNET_VENV", REPO / ".venv-nnunet"))
    try:
        return tools.RECIPE.ensure(dest)
    except RuntimeError as err:
        pytest.skip(f"{err} (`make nnunet-env` retries)")
