"""The speed harness runs end to end in its quick mode (tiny sizes), so it cannot rot; no time is asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_harness_quick_runs_every_part_and_leaves_benchmarks_md_alone(nnunet_python):
    before = (REPO / "BENCHMARKS.md").read_bytes()
    env = {**os.environ, "SEG3D_NNUNET_VENV": str(nnunet_python.parents[1])}
    result = subprocess.run(
        [sys.executable, "benchmarks/harness.py", "--quick"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for part in ("inference", "training", "evaluation", "networks", "data_prep"):
        assert f"== {part}:" in out
    # the inference table has the anchor, the bundle, nnU-Net (measured, not skipped) and the memory line
    assert "| stock MONAI fp32 (anchor) |" in out and "| bundle inference.json |" in out
    assert "| nnU-Net v2 predictor |" in out and "not run" not in out
    assert (
        "| bundle, mirroring TTA | 8 passes |" in out
        and "Memory: the bundle's inference of a 128x128x64" in out
    )
    assert (REPO / "BENCHMARKS.md").read_bytes() == before


def test_every_benchmark_script_has_help():
    for script in sorted((REPO / "benchmarks").glob("*.py")):
        if script.name.startswith("_"):
            continue
        result = subprocess.run(
            [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0 and "usage:" in result.stdout, script.name
