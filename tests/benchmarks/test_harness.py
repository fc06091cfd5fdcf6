"""The speed harness runs end to end in its quick mode (tiny sizes), so it cannot rot; no time is asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_harness_quick_runs_every_part_and_leaves_benchmarks_md_alone(nnunet_python):
    before = (REPO / "BENCHMARKS.md").read_bytes()
    env = {**os.environ, "SEG3D_NNUNET_VENV": str(nnunet_python.parents[1])}
    result = subprocess.run(
        [sys.executable, "benchmarks/harness.py", "--quick"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for part in ("inference", "training", "evaluation", "networks", "data_prep", "gpu", "polyp"):
        assert f"== {part}:" in out
    assert "bench_gpu.py --quick --no-write --device cpu" in out
    # the inference table has the anchor, the bundle, nnU-Net (measured, not skipped) and the memory line
    assert "| stock MONAI fp32 (anchor) |" in out and "| bundle inference.json |" in out
    assert "| nnU-Net v2 predictor |" in out and "not run" not in out
    assert (
        "| bundle, mirroring TTA | 8 passes |" in out
        and "Memory: the bundle's inference of a 128x128x64" in out
    )
    # the GPU part's code on the CPU: every row of both tables, float16 and torch.compile named but not run
    assert "| stock MONAI fp32 (anchor) | overlap 0.5, sw_batch 4, constant, float32, contiguous |" in out
    for row in ("bf16 autocast", "bf16 + channels-last + cudnn.benchmark", "bundle inference.json"):
        assert f"| {row} |" in out
    bundles = ("abdominal_mri_attention_unet", "pancreas_ct_attention_unet", "brain_tumour_mri_cbam_unet")
    for bundle in bundles:
        assert f"| {bundle} | 32x32x16 x 1 | fp32 (anchor) |" in out
        assert f"| {bundle} | 32x32x16 x 1 | bf16 + channels-last + cudnn.benchmark |" in out
    assert out.count("skipped on CPU |") == 2 + 2 * len(bundles)
    # the polyp part (speed only in quick mode): both speed tables against the stock anchor
    assert "| MONAI stock (anchor) | SupervisedTrainer, float32, contiguous |" in out
    assert "| bundle (as shipped) | AmpSupervisedTrainer," in out
    assert "| MONAI stock (anchor) | overlap 0.5, sw_batch 4, constant, float32 |" in out
    assert (REPO / "BENCHMARKS.md").read_bytes() == before


def test_every_benchmark_script_has_help():
    for script in sorted((REPO / "benchmarks").glob("*.py")):
        if script.name.startswith("_"):
            continue
        result = subprocess.run(
            [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0 and "usage:" in result.stdout, script.name


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present: the script would measure")
def test_bench_gpu_without_cuda_says_figures_stay_pending_and_leaves_benchmarks_md_alone():
    before = (REPO / "BENCHMARKS.md").read_bytes()
    result = subprocess.run(
        [sys.executable, "benchmarks/bench_gpu.py"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("no CUDA device:") and "GPU figures stay pending" in result.stdout
    assert (REPO / "BENCHMARKS.md").read_bytes() == before
