"""One fold of ``python -m bundle_tools cv``: its datalist, its training and its evaluation, resumable.

A fold ``k`` lives in ``OUTPUT/fold_k``, a bundle-shaped folder (``--bundle_root``): ``models/`` and
``runs/`` of its training, ``eval/`` of its evaluation. The steps run as subprocesses through the runner
of ``tune`` (:func:`bundle_tools.tune.trial_runner.run_trial`: own process group, dies with ``cv``, output
appended to ``fold_k/train.log`` with each command as its first line):

1. ``datalist.json``: ``data_prep``'s patient-level split with ``folds=K, fold=k`` and the seed (test
   patients held out, the same in every fold). :func:`data_prep.split.split_dataset` writes into the
   folder it reads, so it runs on a view of the dataset (symbolic links to its entries in a temporary
   folder beside the datalist): the user's ``datalist.json`` is never touched.
2. training: ``run training --config_file BUNDLE/configs/train.json --dataset_dir D --bundle_root fold_k
   [overrides] --datalist fold_k/datalist.json``, with ``--resume true`` when an interrupted run left
   ``models/checkpoint_latest.pt``; ``trained.json`` marks it done.
3. evaluation: ``run evaluating`` with ``train.json`` + ``evaluate.json`` on the fold's validation cases,
   ``postprocess=False`` (raw predictions, the out-of-fold metrics of the network itself) and the
   :class:`~bundle_tools.experiments.component_scores.ComponentDiceScores` handler added, from
   ``fold_k/evaluate_args.json``; it writes ``eval/metrics.csv`` and ``eval/component_dice.csv``.
4. ``fold.json``, written last: the fold is complete and is skipped when ``cv`` runs again.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_prep.errors import DataPrepError
from data_prep.io import read_json, write_json

from ..tune.cli import OVERRIDE
from ..tune.trial_runner import run_trial, trial_command

__all__ = [
    "FOLD_DONE",
    "ensemble_overrides",
    "FoldSetup",
    "fold_dir",
    "override_values",
    "run_fold",
    "without_ids",
    "write_fold_datalist",
]

FOLD_DONE = "fold.json"
"""The completion file of a fold, written last."""
TRAINED = "trained.json"
COMPONENT_DICE = "component_dice.csv"

#: the evaluation's extra ids: the out-of-fold component scores, handed to the evaluator after its handlers
_EVALUATE_IDS = {
    "cv_component_scores": {
        "_target_": "bundle_tools.experiments.component_scores.ComponentDiceScores",
        "output_path": f"$os.path.join(@output_dir, '{COMPONENT_DICE}')",
        "multi_label": "@multi_label",
    },
    "validate#evaluator#val_handlers": "$@validate#handlers + [@cv_component_scores]",
}


@dataclass(frozen=True)
class FoldSetup:
    """What every fold of one cross-validation shares.

    Args:
        bundle: the bundle folder (``configs/train.json``, ``configs/evaluate.json``).
        dataset_dir: the dataset folder (``dataset.json``, ``plan.json``, images).
        folds: the number of folds K.
        seed: the seed of the patient shuffle.
        output: the cross-validation's folder.
        overrides: bundle overrides of every training and evaluation (``--epochs 1 ...``).
    """

    bundle: Path
    dataset_dir: Path
    folds: int
    seed: int
    output: Path
    overrides: tuple[str, ...] = ()


def fold_dir(output: str | os.PathLike, fold: int) -> Path:
    """The folder of fold ``fold``: ``OUTPUT/fold_<fold>``."""
    return Path(output) / f"fold_{fold}"


def write_fold_datalist(dataset_dir: Path, folds: int, fold: int, seed: int, path: Path) -> dict[str, Any]:
    """Write fold ``fold``'s ``datalist.json`` to ``path`` (module docstring, step 1); returns it."""
    from data_prep.split import split_dataset

    path.parent.mkdir(parents=True, exist_ok=True)
    view = Path(tempfile.mkdtemp(prefix=".split_view_", dir=path.parent))
    try:
        for entry in Path(dataset_dir).iterdir():
            if entry.name != "datalist.json":
                (view / entry.name).symlink_to(entry.absolute(), target_is_directory=entry.is_dir())
        datalist = split_dataset(view, folds=folds, fold=fold, seed=seed)
    finally:
        shutil.rmtree(view, ignore_errors=True)
    write_json(datalist, path)
    return datalist


def without_ids(overrides: Sequence[str], ids: Sequence[str]) -> list[str]:
    """``overrides`` without the ``--id value`` / ``--id=value`` pairs of ``ids``."""
    out, skip = [], False
    for token in overrides:
        if skip:
            skip = False
            continue
        match = OVERRIDE.match(token)
        if match and match.group(1) in ids:
            skip = match.group(2) is None
            continue
        out.append(token)
    return out


