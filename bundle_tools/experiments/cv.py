"""K-fold cross-validation of a bundle: :func:`run_cv`, the engine of ``python -m bundle_tools cv``.

Every fold is the bundle's own training and evaluation in ``OUTPUT/fold_k`` (:mod:`bundle_tools.experiments.folds`).
Folds run one after another; with several CUDA devices visible (``CUDA_VISIBLE_DEVICES``, else all that
torch counts) they run one per device at a time, each with ``CUDA_VISIBLE_DEVICES`` set to its device by
``tune``'s :func:`~bundle_tools.tune.trial_runner.trial_env`. A complete fold (``fold_k/fold.json``) is
never run again, so a killed ``cv`` continues where it stopped.

After the last fold, in ``OUTPUT``:

* ``oof_metrics.csv``, ``oof_summary.csv`` - the out-of-fold metrics (:mod:`bundle_tools.experiments.oof`);
* ``postprocessing.json`` - the largest-component filter per class, chosen on the out-of-fold Dice;
* ``ensemble.json`` - an args file for the bundle's ``inference.json``: the fold models (``ckpt_paths``;
  ``ckpt_path``, whose plan the preprocessing reads, is fold 0's),
  that ``postprocessing.json`` (``postprocessing_file``) and fold 0's datalist (whose ``test`` patients
  no fold trained or validated on);
* ``cv.json`` - the settings (bundle, dataset, folds, seed, overrides), per-fold times and the paths.

A folder is bound to its settings: running ``cv`` again on it with another bundle, dataset, number of
folds, seed or overrides is refused, as its folds could not be pooled.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from data_prep.errors import DataPrepError
from data_prep.io import read_json, write_json

from ..config.flags import as_bool
from ..metrics.summary import read_csv_rows
from ..tune.trial_runner import trial_env, visible_gpus
from .folds import FoldSetup, ensemble_overrides, fold_dir, run_fold, without_ids
from .oof import decide_oof_postprocessing, merge_fold_metrics, write_oof

__all__ = ["CV_JSON", "SET_BY_CV", "infer_command", "run_cv"]

CV_JSON = "cv.json"
VERSION = 1

#: config ids ``cv`` sets itself for every fold; refused among the overrides
SET_BY_CV = (
    "bundle_root",
    "dataset_dir",
    "datalist",
    "ckpt_dir",
    "ckpt_path",
    "output_dir",
    "resume",
    "eval_split",
    "config_file",
    "args_file",
    "meta_file",
)


def _settings(setup: FoldSetup) -> dict[str, Any]:
    return {
        "bundle": str(setup.bundle.absolute()),
        "dataset_dir": str(setup.dataset_dir.absolute()),
        "folds": setup.folds,
        "seed": setup.seed,
        "overrides": list(setup.overrides),
    }


def _check_folder(setup: FoldSetup) -> None:
    """Refuse a folder that holds a cross-validation with other settings."""
    path = setup.output / CV_JSON
    if not path.is_file():
        return
    old = read_json(path).get("settings", {})
    for key, value in _settings(setup).items():
        if old.get(key) != value:
            raise DataPrepError(
                f"{path}: the cross-validation in {setup.output} was started with {key} {old.get(key)!r}, "
                f"not {value!r}; use another --output"
            )


def infer_command(
    bundle: str | os.PathLike,
    dataset_dir: str | os.PathLike,
    output: str | os.PathLike,
    overrides: Sequence[str] = (),
) -> str:
    """The shell command that infers with the fold ensemble of ``output`` (its ``ensemble.json``)."""
    command = [
        sys.executable, "-m", "monai.bundle", "run", "inferring",
        "--config_file", str((Path(bundle) / "configs" / "inference.json").absolute()),
        "--dataset_dir", str(Path(dataset_dir).absolute()),
        "--args_file", str((Path(output) / "ensemble.json").absolute()),
        *overrides,
    ]  # fmt: skip
    return shlex.join(command)


def _run_folds(setup: FoldSetup, log: Callable[[str], Any]) -> dict[int, dict[str, Any]]:
    gpus = visible_gpus()
    jobs = min(len(gpus), setup.folds) if len(gpus) > 1 else 1
    if jobs == 1:
        env = trial_env(0, 1, gpus)
        return {k: run_fold(setup, k, env, log) for k in range(setup.folds)}
    log(f"{jobs} folds at a time, one per CUDA device ({', '.join(gpus)})")

    def slot(i: int) -> dict[int, dict[str, Any]]:  # folds i, i + jobs, ... on device i
        return {k: run_fold(setup, k, trial_env(i, jobs, gpus), log) for k in range(i, setup.folds, jobs)}

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(slot, i) for i in range(jobs)]
        errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise errors[0]
    return {k: info for f in futures for k, info in f.result().items()}


def run_cv(
    bundle: str | os.PathLike,
    dataset_dir: str | os.PathLike,
    folds: int,
    output: str | os.PathLike,
    overrides: Sequence[str] = (),
    seed: int = 0,
    log: Callable[[str], Any] = print,
) -> Path:
    """Cross-validate ``bundle`` on ``dataset_dir`` with ``folds`` folds in ``output`` (resumable).

    Args:
        bundle: the bundle folder (``configs/train.json``, ``evaluate.json``, ``inference.json``).
        dataset_dir: the dataset folder (``dataset.json``, ``plan.json``); it is only read.
        folds: the number of folds, 2 or more.
        output: the cross-validation's folder (created).
        overrides: bundle overrides of every fold's training and evaluation, e.g.
            ``["--epochs", "50", "--roi_size", "[96,96,64]"]``.
        seed: the seed of the patient split.
        log: where progress lines go.

    Returns:
        The path of ``oof_metrics.csv``.

    Raises:
        DataPrepError: bad inputs, a folder started with other settings, or a failed fold (naming its log).
    """
    bundle, dataset_dir, output = Path(bundle), Path(dataset_dir), Path(output)
    for name in ("train.json", "evaluate.json", "inference.json"):
        if not (bundle / "configs" / name).is_file():
            raise DataPrepError(f"{bundle}: not a bundle folder (no configs/{name})")
    if not (dataset_dir / "dataset.json").is_file():
        raise DataPrepError(f"{dataset_dir}: not a dataset folder (no dataset.json)")
    if folds < 2:
        raise DataPrepError(f"--folds: must be at least 2, got {folds}")
    from ..tune.cli import override_ids

    for key in override_ids(overrides):
        if key in SET_BY_CV:
            raise DataPrepError(f"--{key}: is set by cv for each fold, remove it from the overrides after --")
    setup = FoldSetup(bundle, dataset_dir, folds, seed, output, tuple(str(o) for o in overrides))
    _check_folder(setup)
    output.mkdir(parents=True, exist_ok=True)
    write_json({"version": VERSION, "settings": _settings(setup)}, output / CV_JSON)
    start = time.monotonic()
    infos = _run_folds(setup, log)

    table, summary = write_oof(merge_fold_metrics({k: i["metrics"] for k, i in infos.items()}), output)
    names: dict[int, str] = {}
    for row in read_csv_rows(table):
        names[int(row["class_index"])] = row["class"]
    class_names = [
        names.get(i, "background" if i == 0 else f"class_{i}") for i in range(max(names, default=0) + 1)
    ]
    carried = ensemble_overrides(setup.overrides)
    multi_label = as_bool(
        carried.get("multi_label", read_json(bundle / "configs" / "train.json").get("multi_label", False))
    )
    decision = decide_oof_postprocessing(
        {k: i["component_dice"] for k, i in infos.items()},
        output / "postprocessing.json",
        class_names,
        multi_label,
    )
    ensemble = write_json(
        {
            "ckpt_paths": [infos[k]["model"] for k in sorted(infos)],
            "ckpt_path": infos[0]["model"],  # its plan (the folds' one plan) drives the preprocessing
            "postprocessing_file": str((output / "postprocessing.json").absolute()),
            "datalist": infos[0]["datalist"],
            # what the folds trained with (network, head, ROI, ...): inference and the export rebuild it from here
            **carried,
        },
        output / "ensemble.json",
    )
    # postprocess=False of the trainings must not switch off the ensemble's chosen post-processing
    command = infer_command(bundle, dataset_dir, output, without_ids(setup.overrides, ["postprocess"]))
    write_json(
        {
            "version": VERSION,
            "settings": _settings(setup),
            "folds": {str(k): infos[k] for k in sorted(infos)},
            "seconds_this_run": time.monotonic() - start,
            "postprocessing": {"keep_largest_component": list(decision.keep)},
            "paths": {
                "folds": [str(fold_dir(output, k).absolute()) for k in range(folds)],
                "oof_metrics": str(table.absolute()),
                "oof_summary": str(summary.absolute()),
                "postprocessing": str((output / "postprocessing.json").absolute()),
                "ensemble_args": str(ensemble.absolute()),
            },
            "infer_command": command,
        },
        output / CV_JSON,
    )
    log(f"out-of-fold metrics: {table}; summary: {summary}")
    keep = list(decision.keep) or "no class"
    log(
        f"post-processing chosen on the out-of-fold Dice: keep the largest component of {keep} ({output / 'postprocessing.json'})"
    )
    log(
        f"infer with the {folds}-fold ensemble (add --input_dir IMAGES, else the held-out test cases):\n  {command}"
    )
    log(
        "export it for MONAI Label:\n  "
        + shlex.join(
            [
                sys.executable,
                "-m",
                "bundle_tools",
                "export",
                str(bundle.absolute()),
                "--to",
                "monailabel",
                "--out",
                "DEST",
                "--args_file",
                str(ensemble.absolute()),
            ]
        )  # fmt: skip
    )
    return table
