"""Checkpoint handlers of the bundles: the best model and the latest training state, written atomically.

* :class:`BestModelSaver` - evaluator handler: when the validation key metric improves, writes
  ``models/model.pt`` = ``{"model": network state dict, "epoch": E, "metric": M, "plan_sha256": H}`` and,
  just before it, the plan the network was trained with, ``models/plan.json`` (``H`` is the SHA-256 of that
  file's bytes, so inference can tell weights from a plan they were not trained with).
* :class:`LatestCheckpointSaver` - trainer handler: after every epoch (and every N iterations, to survive a
  kill mid-epoch) writes ``models/checkpoint_latest.pt`` = ``{name: obj.state_dict()}`` for network,
  optimizer, LR scheduler, the other stateful handlers and the trainer itself (epoch, iteration).
* :class:`ResumeCheckpointLoader` - MONAI's ``CheckpointLoader`` that loads the same dict back into the
  trainer it is attached to (so a config needs no trainer -> handler -> trainer reference cycle); objects
  named ``optional_keys`` may be missing from an older checkpoint.

MONAI's ``CheckpointSaver`` writes with ``atomic=False`` and keeps a bare state dict for a single object;
here every file goes to a temporary name in the same folder and is renamed over the old one
(``os.replace``), so a run killed while saving never leaves a truncated file. Networks wrapped in
``DistributedDataParallel``/``DataParallel`` are saved without the ``module.`` prefix, and only rank 0
writes when ``torch.distributed`` is initialised. A state holding NaN or infinity is never written
(:class:`~bundle_tools.engines.finite.NonFiniteError`): a diverged run keeps its last good files. The file
functions are in :mod:`bundle_tools.handlers.checkpoint_files`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from monai.handlers import CheckpointLoader
from monai.utils import IgniteInfo, min_version, optional_import

from data_prep.errors import DataPrepError
from data_prep.io import remove_stale_temporaries
from data_prep.plan import Plan, load_plan

from .checkpoint_files import (
    is_rank0,
    read_checkpoint,
    refuse_non_finite,
    save_atomic,
    save_finite,
    unwrap,
    write_plan,
)

Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")

__all__ = ["BestModelSaver", "LatestCheckpointSaver", "ResumeCheckpointLoader"]

_log = logging.getLogger(__name__)


def _state_dicts(save_dict: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for name, obj in save_dict.items():
        obj = unwrap(obj)
        if not hasattr(obj, "state_dict"):
            raise TypeError(f"checkpoint item {name!r} ({type(obj).__name__}) has no state_dict()")
        out[name] = obj.state_dict()
    return out


class BestModelSaver:
    """Evaluator handler: save the network when the validation metric reaches a new best.

    The file is ``{"model": state_dict, "epoch": trainer epoch, "metric": value, "plan_sha256": hash}``;
    MONAI's ``CheckpointLoader(load_dict={"model": net})``, ``ckpt_export --key_in_ckpt model`` and MONAI
    Label read it. The best value so far is part of :meth:`state_dict`, so put this handler in the latest
    checkpoint and a resumed run keeps comparing against the true best.

    With a ``plan``, every save first writes it beside the weights (``plan.json``, atomically), then the
    weights with the plan file's SHA-256: nothing of a run lands in ``models/`` before its first model, and
    a run killed between the two renames leaves a pair that inference recognises as not belonging together.

    Args:
        save_dir: folder of the file (created when needed).
        network: the network (``"@network_def"``; a DDP wrapper is unwrapped).
        filename: file name, default ``model.pt``.
        metric_name: the evaluator metric to maximise; default its key metric.
        name: logger name; default the engine's logger.
        plan: the plan the network is trained with (``"@plan"``), written as ``plan.json`` beside the weights.
    """

    def __init__(
        self,
        save_dir: str | os.PathLike,
        network: torch.nn.Module,
        filename: str = "model.pt",
        metric_name: str | None = None,
        name: str | None = None,
        plan: Plan | dict | str | os.PathLike | None = None,
    ) -> None:
        self.path = Path(save_dir) / filename
        self.plan = None if plan is None else load_plan(plan)
        self.network = network
        self.metric_name = metric_name
        self.logger = logging.getLogger(name) if name else None
        self.best_metric = -math.inf
        self.best_epoch = -1

    def attach(self, engine: Engine) -> None:
        """Register on the evaluator's ``EPOCH_COMPLETED``.

        Args:
            engine: the evaluator run by ``ValidationHandler``.
        """
        if self.logger is None:
            self.logger = engine.logger
        if is_rank0():  # temporary files of a run killed while saving the weights or their plan
            remove_stale_temporaries(self.path)
            remove_stale_temporaries(self.path.with_name("plan.json"))
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        """Compare the evaluator's metric with the best so far; save on improvement."""
        name = self.metric_name or engine.state.key_metric_name
        value = float(engine.state.metrics.get(name, math.nan))
        if math.isnan(value) or value <= self.best_metric:
            return
        self.best_metric, self.best_epoch = value, int(engine.state.epoch)
        if is_rank0():
            state = {"model": unwrap(self.network).state_dict(), "epoch": self.best_epoch, "metric": value}
            refuse_non_finite(state, self.path)  # before the plan: nothing of a bad state lands in models/
            if self.plan is not None:
                state["plan_sha256"] = write_plan(self.plan, self.path.with_name("plan.json"))
            save_atomic(state, self.path)
            (self.logger or _log).info(
                f"new best {name} {value:.4f} at epoch {self.best_epoch} -> {self.path}"
            )

    def state_dict(self) -> dict[str, Any]:
        """The best metric and its epoch (for the latest checkpoint)."""
        return {"best_metric": self.best_metric, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the best metric and its epoch."""
        self.best_metric = float(state_dict["best_metric"])
        self.best_epoch = int(state_dict["best_epoch"])


class LatestCheckpointSaver:
    """Trainer handler: save the whole training state after every epoch and every N iterations.

    Args:
        save_dir: folder of the file (created when needed).
        save_dict: ``{name: object with state_dict()}``, e.g. network, optimizer, lr_scheduler; the engine
            this handler is attached to is added as ``trainer_key``.
        filename: file name, default ``checkpoint_latest.pt``.
        every_n_iterations: also save every N iterations (0: at epoch ends only), so a run killed
            mid-epoch loses at most N iterations.
        trainer_key: the name of the trainer's own state in the file.
        name: logger name; default the engine's logger.
    """

    def __init__(
        self,
        save_dir: str | os.PathLike,
        save_dict: Mapping[str, Any],
        filename: str = "checkpoint_latest.pt",
        every_n_iterations: int = 0,
        trainer_key: str = "trainer",
        name: str | None = None,
    ) -> None:
        if not save_dict:
            raise ValueError("save_dict is empty: nothing to checkpoint")
        if every_n_iterations < 0:
            raise ValueError(f"every_n_iterations must be >= 0, got {every_n_iterations}")
        self.path = Path(save_dir) / filename
        self.save_dict = dict(save_dict)
        self.every_n_iterations = int(every_n_iterations)
        self.trainer_key = trainer_key
        self.logger = logging.getLogger(name) if name else None

    def attach(self, engine: Engine) -> None:
        """Register on the trainer (``EPOCH_COMPLETED`` and every N ``ITERATION_COMPLETED``).

        Args:
            engine: the trainer.
        """
        if self.logger is None:
            self.logger = engine.logger
        self.save_dict.setdefault(self.trainer_key, engine)
        if is_rank0():  # temporary files of a run killed while saving
            remove_stale_temporaries(self.path)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)
        if self.every_n_iterations > 0:
            engine.add_event_handler(
                Events.ITERATION_COMPLETED(every=self.every_n_iterations), self._mid_epoch
            )

    def _mid_epoch(self, engine: Engine) -> None:
        """Save every N iterations, except at an epoch's last iteration: a checkpoint there reads as "epoch
        done" on resume, before that epoch's validation, best model and early stop have run (a kill between
        it and the epoch-end save would skip them for good); the epoch-end save follows anyway."""
        if engine.state.iteration % engine.state.epoch_length != 0:
            self(engine)

    def __call__(self, engine: Engine) -> None:
        """Write the checkpoint (rank 0 only)."""
        if not is_rank0():
            return
        save_finite(_state_dicts(self.save_dict), self.path)
        (self.logger or _log).debug(
            f"latest checkpoint (epoch {engine.state.epoch}, iteration {engine.state.iteration}) -> {self.path}"
        )


class ResumeCheckpointLoader(CheckpointLoader):
    """MONAI ``CheckpointLoader`` that also restores the engine it is attached to (as ``trainer_key``).

    Put it first among the trainer's handlers with the ``save_dict`` of :class:`LatestCheckpointSaver`:
    epoch and iteration counts, optimizer and scheduler state continue where the checkpoint left them.

    Ignite's ``Checkpoint.load_objects`` fails on any object of ``load_dict`` that the file lacks (``strict``
    only concerns the keys inside a network's state dict). Objects added to the checkpoint later (e.g. the
    training curves) go in ``optional_keys``: a checkpoint written before them still resumes, and they start
    afresh with a warning.

    Args:
        load_path: the checkpoint file; a missing, truncated or foreign file raises ``DataPrepError`` naming it.
        load_dict: ``{name: object with load_state_dict()}`` (without the trainer).
        trainer_key: the name of the trainer's state in the file.
        optional_keys: names in ``load_dict`` that the checkpoint may lack.
        kwargs: other ``CheckpointLoader`` arguments (``map_location``, ``strict``, ...).
    """

    def __init__(
        self,
        load_path: str,
        load_dict: Mapping[str, Any],
        trainer_key: str = "trainer",
        optional_keys: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(load_path=str(load_path), load_dict=dict(load_dict), **kwargs)
        self.trainer_key = trainer_key
        self.optional_keys = tuple(optional_keys)

    def attach(self, engine: Engine) -> None:
        """Add ``engine`` to the objects to restore and load them at ``STARTED``.

        Args:
            engine: the trainer.
        """
        self.load_dict.setdefault(self.trainer_key, engine)
        super().attach(engine)

    def __call__(self, engine: Engine) -> None:
        """Load the checkpoint into the objects (called at ``STARTED``)."""
        if not os.path.isfile(self.load_path):
            raise DataPrepError(
                f"{self.load_path}: no checkpoint to resume from (train once without `--resume true` first)"
            )
        self.load_dict = {k: unwrap(v) for k, v in self.load_dict.items()}
        saved = read_checkpoint(self.load_path)  # memory-mapped: a truncated file fails here, named
        missing = [k for k in self.load_dict if k not in saved and k not in self.optional_keys]
        if missing:
            raise DataPrepError(
                f"{self.load_path}: holds no {', '.join(map(repr, missing))} state; not a checkpoint of this "
                "training (resume only from the checkpoint_latest.pt a run of this bundle wrote)"
            )
        for key in self.optional_keys:
            if key in self.load_dict and key not in saved:
                self.logger.warning(
                    f"{self.load_path}: no {key!r} state (an older checkpoint); it starts afresh"
                )
                del self.load_dict[key]
        try:
            super().__call__(engine)
        except (RuntimeError, KeyError, ValueError) as err:  # shapes or keys of another network or optimizer
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
            raise DataPrepError(f"{self.load_path}: does not fit this training ({reason})") from err
