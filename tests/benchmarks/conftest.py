"""Fixtures of the benchmark tests: the nnU-Net v2 environment, created on first use."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENV_TOOLS = REPO / "benchmarks" / "nnunet_env"


def _env_module():
    spec = importlib.util.spec_from_file_location("seg3d_nnunet_env", ENV_TOOLS / "create_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def nnunet_python() -> Path:
    """The nnU-Net environment's interpreter; created when missing, else the test is skipped with why."""
    tools = _env_module()
    dest = Path(os.environ.get("SEG3D_NNUNET_VENV", REPO / ".venv-nnunet"))
    try:
        return tools.RECIPE.ensure(dest)
    except RuntimeError as err:
        pytest.skip(f"{err} (`make nnunet-env` retries)")
