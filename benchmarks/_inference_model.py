"""The model ``bench_inference.py`` times: a synthetic abdominal dataset of a given size and the abdominal bundle
trained on it (both cached in ``benchmarks/.cache`` by their settings)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from _worker import REPO, run

from data_prep.errors import DataPrepError
from data_prep.plan import Plan, load_plan

__all__ = ["BUNDLE", "CACHE", "dataset_plan", "trained_model"]

BUNDLE = REPO / "bundles" / "abdominal_mri_attention_unet"
CACHE = REPO / "benchmarks" / ".cache"


def dataset_plan(data: Path) -> Plan | None:
    """The plan of the cached dataset ``data``; None when it has none this version of the bundles reads."""
    try:
        return load_plan(data)
    except DataPrepError:
        return None


def trained_model(
    shape: list[int], roi: list[int], epochs: int, iterations: int, cases: int
) -> tuple[Path, Path]:
    """A synthetic abdominal dataset of ``shape`` and the bundle trained on it with patches of ``roi``, ``epochs``
    epochs of ``iterations`` iterations (cached by the settings)."""
    key = (
        f"abdominal_{'x'.join(map(str, shape))}_roi{'x'.join(map(str, roi))}_e{epochs}_i{iterations}_n{cases}"
    )
    data, models = CACHE / key / "data", CACHE / key / "models"
    if dataset_plan(data) is None:
        run([sys.executable, "-m", "data_prep", "synth", "abdominal", str(data), "--cases", str(cases)]
            + ["--size", *map(str, shape), "--overwrite"])  # fmt: skip
    divisor = load_plan(data).divisor
    if any(r % d for r, d in zip(roi, divisor)):
        raise SystemExit(f"--train-roi {roi} does not divide by {divisor}, the strides' product of the network"
                         f" planned for the synthetic data ({data / 'plan.json'})")  # fmt: skip
    if not (models / "model.pt").is_file():
        print(
            f"training the bundle {epochs} epochs of {iterations} iterations on {cases} synthetic cases of {shape}"
            " (cached) ...",
            flush=True,
        )
        run([sys.executable, "-m", "monai.bundle", "run", "training",
             "--config_file", str(BUNDLE / "configs" / "train.json"), "--dataset_dir", str(data),
             "--ckpt_dir", str(models), "--output_dir", str(CACHE / key / "runs"), "--roi_size", json.dumps(roi),
             "--epochs", str(epochs), "--iterations_per_epoch", str(iterations), "--val_interval", str(epochs),
             "--num_workers", "0", "--optimizer_type", "adamw", "--learning_rate", "0.003",
             "--progress_bar", "False"])  # fmt: skip
    return data, models
