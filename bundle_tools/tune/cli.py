"""``python -m bundle_tools tune BUNDLE --dataset_dir D --space space.json --trials N [-- overrides]``."""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Sequence
from pathlib import Path

from data_prep.errors import DataPrepError

__all__ = ["add_parser", "run"]

_DESCRIPTION = """\
Hyper-parameter search for a bundle with Optuna (TPE sampler, median or Hyperband pruning on the
per-epoch validation metric). Each trial is a real training of the bundle,

  python -m monai.bundle run training --config_file BUNDLE/configs/train.json --dataset_dir D
      --bundle_root OUTPUT/trials/NNNN [overrides after --] --args_file OUTPUT/trials/NNNN/overrides.json

in its own folder (models/, runs/, train.log). SPACE maps config ids (the names of `--<id> value`
overrides: learning_rate, batch_size, optimizer_type, network_def#channels, ...) to distributions, e.g.
  {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": true},
   "optimizer_type": {"type": "categorical", "choices": ["adamw", "sgd"]}}

The study is OUTPUT/study.db: run the same command again to resume an interrupted search (finished
trials are kept, a trial the tuner was running is run again). OUTPUT gets trials.csv, trials.md,
metric_per_trial.png, param_importances.png, best_training_curves.png and best_overrides.json, which
`python -m monai.bundle run ... --args_file best_overrides.json` reads. See docs/tuning.md.

Bundle overrides for every trial go after `--`, e.g. `-- --epochs 20 --roi_size "[96,96,64]"`.
"""

#: ids tune sets itself, refused after ``--``
_SET_BY_TUNE = (
    "bundle_root",
    "dataset_dir",
    "ckpt_dir",
    "output_dir",
    "config_file",
    "args_file",
    "meta_file",
)