def override_values(overrides: Sequence[str]) -> dict[str, Any]:
    """``{id: value}`` of ``--id value`` / ``--id=value`` overrides, each value parsed as ``python -m monai.bundle``
    parses it on the command line (Python Fire: ``"[32,32,32]"`` a list, ``"False"`` a bool, else the text)."""
    from fire.parser import DefaultParseValue

    values: dict[str, Any] = {}
    key = None
    for token in overrides:
        match = OVERRIDE.match(token)
        if match and match.group(2) is None:
            key = match.group(1)
        elif match:
            values[match.group(1)], key = DefaultParseValue(match.group(2)), None
        elif key is not None:
            values[key], key = DefaultParseValue(token), None
    return values


def ensemble_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """The overrides a fold ensemble carries in its ``ensemble.json``: every one the folds trained with (the
    network, its output head, the ROI, ...), so that inference and the export rebuild the same models, except
    ``postprocess``, which must not switch off the post-processing cross-validation chose."""
    return {k: v for k, v in override_values(overrides).items() if k != "postprocess"}


def _evaluate_command(setup: FoldSetup, folder: Path, args_file: Path) -> list[str]:
    configs = [setup.bundle / "configs" / name for name in ("train.json", "evaluate.json")]
    command = trial_command(
        configs[0], setup.dataset_dir, folder, without_ids(setup.overrides, ["postprocess"])
    )
    command[command.index("training")] = "evaluating"
    command[command.index("--config_file") + 1] = "[" + ",".join(f"'{c.absolute()}'" for c in configs) + "]"
    return [*command, "--args_file", str(args_file.absolute())]


def _run(command: list[str], folder: Path, env: Mapping[str, str] | None, what: str) -> float:
    result = run_trial(command, folder, metric="val_mean_dice", env=env)
    if result.returncode != 0:
        raise DataPrepError(f"{folder / 'train.log'}: {what} failed: {result.error}")
    return result.seconds


def run_fold(
    setup: FoldSetup, fold: int, env: Mapping[str, str] | None = None, log: Callable[[str], Any] = print
) -> dict[str, Any]:
    """Run (or finish, or skip when complete) fold ``fold``; returns the content of its ``fold.json``."""
    folder = fold_dir(setup.output, fold)
    done = folder / FOLD_DONE
    if done.is_file():
        log(f"fold {fold}: complete, skipped ({done})")
        return read_json(done)
    datalist = folder / "datalist.json"
    split = write_fold_datalist(setup.dataset_dir, setup.folds, fold, setup.seed, datalist)
    models = folder / "models"
    trained = folder / TRAINED
    if not trained.is_file():
        resume = (models / "checkpoint_latest.pt").is_file()
        log(f"fold {fold}/{setup.folds}: {'resuming' if resume else 'training'} in {folder}")
        extra = ["--datalist", str(datalist.absolute()), *(["--resume", "true"] if resume else [])]
        train_json = setup.bundle / "configs" / "train.json"
        command = trial_command(train_json, setup.dataset_dir, folder, [*setup.overrides, *extra])
        seconds = _run(command, folder, env, f"fold {fold} training")
        if not (models / "model.pt").is_file():
            raise DataPrepError(
                f"{models}: fold {fold} trained but saved no model.pt (no validation ran: raise epochs or "
                "lower val_interval)"
            )
        write_json({"seconds": seconds, "resumed": resume}, trained)
    log(f"fold {fold}/{setup.folds}: evaluating on its {len(split['validation'])} validation cases")
    args_file = write_json(
        {
            "datalist": str(datalist.absolute()),
            "postprocess": False,
            **_EVALUATE_IDS,
        },
        folder / "evaluate_args.json",
    )
    eval_seconds = _run(_evaluate_command(setup, folder, args_file), folder, env, f"fold {fold} evaluation")
    for name in ("metrics.csv", COMPONENT_DICE):
        if not (folder / "eval" / name).is_file():
            raise DataPrepError(f"{folder / 'eval' / name}: fold {fold}'s evaluation did not write it")
    info = {
        "fold": fold,
        "train_seconds": read_json(trained)["seconds"],
        "evaluate_seconds": eval_seconds,
        "resumed": read_json(trained)["resumed"],
        "validation_cases": len(split["validation"]),
        "training_cases": len(split["training"]),
        "model": str((models / "model.pt").absolute()),
        "metrics": str((folder / "eval" / "metrics.csv").absolute()),
        "component_dice": str((folder / "eval" / COMPONENT_DICE).absolute()),
        "datalist": str(datalist.absolute()),
    }
    write_json(info, done)
    log(f"fold {fold}/{setup.folds}: complete ({done})")
    return info
