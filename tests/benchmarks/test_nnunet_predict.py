"""``benchmarks/nnunet_predict.py``: nnU-Net v2's own predictor, timed in its own environment.

The environment (``.venv-nnunet``, see ``benchmarks/nnunet_env/create_env.py``) is created on first use and holds
nothing of this project; the tests are skipped only when it cannot be created, and then say why. The runs are
tiny (64x64x32 volume, 32x32x16 patch, 3 stages of 4, 8, 16 features, 1 thread) and assert what the run did,
never how long it took.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "benchmarks" / "nnunet_predict.py"
SHAPE, PATCH, CHANNELS = (64, 64, 32), (32, 32, 16), (4, 8, 16)
IN_CHANNELS, CLASSES = 1, 5


def _clean_env() -> dict[str, str]:
    """The environment of a process of the nnU-Net venv: no PYTHONPATH (so nothing of the project)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    env["PYTHONWARNINGS"] = "ignore"
    return env


def _run(python: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """The runner, from tmp_path, in a clean environment."""
    cmd = [str(python), str(RUNNER), *args]
    return subprocess.run(cmd, cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, timeout=300)


def _tiny_args(*extra: str) -> list[str]:
    return ["--shape", *map(str, SHAPE), "--patch", *map(str, PATCH), "--channels", *map(str, CHANNELS),
            "--in-channels", str(IN_CHANNELS), "--classes", str(CLASSES),
            "--repeats", "1", "--warmup", "0", "--threads", "1", *extra]  # fmt: skip


def expected_windows(shape, patch, step: float = 0.5) -> int:
    """nnU-Net's documented rule: per axis ceil((size - patch) / (patch * step)) + 1 windows, on the volume
    padded to at least the patch."""
    n = 1
    for size, tile in zip(shape, patch):
        size = max(size, tile)
        n *= math.ceil((size - tile) / (tile * step)) + 1
    return n


def expected_params(in_channels: int, classes: int, channels) -> int:
    """Parameters of a PlainConvUNet with 2 biased 3x3x3 convolutions + affine InstanceNorm per stage and
    decoder stage, 2x2x2 transposed convolutions, and a 1x1x1 segmentation head per decoder stage (built even
    without deep supervision)."""

    def conv(c_in: int, c_out: int, k: int = 27) -> int:
        return k * c_in * c_out + c_out

    def stage(c_in: int, c_out: int) -> int:
        return conv(c_in, c_out) + 2 * c_out + conv(c_out, c_out) + 2 * c_out

    total, c_in = 0, in_channels
    for c in channels:
        total += stage(c_in, c)
        c_in = c
    for deep, shallow in zip(channels[::-1], channels[-2::-1]):
        total += conv(deep, shallow, k=8) + stage(2 * shallow, shallow) + conv(shallow, classes, k=1)
    return total


@pytest.mark.parametrize("mirror", [False, True], ids=["no_mirror", "mirror"])
def test_runner_prints_one_json_line_of_what_nnunet_did(nnunet_python, tmp_path, mirror):
    proc = _run(nnunet_python, tmp_path, *_tiny_args(*(["--mirror"] if mirror else [])))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout  # nnU-Net's own prints went to stderr
    result = json.loads(lines[0])
    assert result["nnunetv2"] == "2.8.1"
    assert result["torch"].startswith("2.13.0")
    assert result["threads"] == 1
    assert len(result["seconds"]) == 1 and result["median_s"] == result["seconds"][0] > 0
    assert 0 < result["baseline_rss_mib"] <= result["peak_rss_mib"]
    assert result["windows"] == expected_windows(SHAPE, PATCH) == 27
    assert result["mirror"] is mirror
    # nnU-Net's mirroring: the plain pass plus one per non-empty combination of the axes (0, 1, 2)
    assert result["mirror_axes"] == ([0, 1, 2] if mirror else None)
    assert result["network_calls"] == result["windows"] * (8 if mirror else 1)
    assert result["network_params"] == expected_params(IN_CHANNELS, CLASSES, CHANNELS)
    assert "mirroring:" in proc.stderr


def test_runner_rejects_a_patch_too_small_for_the_stages(nnunet_python, tmp_path):
    args = _tiny_args()
    args[args.index("--channels") + 1 : args.index("--in-channels")] = ["4", "8", "16", "32", "64"]
    proc = _run(nnunet_python, tmp_path, *args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "--patch 32 32 16" in proc.stderr and "asks for 5 stages" in proc.stderr


def test_project_is_not_importable_in_the_nnunet_environment(nnunet_python, tmp_path):
    for package in ("custom_networks", "bundle_tools", "data_prep"):
        proc = subprocess.run(
            [str(nnunet_python), "-c", f"import {package}"], cwd=tmp_path, env=_clean_env(),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode != 0, f"{package} is importable in the nnU-Net environment"
