"""The Optuna study of ``tune``: storage, sampler, pruner, resume and the objective that runs trials.

The study lives in ``OUTPUT/study.db`` (SQLite, ``load_if_exists``), so running the same command again
continues it: completed, pruned and failed trials count towards ``--trials`` and are not rerun; a trial
left RUNNING by a tuner that was killed is marked failed (user attribute ``interrupted``) and run again
with the same values (a new trial with ``retry_of``). One tuner works on a folder at a time
(``OUTPUT/tune.lock``, an ``flock`` the kernel drops when the tuner dies), which is what makes a RUNNING
trial found at start-up an orphan. A resumed study must have the same bundle, data, space, metric and
overrides; anything else would mix trials that cannot be compared.

Trials run in ``--jobs`` threads of Optuna, each waiting on its own training process; each thread takes a
job slot, which picks the trial's device (:func:`bundle_tools.tune.trial_runner.trial_env`).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from data_prep.errors import DataPrepError
from data_prep.io import write_json

from .space import SearchSpace
from .trial_runner import (
    CURVES_CSV,
    read_curves,
    run_trial,
    trial_command,
    trial_env,
    visible_gpus,
)

__all__ = [
    "TrialFailed",
    "TuneSetup",
    "default_direction",
    "make_pruner",
    "open_study",
    "recover_interrupted",
    "remaining_trials",
    "run_search",
]

log = logging.getLogger(__name__)

STUDY_NAME = "tune"
#: words of metric names that are better when lower (distances in mm, losses)
_LOWER_IS_BETTER = ("loss", "hd95", "hausdorff", "assd", "distance", "_mm")


class TrialFailed(Exception):
    """A trial's training exited with an error; the search records it and goes on."""


@dataclass
class TuneSetup:
    """Everything one ``tune`` run needs (the command line, checked).

    Args:
        config_file: the bundle's ``configs/train.json``.
        dataset_dir: the dataset folder of every trial.
        space: the search space.
        output: the search's folder (``study.db``, ``trials/``, reports).
        trials: how many finished trials the study should have in all.
        overrides: bundle overrides of every trial (``["--epochs", "2"]``).
        metric: the curves' column to optimise, per epoch.
        direction: ``maximize`` or ``minimize``.
        pruner: ``median``, ``hyperband`` or ``none``.
        seed: the TPE sampler's seed.
        jobs: trials at a time.
        budget_minutes: no new trial starts after this many minutes (None: no limit).
        startup_trials: the median pruner prunes only after this many complete trials.
        warmup_epochs: no trial is pruned at or before this epoch.
        poll_seconds: how often a running trial's curves are read.
    """

    config_file: Path
    dataset_dir: Path
    space: SearchSpace
    output: Path
    trials: int
    overrides: list[str] = field(default_factory=list)
    metric: str = "val_mean_dice"
    direction: str = "maximize"
    pruner: str = "median"
    seed: int = 0
    jobs: int = 1
    budget_minutes: float | None = None
    startup_trials: int = 3
    warmup_epochs: int = 0
    poll_seconds: float = 2.0

    def fingerprint(self) -> dict[str, Any]:
        """What a resumed study must share with the one it continues."""
        return {
            "config_file": str(self.config_file.absolute()),
            "dataset_dir": str(self.dataset_dir.absolute()),
            "space": self.space.as_json(),
            "metric": self.metric,
            "overrides": list(self.overrides),
        }


def default_direction(metric: str) -> str:
    """``minimize`` for a distance or a loss (``val_hd95_mm``), else ``maximize`` (Dice)."""
    return "minimize" if any(word in metric.lower() for word in _LOWER_IS_BETTER) else "maximize"


def make_pruner(name: str, startup_trials: int = 3, warmup_epochs: int = 0) -> optuna.pruners.BasePruner:
    """Optuna's pruner for ``--pruner``; steps are epochs; none is pruned at or before ``warmup_epochs``."""
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup_epochs + 1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=warmup_epochs + 1)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"unknown pruner {name!r} (median, hyperband, none)")


def open_study(setup: TuneSetup) -> optuna.Study:
    """Create ``OUTPUT/study.db`` or load it; refuse one started with another setup or direction.

    The TPE sampler is seeded with ``seed`` for a new study and ``seed + trials so far`` for a resumed one,
    so a search is repeatable and a resumed one does not repeat its first trials' values.
    """
    db = setup.output / "study.db"
    setup.output.mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.RDBStorage(
        f"sqlite:///{db.absolute()}", engine_kwargs={"connect_args": {"timeout": 60}}
    )
    study = optuna.create_study(
        study_name=STUDY_NAME,
        storage=storage,
        sampler=_sampler(setup.seed, setup.jobs),
        pruner=make_pruner(setup.pruner, setup.startup_trials, setup.warmup_epochs),
        direction=setup.direction,
        load_if_exists=True,
    )
    if study.direction.name.lower() != setup.direction:
        raise DataPrepError(
            f"{db}: the study {study.direction.name.lower()}s {setup.metric}; pass --direction "
            f"{study.direction.name.lower()} or another --output"
        )
    wanted, started = setup.fingerprint(), study.user_attrs.get("setup")
    if started is None:
        study.set_user_attr("setup", wanted)
    else:
        for key, value in wanted.items():
            if started.get(key) != value:
                raise DataPrepError(
                    f"{db}: the study was started with another {key} ({started.get(key)!r}, now {value!r}); "
                    "run with the same settings to resume, or pass another --output"
                )
    existing = len(study.get_trials(deepcopy=False))
    if existing:  # a resumed run must not draw the first run's random start-up values again
        study.sampler = _sampler(setup.seed + existing, setup.jobs)
    return study


