"""The pictures of a network comparison: box plots, the validation curves of all networks, overlay tiles.

Drawn on :mod:`bundle_tools.visualize.figures`' Agg canvas from plain numbers (no engine, no study), so
the report's tests draw them from fake tables:

* :func:`box_figure` - one metric: per class, a box per network side by side (cases as points);
* :func:`curves_figure` - per network, the validation metric per epoch averaged over folds, the folds'
  range shaded;
* :func:`overlay_row_figure` - one case, the overlay picture each network's fold evaluation drew for it
  (:func:`bundle_tools.visualize.overlays.save_segmentation_overlay`), side by side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from ..visualize.figures import class_colour, new_figure

__all__ = ["Curve", "box_figure", "curves_figure", "network_colour", "overlay_row_figure"]

Curve = tuple[list[int], list[float], list[float], list[float]]  # epochs, mean, low, high over folds


def network_colour(i: int) -> tuple[float, float, float, float]:
    """The colour of the ``i``-th network (0 first), the same in every picture."""
    return class_colour(i + 1)


def box_figure(values: Mapping[str, Mapping[str, Sequence[float]]], metric: str) -> Figure:
    """Box plots of ``metric``: a group per class, a box per network in it.

    Args:
        values: ``{network: {class: per-case values}}`` (non-finite values are left out).
        metric: the metric's name, for the axis.
    """
    networks = list(values)
    classes = list(dict.fromkeys(c for by_class in values.values() for c in by_class))
    width = 0.8 / max(1, len(networks))
    fig = new_figure((max(6.0, 1.2 + 0.9 * len(classes) * max(1, len(networks)) * 0.6), 4.5))
    ax = fig.add_subplot(1, 1, 1)
    for j, network in enumerate(networks):
        colour = network_colour(j)
        for i, name in enumerate(classes):
            data = [v for v in values[network].get(name, []) if math.isfinite(v)]
            if not data:
                continue
            x = i + (j - (len(networks) - 1) / 2) * width
            box = ax.boxplot([data], positions=[x], widths=width * 0.85, patch_artist=True, showfliers=False)
            for patch in box["boxes"]:
                patch.set(facecolor=(*colour[:3], 0.35), edgecolor=colour)
            for median in box["medians"]:
                median.set(color="black")
            jitter = np.random.default_rng(i * 31 + j).uniform(-width * 0.25, width * 0.25, size=len(data))
            ax.plot(x + jitter, data, ".", color=colour, markersize=3, alpha=0.8)
    ax.set_xticks(range(len(classes)), classes, rotation=20 if len(classes) > 4 else 0)
    ax.set_xlim(-0.6, len(classes) - 0.4)
    ax.set(title=f"{metric} per class (out-of-fold cases)", ylabel=metric)
    ax.grid(alpha=0.3, axis="y")
    handles = [Patch(facecolor=(*network_colour(j)[:3], 0.35), edgecolor=network_colour(j), label=n)
               for j, n in enumerate(networks)]  # fmt: skip
    ax.legend(handles=handles, fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def curves_figure(curves: Mapping[str, Curve], metric: str = "val_mean_dice") -> Figure:
    """The validation ``metric`` per epoch of every network: the mean over folds and their range.

    Args:
        curves: ``{network: (epochs, mean, low, high)}``; a network without epochs is named in the legend.
        metric: the metric's name, for the axis.
    """
    fig = new_figure((7.0, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    for j, (network, (epochs, mean, low, high)) in enumerate(curves.items()):
        colour = network_colour(j)
        if not epochs:
            ax.plot([], [], color=colour, label=f"{network} (no validation)")
            continue
        ax.plot(epochs, mean, "o-", color=colour, markersize=3, label=network)
        ax.fill_between(epochs, low, high, color=colour, alpha=0.15, linewidth=0)
    ax.set(title=f"validation {metric}, mean over folds (range shaded)", xlabel="epoch", ylabel=metric)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def overlay_row_figure(case: str, panels: Sequence[tuple[str, str, np.ndarray | None]]) -> Figure:
    """The pictures of one case side by side, one per network.

    Args:
        case: the case's name, for the title.
        panels: ``(network, caption, picture)``; a picture of None is drawn as "no overlay".
    """
    shapes = [p.shape for _, _, p in panels if p is not None]
    aspect = (shapes[0][0] / shapes[0][1]) if shapes else 1.0
    panel_width = 4.5
    fig = new_figure((panel_width * len(panels), panel_width * aspect + 0.7))
    for i, (network, caption, picture) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        if picture is None:
            ax.text(0.5, 0.5, "no overlay", ha="center", va="center", transform=ax.transAxes)
        else:
            ax.imshow(picture)
        ax.set_axis_off()
        ax.set_title(f"{network}\n{caption}", fontsize=9, color=network_colour(i))
    fig.suptitle(case, fontsize=10)
    fig.subplots_adjust(left=0.01, right=0.99, top=1 - 0.7 / fig.get_figheight(), bottom=0.01, wspace=0.03)
    return fig