class _OverridesParser(argparse.ArgumentParser):
    """A sub-command parser that keeps everything after ``--`` as ``args.overrides`` (argparse's own ``--``
    handling drops them when the parser is a sub-command)."""

    def parse_known_args(self, args=None, namespace=None):  # noqa: ANN001, ANN201 (argparse's signature)
        args = list(args or [])
        overrides: list[str] = []
        if "--" in args:
            i = args.index("--")
            args, overrides = args[:i], args[i + 1 :]
        namespace, extras = super().parse_known_args(args, namespace)
        namespace.overrides = overrides
        return namespace, extras


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``tune`` command to a ``python -m bundle_tools`` parser."""
    parser = subparsers.add_parser(
        "tune",
        help="hyper-parameter search of a bundle's training (Optuna; resumable, pruned, parallel)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s BUNDLE --dataset_dir D --space SPACE --trials N [options] [-- bundle overrides]",
    )
    parser.__class__ = _OverridesParser  # argparse creates sub-parsers itself; only parsing changes
    parser.add_argument("bundle", metavar="BUNDLE", help="the bundle folder (with configs/train.json)")
    parser.add_argument(
        "--dataset_dir", "--dataset-dir", required=True, help="dataset folder (datalist.json, plan.json)"
    )
    parser.add_argument(
        "--space", required=True, help="the search space JSON (see docs/examples/tune_space.json)"
    )
    parser.add_argument(
        "--trials", type=int, required=True, help="finished trials the study should have in all"
    )
    parser.add_argument(
        "--budget-minutes",
        type=float,
        default=None,
        help="start no new trial after this many minutes of this run",
    )
    parser.add_argument("--output", default=None, help="the search's folder (default BUNDLE/runs/tune)")
    parser.add_argument(
        "--jobs", type=int, default=1, help="trials at a time (one per GPU when several are visible)"
    )
    parser.add_argument(
        "--metric",
        default="val_mean_dice",
        help="validation metric to optimise (a column of training_curves.csv)",
    )
    parser.add_argument(
        "--direction",
        choices=("auto", "maximize", "minimize"),
        default="auto",
        help="auto: minimize distances and losses (val_hd95_mm), maximize the rest",
    )
    parser.add_argument(
        "--pruner",
        choices=("median", "hyperband", "none"),
        default="median",
        help="pruning on the per-epoch metric",
    )
    parser.add_argument(
        "--startup-trials", type=int, default=3, help="median: prune only after this many complete trials"
    )
    parser.add_argument("--warmup-epochs", type=int, default=0, help="prune no trial at or before this epoch")
    parser.add_argument("--seed", type=int, default=0, help="seed of the TPE sampler")
    parser.add_argument("--poll-seconds", type=float, default=2.0, help="how often a trial's curves are read")
    parser.set_defaults(func=run, overrides=[])
    return parser


def run(args: argparse.Namespace) -> int:
    """Check the inputs, run (or resume) the search, write the reports and print the best trial."""
    setup = _setup(args)
    from .report import best_trial, write_reports
    from .study import run_search

    _quiet_failed_trial_tracebacks()
    title = f"Hyper-parameter search of {setup.config_file.parent.parent.name}"

    def reports(study) -> None:  # noqa: ANN001
        write_reports(study, setup.space, setup.metric, setup.output, title)

    study = run_search(setup, on_trial=reports)
    best = best_trial(study)
    if best is None:
        print(f"no complete trial yet; see {setup.output / 'trials.md'}")
        return 0
    print(
        f"best: trial {best.number}, {setup.metric} {best.value:.4g}; "
        f"{setup.output / 'best_overrides.json'}, {setup.output / 'trials.md'}"
    )
    return 0


def _setup(args: argparse.Namespace):  # noqa: ANN202 (TuneSetup, imported late)
    from data_prep.io import read_json

    from .space import load_space
    from .study import TuneSetup, default_direction

    bundle = Path(args.bundle)
    config_file = bundle / "configs" / "train.json"
    if not config_file.is_file():
        raise DataPrepError(f"{bundle}: not a bundle folder (no configs/train.json)")
    dataset_dir = Path(args.dataset_dir)
    if not (dataset_dir / "datalist.json").is_file():
        raise DataPrepError(f"{dataset_dir}: not a dataset folder (no datalist.json)")
    for name, value, low in (
        ("--trials", args.trials, 1),
        ("--jobs", args.jobs, 1),
        ("--warmup-epochs", args.warmup_epochs, 0),
        ("--startup-trials", args.startup_trials, 0),
    ):
        if value < low:
            raise DataPrepError(f"{name}: must be at least {low}, got {value}")
    if args.budget_minutes is not None and args.budget_minutes <= 0:
        raise DataPrepError(f"--budget-minutes: must be positive, got {args.budget_minutes}")
    if args.poll_seconds <= 0:
        raise DataPrepError(f"--poll-seconds: must be positive, got {args.poll_seconds}")
    space = load_space(args.space)
    space.check_ids(read_json(config_file), config_file)
    overrides = list(args.overrides)
    for key in override_ids(overrides):
        if key in _SET_BY_TUNE:
            raise DataPrepError(
                f"--{key}: is set by tune for each trial, remove it from the overrides after --"
            )
        if key in space.ids:
            raise DataPrepError(f"--{key}: is both an override after -- and a key of {args.space}")
    return TuneSetup(
        config_file=config_file,
        dataset_dir=dataset_dir,
        space=space,
        output=Path(args.output) if args.output else bundle / "runs" / "tune",
        trials=args.trials,
        overrides=overrides,
        metric=args.metric,
        direction=default_direction(args.metric) if args.direction == "auto" else args.direction,
        pruner=args.pruner,
        seed=args.seed,
        jobs=args.jobs,
        budget_minutes=args.budget_minutes,
        startup_trials=args.startup_trials,
        warmup_epochs=args.warmup_epochs,
        poll_seconds=args.poll_seconds,
    )


OVERRIDE = re.compile(r"^--([A-Za-z_][\w#:]*)(?:=(.*))?$")
"""One bundle override on a command line: ``--id value`` (group 2 None) or ``--id=value``; not a negative number."""


def override_ids(overrides: Sequence[str]) -> list[str]:
    """The config ids of ``--id value`` / ``--id=value`` overrides (not negative numbers)."""
    ids = []
    for token in overrides:
        match = OVERRIDE.match(token)
        if match:
            ids.append(match.group(1))
    return ids


class _NoTraceback(logging.Filter):
    """Optuna logs a caught objective error with its traceback; a failed training needs only its line."""

    def filter(self, record: logging.LogRecord) -> bool:
        from .study import TrialFailed

        if record.exc_info and isinstance(record.exc_info[1], TrialFailed):
            record.exc_info = None
        return True


def _quiet_failed_trial_tracebacks() -> None:
    logger = logging.getLogger("optuna.study._optimize")
    if not any(isinstance(f, _NoTraceback) for f in logger.filters):
        logger.addFilter(_NoTraceback())