def _sampler(seed: int, jobs: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.TPESampler(seed=seed, constant_liar=jobs > 1)


def recover_interrupted(study: optuna.Study) -> list[int]:
    """Mark the RUNNING trials of a study no tuner runs as failed (``interrupted``) and enqueue each failed
    interrupted trial once more with its values; returns the numbers of the trials enqueued again.

    Call it only while holding the folder's lock (:func:`run_search` does).
    """
    storage = study._storage  # the study's own storage: Optuna has no public setter for another state
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
        storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    again = []
    for trial in trials:
        if (
            trial.state == TrialState.FAIL
            and trial.user_attrs.get("interrupted")
            and trial.number not in retried
        ):
            study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})
            again.append(trial.number)
    return again


def remaining_trials(study: optuna.Study, total: int) -> int:
    """How many more trials make ``total`` finished ones (an interrupted trial does not count; its retry,
    waiting in the queue, is one of those still to run)."""
    done = sum(
        1
        for t in study.get_trials(deepcopy=False)
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        or (t.state == TrialState.FAIL and not t.user_attrs.get("interrupted"))
    )
    return max(0, total - done)


class Objective:
    """Optuna's objective: a trial is a training in ``OUTPUT/trials/NNNN``; its best metric is the value."""

    def __init__(self, setup: TuneSetup) -> None:
        self.setup = setup
        self.gpus = visible_gpus()
        self.slots: queue.Queue[int] = queue.Queue()
        for slot in range(setup.jobs):
            self.slots.put(slot)

    def __call__(self, trial: optuna.Trial) -> float:
        setup = self.setup
        overrides = setup.space.suggest(trial)
        trial.set_user_attr("overrides", overrides)
        folder = setup.output / "trials" / f"{trial.number:04d}"
        args_file = write_json(overrides, folder / "overrides.json")
        command = trial_command(setup.config_file, setup.dataset_dir, folder, setup.overrides, args_file)

        def report(epoch: int, value: float) -> bool:
            trial.report(value, epoch)
            return trial.should_prune()

        slot = self.slots.get()
        try:
            result = run_trial(
                command,
                folder,
                setup.metric,
                report,
                trial_env(slot, setup.jobs, self.gpus),
                setup.poll_seconds,
            )
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)
            raise
        finally:
            self.slots.put(slot)
        values = list(result.values.values())
        best = (max if setup.direction == "maximize" else min)(values) if values else None
        trial.set_user_attr("best", best)
        trial.set_user_attr("epochs", result.epochs)
        trial.set_user_attr("seconds", round(result.seconds, 1))
        if result.pruned:
            raise optuna.TrialPruned(f"pruned after epoch {max(result.values)}")
        if result.returncode != 0:
            trial.set_user_attr("error", result.error)
            raise TrialFailed(f"{folder / 'train.log'}: {result.error}")
        if best is None:
            rows = read_curves(folder / CURVES_CSV)
            columns = ", ".join(rows[0]) if rows else "no file"
            raise DataPrepError(
                f"{folder / CURVES_CSV}: no value of {setup.metric} after {result.epochs} epoch(s) "
                f"(columns: {columns}); check --metric and the bundle's val_interval"
            )
        return best


@contextlib.contextmanager
def folder_lock(output: Path) -> Iterator[None]:
    """Hold ``OUTPUT/tune.lock`` (``flock``) for the block; refuse a folder another tuner works on."""
    import fcntl

    output.mkdir(parents=True, exist_ok=True)
    path = output / "tune.lock"
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataPrepError(f"{path}: another tune is running on this folder") from None
        yield


def run_search(
    setup: TuneSetup,
    on_trial: Callable[[optuna.Study], None] | None = None,
    say: Callable[[str], None] = print,
) -> optuna.Study:
    """Open or resume the study, run the missing trials, and return the study.

    Args:
        setup: the search.
        on_trial: called with the study after each trial ends (and once at the end), e.g. the reports.
        say: where the few progress lines go.
    """
    with folder_lock(setup.output):
        study = open_study(setup)
        again = recover_interrupted(study)
        if again:
            say(f"resuming: trial(s) {', '.join(map(str, again))} were interrupted and will run again")
        todo = remaining_trials(study, setup.trials)
        say(
            f"{setup.output / 'study.db'}: {setup.trials - todo} of {setup.trials} trials done, {todo} to run"
        )
        lock = threading.Lock()

        def after_trial(study: optuna.Study, trial: Any = None) -> None:
            if on_trial is not None:
                with lock:
                    on_trial(study)

        if todo:
            study.optimize(
                Objective(setup),
                n_trials=todo,
                timeout=setup.budget_minutes * 60 if setup.budget_minutes else None,
                n_jobs=setup.jobs,
                catch=(TrialFailed,),
                callbacks=[after_trial],
            )
        after_trial(study)
        return study
