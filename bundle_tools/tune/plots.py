"""The pictures of a search: the metric of each trial, and the importance of each searched id.

Drawn on :mod:`bundle_tools.visualize.figures`' Agg canvas (no display, no pyplot state), from plain rows
(:func:`bundle_tools.tune.report.trial_rows`) and Optuna's importances, so they need no study to test.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..visualize.figures import new_figure

__all__ = ["importance_figure", "metric_figure"]

#: marker and colour of each trial state
_STYLE = {
    "complete": ("o", "black"),
    "pruned": ("x", "tab:orange"),
    "running": ("s", "tab:blue"),
    "failed": ("v", "tab:red"),
    "interrupted": ("v", "tab:gray"),
}


def metric_figure(rows: Sequence[Mapping[str, Any]], metric: str, maximize: bool = True) -> Figure:
    """The best ``metric`` of each trial (a marker per state) and the best complete trial so far (a step).

    Args:
        rows: the trials' rows (``trial``, ``state``, ``metric``).
        metric: the metric's name, for the axis.
        maximize: whether higher is better (the best-so-far line).
    """
    fig = new_figure((7.0, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    for state, (marker, colour) in _STYLE.items():
        points = [(r["trial"], r["metric"]) for r in rows if r["state"] == state and _finite(r["metric"])]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker, color=colour, linestyle="none", label=state)
    best, xs, ys = None, [], []
    for r in rows:
        if r["state"] == "complete" and _finite(r["metric"]):
            if best is None or (r["metric"] > best if maximize else r["metric"] < best):
                best = r["metric"]
            xs.append(r["trial"])
            ys.append(best)
    if xs:
        ax.step(xs, ys, where="post", color="tab:green", label="best so far")
    ax.set(title=f"{metric} per trial", xlabel="trial", ylabel=f"best {metric}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def importance_figure(importances: Mapping[str, float], method: str = "fANOVA") -> Figure:
    """A horizontal bar per searched id, the most important on top.

    Args:
        importances: ``{id: importance}`` (Optuna's, normalised to sum to 1).
        method: the evaluator's name, for the title.
    """
    names = list(importances)[::-1]
    fig = new_figure((7.0, 1.0 + 0.4 * max(1, len(names))))
    ax = fig.add_subplot(1, 1, 1)
    ax.barh(names, [importances[n] for n in names], color="tab:blue")
    ax.set(title=f"parameter importances ({method})", xlabel="importance", xlim=(0.0, 1.0))
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
