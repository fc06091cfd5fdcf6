"""Learning curves: the training loss per epoch and the validation metrics, overall and per class.

A history is a dict of plain lists (what :class:`bundle_tools.handlers.TrainingCurves` records and keeps in
its ``state_dict``)::

    {"epoch": [1, 2], "loss": [0.9, 0.7],          # epochs with a training loss
     "val_epoch": [2],                              # epochs with a validation
     "metrics": {"Mean Dice": [0.6], "HD95": [8.0]},
     "per_class": {"liver": [0.7], "spleen": [0.5]}}  # per-class values of the main metric

:func:`training_curves_figure` draws one panel for the loss, one for the main metric with a line per
class, and one for the other metrics (e.g. HD95 in mm).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .figures import class_colour, new_figure

__all__ = ["empty_history", "plain_history", "training_curves_figure"]


def empty_history() -> dict[str, Any]:
    """A history with no epoch yet."""
    return {"epoch": [], "loss": [], "val_epoch": [], "metrics": {}, "per_class": {}}


def plain_history(history: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``history`` of Python ints, floats, strings, lists and dicts only (``weights_only`` loadable).

    Args:
        history: a history (see the module's docstring), possibly with NumPy or tensor numbers.
    """
    return {
        "epoch": [int(e) for e in history["epoch"]],
        "loss": [float(v) for v in history["loss"]],
        "val_epoch": [int(e) for e in history["val_epoch"]],
        "metrics": {str(k): [float(v) for v in vs] for k, vs in history["metrics"].items()},
        "per_class": {str(k): [float(v) for v in vs] for k, vs in history["per_class"].items()},
    }


def training_curves_figure(history: Mapping[str, Any], metric_name: str | None = None) -> Figure:
    """The figure of ``history``: loss; ``metric_name`` (mean and per class); the other metrics.

    The metric panels are left out when there is no metric; the main metric's axis spans 0..1 when its
    values do (Dice), else it is scaled to them.

    Args:
        history: the recorded values (see the module's docstring).
        metric_name: the main metric, drawn with the per-class lines; None when nothing was validated.
    """
    others = [k for k in history["metrics"] if k != metric_name]
    panels = 1 + bool(metric_name) + bool(others)
    fig = new_figure((5.0 * panels, 4.0))
    axes = [fig.add_subplot(1, panels, i + 1) for i in range(panels)]
    ax = axes[0]
    ax.plot(history["epoch"], history["loss"], "o-", color="black", markersize=3)
    ax.set(title="training loss", xlabel="epoch", ylabel="loss")
    ax.grid(alpha=0.3)
    epochs = history["val_epoch"]
    if metric_name:
        ax = axes[1]
        values = history["metrics"].get(metric_name, [])
        ax.plot(epochs, values, "o-", color="black", linewidth=2.5, markersize=4, label=f"mean {metric_name}")
        for i, (name, per_class) in enumerate(history["per_class"].items()):
            ax.plot(
                epochs, per_class, "o-", color=class_colour(i + 1), markersize=3, linewidth=1.2, label=name
            )
        ax.set(
            title=f"validation {metric_name}",
            xlabel="epoch",
            ylim=(0.0, 1.0 if _unit_range(values) else None),
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    if others:
        ax = axes[-1]
        for i, name in enumerate(others):
            ax.plot(epochs, history["metrics"][name], "o-", color=class_colour(i), markersize=3, label=name)
        ax.set(title="other validation metrics", xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def _unit_range(values: Sequence[float]) -> bool:
    finite = [v for v in values if np.isfinite(v)]
    return bool(finite) and min(finite) >= 0.0 and max(finite) <= 1.0
