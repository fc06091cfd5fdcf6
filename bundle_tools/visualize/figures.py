"""The canvas every picture is drawn on: matplotlib's Agg figure, class colours, a greyscale slice, PNG files.

Figures are drawn on matplotlib's Agg canvas (no display, no pyplot state) and written atomically
(``data_prep.io.write_bytes``: a temporary sibling renamed over the file), so a killed run never leaves a
truncated PNG.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from data_prep.io import write_bytes

__all__ = ["DPI", "class_colour", "intensity_window", "new_figure", "save_png", "show_image"]

DPI = 100
"""Dots per inch of every picture (a 5 x 4 inch panel is 500 x 400 pixels)."""


def new_figure(size: tuple[float, float]) -> Figure:
    """An empty figure of ``size`` inches on its own Agg canvas.

    Args:
        size: ``(width, height)`` in inches.
    """
    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` as a PNG to ``path`` atomically (the folder is made); returns the path.

    Args:
        fig: the figure (from :func:`new_figure`).
        path: the PNG to write.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return write_bytes(buffer.getvalue(), path)


def class_colour(c: int) -> tuple[float, float, float, float]:
    """RGBA colour of label ``c`` (matplotlib's ``tab10``; label 1 is its blue, the 11th label wraps around).

    Args:
        c: the label (1 for the first foreground class).
    """
    from matplotlib import colormaps

    return colormaps["tab10"]((c - 1) % 10)


def intensity_window(image: np.ndarray) -> tuple[float, float]:
    """The grey-level window of ``image``: its 1st and 99th percentiles (``(0, 1)`` for an empty array).

    Args:
        image: the intensities.
    """
    if not image.size:
        return 0.0, 1.0
    low, high = np.percentile(image, (1, 99))
    return float(low), float(high)


def show_image(
    ax: Axes, image2d: np.ndarray, window: tuple[float, float], aspect: float, origin: str = "lower"
) -> Any:
    """Draw a 2D slice in grey, or an RGB picture, on ``ax``: first axis left to right, second bottom to top
    (RAS slices, ``origin="lower"``) or top to bottom (pictures, ``origin="upper"``).

    Args:
        ax: the panel.
        image2d: the slice, ``(horizontal, vertical)``, or an RGB picture ``(horizontal, vertical, 3)``.
        window: ``(low, high)`` intensities mapped to black and white (see :func:`intensity_window`); an RGB
            picture is windowed per channel (1st to 99th percentile) instead.
        aspect: physical height / width of a pixel (vertical spacing / horizontal spacing).
        origin: where the first row is drawn, as matplotlib's ``imshow``.
    """
    low, high = window
    high = high if high > low else low + 1
    if image2d.ndim == 3:  # RGB, normalised per channel by the plan: each channel gets its own window back
        lows, highs = np.percentile(image2d, (1, 99), axis=(0, 1))
        rgb = np.clip((image2d - lows) / np.maximum(highs - lows, 1e-6), 0.0, 1.0)
        return ax.imshow(np.transpose(rgb, (1, 0, 2)), origin=origin, aspect=aspect)
    return ax.imshow(image2d.T, cmap="gray", origin=origin, vmin=low, vmax=high, aspect=aspect)
