"""Training curves of a bundle's trainer: ``training_curves.png`` after every epoch, surviving a resume.

:class:`TrainingCurves` records the loss per epoch and the validator's metrics (mean Dice and per-class
Dice from MONAI's ``MeanDice(save_details=True)``) and draws them with
:func:`bundle_tools.visualize.curves.training_curves_figure`. Its history is a ``state_dict()``, so a
resumed training keeps the epochs before the interruption. Beside the PNG, ``training_curves.csv`` holds the
same history as numbers (one row per epoch: ``epoch``, ``loss``, each validation metric, the main metric
per class), rewritten atomically with the picture, for users and for ``python -m bundle_tools tune``, which
reads it while a trial trains.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ignite.engine import Engine, Events
from matplotlib.figure import Figure
from monai.handlers import from_engine

from data_prep.io import remove_stale_temporaries, write_text

from ..metrics.names import class_name_map
from ..visualize.curves import empty_history, plain_history, training_curves_figure
from ..visualize.figures import save_png
from .checkpoint_files import is_rank0

__all__ = ["TrainingCurves", "history_csv"]


class TrainingCurves:
    """Trainer handler: ``training_curves.png`` with the loss per epoch and the validation metrics.

    The loss of an epoch is the mean of its iterations' losses (``loss_transform`` of
    ``engine.state.output``). With a ``validator``, its metrics are read when it completes (so the order
    of the trainer's handlers does not matter): the key metric (e.g. mean Dice) and, when the metric
    keeps details (``MeanDice(include_background=False, save_details=True)`` stores ``(cases, classes)``
    in ``engine.state.metric_details``), the per-class means over cases; other scalar metrics (e.g. HD95
    in mm) go to a third panel. The picture is redrawn after every epoch, by rank 0 alone when
    ``torch.distributed`` is initialised (the other ranks record the same history and draw nothing).

    The history is the handler's :meth:`state_dict` (plain lists and dicts, readable with
    ``torch.load(weights_only=True)``): put the handler in the latest checkpoint's ``save_dict`` and the
    resume's ``load_dict``, and the picture of a resumed training starts at epoch 1. The state holds the
    losses of the epoch in progress too, so an epoch interrupted midway still gets the mean over all its
    iterations (put the checkpoint saver after this handler so the iteration that triggers a save counts).

    Args:
        output_dir: folder of the PNG.
        validator: the evaluator run by ``ValidationHandler`` (``"@validate#evaluator"``), optional.
        class_names: names by label (dict or list, background first) for the per-class lines.
        include_background: whether the metric details include label 0 (as the metric was configured).
        loss_transform: maps ``engine.state.output`` to the loss; default ``from_engine(["loss"], first=True)``.
        metric_name: which validator metric is the main one; default its key metric.
        filename: the PNG's file name.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        validator: Engine | None = None,
        class_names: Mapping[Any, str] | Sequence[str] | None = None,
        include_background: bool = False,
        loss_transform: Callable[[Any], Any] | None = None,
        metric_name: str | None = None,
        filename: str = "training_curves.png",
    ) -> None:
        self.path = Path(output_dir) / filename
        self.validator = validator
        self.class_names = class_name_map(class_names, include_background) if class_names is not None else {}
        self.include_background = include_background
        self.loss_transform = loss_transform or from_engine(["loss"], first=True)
        self.metric_name = metric_name
        self.history: dict[str, Any] = empty_history()
        self._epoch_losses: list[float] = []
        self._trainer: Engine | None = None
        self._drawn_epoch = -1
        self._resumed_losses: tuple[int, list[float]] | None = None  # (epoch, its losses) from a checkpoint

    def attach(self, engine: Engine) -> None:
        """Register on the trainer (and on the validator's ``COMPLETED`` when one is given).

        Args:
            engine: the trainer.
        """
        self._trainer = engine
        if is_rank0():  # temporary files of a run killed while drawing
            remove_stale_temporaries(self.path)
            remove_stale_temporaries(self.csv_path)
        engine.add_event_handler(Events.EPOCH_STARTED, self._start_epoch)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._record_iteration)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._complete_epoch)
        if self.validator is not None:
            self.validator.add_event_handler(Events.COMPLETED, self._record_validation)

    def record(
        self,
        epoch: int,
        loss: float | None = None,
        metrics: Mapping[str, float] | None = None,
        per_class: Mapping[str, float] | None = None,
    ) -> None:
        """Add one epoch's values by hand (what the handlers do from the engines).

        Args:
            epoch: the epoch number.
            loss: the mean training loss of the epoch.
            metrics: validation metrics ``{name: value}``; the first (or ``metric_name``) is the main one.
            per_class: per-class values of the main metric ``{class name: value}``.
        """
        if loss is not None:
            self.history["epoch"].append(epoch)
            self.history["loss"].append(float(loss))
        if metrics:
            self.history["val_epoch"].append(epoch)
            n = len(self.history["val_epoch"])
            for name, value in metrics.items():
                self.history["metrics"].setdefault(name, [np.nan] * (n - 1)).append(float(value))
            for values in self.history["metrics"].values():
                values.extend([np.nan] * (n - len(values)))
            for name, value in (per_class or {}).items():
                self.history["per_class"].setdefault(name, [np.nan] * (n - 1)).append(float(value))
            for values in self.history["per_class"].values():
                values.extend([np.nan] * (n - len(values)))
            if self.metric_name is None:
                self.metric_name = next(iter(metrics))

    def state_dict(self) -> dict[str, Any]:
        """The history, the main metric's name and the losses of the epoch in progress (plain containers)."""
        return {
            "history": plain_history(self.history),
            "metric_name": self.metric_name,
            "epoch": int(self._trainer.state.epoch) if self._trainer is not None else 0,
            "epoch_losses": [float(v) for v in self._epoch_losses],
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (the next epoch of the trainer continues it).

        Args:
            state_dict: the state of a previous run, e.g. from the latest checkpoint.
        """
        self.history = plain_history(state_dict["history"])
        if self.metric_name is None:
            self.metric_name = state_dict.get("metric_name")
        losses = [float(v) for v in state_dict.get("epoch_losses", [])]
        self._resumed_losses = (int(state_dict.get("epoch", 0)), losses) if losses else None

    def figure(self) -> Figure:
        """The figure of the recorded history (loss; main metric and per class; other metrics)."""
        return training_curves_figure(self.history, self.metric_name)

    def draw(self) -> Path | None:
        """Write the PNG and the CSV from the recorded history; returns the PNG's path (None on ranks other
        than 0)."""
        if not is_rank0():
            return None
        self.write_csv()
        return save_png(self.figure(), self.path)

    @property
    def csv_path(self) -> Path:
        """The CSV beside the PNG (``training_curves.csv``)."""
        return self.path.with_suffix(".csv")

    def write_csv(self) -> Path:
        """Write the history as :func:`history_csv` to :attr:`csv_path` atomically; returns its path."""
        return write_text(history_csv(self.history, self.metric_name), self.csv_path)

    def _start_epoch(self, engine: Engine) -> None:
        self._epoch_losses = []
        if self._resumed_losses is None:
            return
        (epoch, losses), self._resumed_losses = self._resumed_losses, None
        if epoch == engine.state.epoch:  # resumed mid-epoch: the iterations before the checkpoint count too
            self._epoch_losses = losses
        elif 0 < epoch < engine.state.epoch and epoch not in self.history["epoch"]:
            # saved at the end of that epoch by a checkpoint saver that runs before this handler
            self.record(epoch, loss=float(np.mean(losses)))

    def _record_iteration(self, engine: Engine) -> None:
        loss = self.loss_transform(engine.state.output)
        if loss is not None:
            self._epoch_losses.append(float(torch.as_tensor(loss).detach().float().mean()))

    def _complete_epoch(self, engine: Engine) -> None:
        if self._epoch_losses:
            self.record(engine.state.epoch, loss=float(np.mean(self._epoch_losses)))
        self.draw()
        self._drawn_epoch = engine.state.epoch

    def _record_validation(self, validator: Engine) -> None:
        metrics = {k: float(v) for k, v in validator.state.metrics.items() if _is_scalar(v)}
        if not metrics:
            return
        main = self.metric_name or getattr(validator.state, "key_metric_name", None) or next(iter(metrics))
        self.metric_name = main
        metrics = {main: metrics[main], **metrics} if main in metrics else metrics
        per_class: dict[str, float] = {}
        details = getattr(validator.state, "metric_details", {}).get(main)
        if details is not None:
            values = np.asarray(torch.as_tensor(details).detach().cpu().float())
            if values.ndim == 2 and values.shape[1] > 1:
                first = 0 if self.include_background else 1
                means = np.nanmean(values, axis=0)
                per_class = {
                    self.class_names.get(first + i, f"class {first + i}"): float(m)
                    for i, m in enumerate(means)
                }
        epoch = self._trainer.state.epoch if self._trainer is not None else len(self.history["val_epoch"]) + 1
        self.record(epoch, metrics=metrics, per_class=per_class)
        if self._drawn_epoch == epoch or self._trainer is None:  # else the trainer's epoch end draws it
            self.draw()


def history_csv(history: Mapping[str, Any], metric_name: str | None = None) -> str:
    """The CSV text of a history: a row per epoch with a loss or a validation, in epoch order.

    Columns: ``epoch``, ``loss``, each validation metric (e.g. ``val_mean_dice``, ``val_hd95_mm``), then
    the main metric per class as ``<metric>_<class>`` (spaces in a class name become ``_``). A value an
    epoch does not have (no validation that epoch, a metric that was not finite) is an empty cell.

    Args:
        history: the recorded values (see :mod:`bundle_tools.visualize.curves`).
        metric_name: the main metric, the prefix of the per-class columns.
    """

    def by_epoch(epochs: Sequence[Any], values: Sequence[Any]) -> dict[int, float]:
        return {int(e): float(v) for e, v in zip(epochs, values, strict=False)}

    prefix = metric_name or "metric"
    columns = {"loss": by_epoch(history["epoch"], history["loss"])}
    for name, values in history["metrics"].items():
        columns[str(name)] = by_epoch(history["val_epoch"], values)
    for name, values in history["per_class"].items():
        columns[f"{prefix}_{str(name).replace(' ', '_')}"] = by_epoch(history["val_epoch"], values)
    epochs = sorted({int(e) for e in history["epoch"]} | {int(e) for e in history["val_epoch"]})
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["epoch", *columns])
    for epoch in epochs:
        cells = (column.get(epoch) for column in columns.values())
        writer.writerow([epoch, *("" if v is None or not math.isfinite(v) else repr(v) for v in cells)])
    return text.getvalue()


def _is_scalar(value: Any) -> bool:
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, torch.Tensor) and value.numel() == 1
