"""A gallery of the cases a model segments worst: one row per case, the picture (or slice) alone and with
ground truth (contours) and prediction (fill), titled with the case's Dice.

The seed study of the polyp bundle ends on its four worst predictions; a reader learns more from them
than from a mean. :class:`bundle_tools.handlers.WorstCasesGallery` collects the cases during evaluation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..metrics.names import class_name_map
from .figures import intensity_window, new_figure, save_png, show_image
from .overlays import View, draw_view, legend_handles, present_classes

__all__ = ["save_worst_cases"]


def save_worst_cases(
    cases: Sequence[tuple[str, float, View]],
    path: str | os.PathLike,
    class_names: Mapping[Any, str] | Sequence[str] | None = None,
    score_name: str = "Dice",
) -> Path:
    """PNG with one row per ``(name, score, view)``, in the given order.

    Args:
        cases: the case name, its score and its view (:func:`bundle_tools.visualize.overlays.case_views`).
        path: the PNG to write.
        class_names: names by label (dict or list, background first).
        score_name: what the score is, for the row titles.
    """
    if not cases:
        raise ValueError("no cases to draw")
    names = class_name_map(class_names, include_background=False) if class_names is not None else {}
    classes = present_classes([view for _, _, view in cases], names)
    fig = new_figure((2 * 3.2 + 1.8, 3.2 * len(cases) + 0.6))
    for row, (name, score, view) in enumerate(cases):
        window = intensity_window(view.image)
        plain = fig.add_subplot(len(cases), 2, 2 * row + 1)
        show_image(plain, view.image, window, view.aspect, view.origin)
        plain.set_axis_off()
        plain.set_title(name if view.name == "picture" else f"{name}  ({view.name})", fontsize=9, loc="left")
        overlay = fig.add_subplot(len(cases), 2, 2 * row + 2)
        draw_view(overlay, view, classes, window)
        overlay.set_title(f"{score_name} {score:.3f}" if np.isfinite(score) else score_name, fontsize=9)
    fig.legend(handles=legend_handles(classes, names), loc="center right", fontsize=8, frameon=False)
    fig.suptitle(f"worst {len(cases)} case(s) by {score_name}", fontsize=10)
    fig.subplots_adjust(left=0.02, right=1 - 1.8 / fig.get_figwidth(), top=1 - 0.7 / fig.get_figheight(),
                        bottom=0.02, wspace=0.05, hspace=0.15)  # fmt: skip
    return save_png(fig, path)
