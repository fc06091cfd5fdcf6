"""Segmentation overlays: the image with the ground truth as solid contours and the prediction as a fill.

:func:`save_segmentation_overlay` draws, for one case, the slices with the most ground-truth foreground
(axial, or axial/coronal/sagittal; see :mod:`bundle_tools.visualize.slices`), coloured by class, with a
legend of class names. ``bundle_tools.handlers.OverlaySaver`` draws it for an evaluator's cases.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from bundle_tools.metrics.names import class_name_map
from bundle_tools.visualize.figures import class_colour, intensity_window, new_figure, save_png, show_image
from bundle_tools.visualize.slices import (
    PLANES,
    as_numpy,
    in_plane_axes,
    label_map,
    representative_slice,
    spacing_or_ones,
)

__all__ = ["save_segmentation_overlay"]


def save_segmentation_overlay(
    image: Any,
    label: Any,
    pred: Any,
    path: str | os.PathLike,
    class_names: Mapping[Any, str] | Sequence[str] | None = None,
    spacing: Sequence[float] | None = None,
    planes: Sequence[str] = ("axial",),
    title: str | None = None,
) -> Path:
    """PNG of the image with ground-truth contours (solid) and the prediction (translucent fill).

    One panel per plane, on the slice with the most ground-truth foreground (or prediction if the
    ground truth is empty); a legend names each class by colour.

    Args:
        image: channel-first image ``(C, *spatial)``, 2D or 3D; the first channel is drawn.
        label: ground truth, label map or one-hot channels (argmax is taken).
        pred: prediction, same forms as ``label``.
        path: the PNG to write.
        class_names: names by label (dict or list, background first).
        spacing: voxel spacing in mm for the aspect ratio; default read from a ``MetaTensor`` image or 1.
        planes: for 3D: any of ``"axial"``, ``"coronal"``, ``"sagittal"``; ignored for 2D images.
        title: figure title (default the file name).
    """
    img = as_numpy(image).astype(np.float32)[0]
    gt, pr = label_map(label, img.ndim), label_map(pred, img.ndim)
    if gt.shape != img.shape or pr.shape != img.shape:
        raise ValueError(f"image {img.shape}, label {gt.shape} and prediction {pr.shape} differ in shape")
    spacing = tuple(spacing) if spacing is not None else spacing_or_ones(image, label, img.ndim)
    names = class_name_map(class_names, include_background=False) if class_names is not None else {}
    classes = sorted((set(np.unique(gt).tolist()) | set(np.unique(pr).tolist()) | set(names)) - {0})
    views = [(p, PLANES[p]) for p in planes] if img.ndim == 3 else [("slice", None)]
    fig = new_figure((4.2 * len(views) + 1.8, 4.6))
    window = intensity_window(img)
    for i, (plane, axis) in enumerate(views):
        ax = fig.add_subplot(1, len(views), i + 1)
        if axis is None:
            cut_img, cut_gt, cut_pr, (h, v) = img, gt, pr, (0, 1)
        else:
            index = representative_slice(gt if gt.any() else pr, axis)
            cut_img, cut_gt, cut_pr = (np.take(a, index, axis=axis) for a in (img, gt, pr))
            h, v = in_plane_axes(axis)
            plane = f"{plane} {index}"
        aspect = spacing[v] / spacing[h]
        show_image(ax, cut_img, window, aspect)
        _draw_classes(ax, cut_gt, cut_pr, classes, aspect)
        ax.set_title(plane, fontsize=10)
        ax.set_axis_off()
    fig.legend(handles=_legend_handles(classes, names), loc="center right", fontsize=8, frameon=False)
    fig.suptitle(title or Path(path).stem, fontsize=10)
    fig.subplots_adjust(left=0.02, right=1 - 1.8 / fig.get_figwidth(), top=0.84, bottom=0.02, wspace=0.05)
    return save_png(fig, path)


def _draw_classes(ax: Axes, gt: np.ndarray, pred: np.ndarray, classes: Sequence[int], aspect: float) -> None:
    """Each class's prediction as a translucent fill and its ground truth as a contour, on a 2D slice."""
    for c in classes:
        colour = class_colour(c)
        pred_mask = pred.T == c
        if pred_mask.any():
            fill = np.zeros((*pred_mask.shape, 4))
            fill[pred_mask] = (*colour[:3], 0.4)
            ax.imshow(fill, origin="lower", aspect=aspect, interpolation="nearest")
        if (gt == c).any():
            ax.contour((gt.T == c).astype(float), levels=[0.5], colors=[colour], linewidths=1.5)


def _legend_handles(classes: Sequence[int], names: Mapping[int, str]) -> list[Any]:
    """A colour patch per class, a gap, then what a line and a fill mean."""
    handles: list[Any] = [Patch(facecolor=class_colour(c), label=names.get(c, f"class {c}")) for c in classes]
    return [
        *handles,
        Line2D([], [], color="white", markeredgecolor="black", linewidth=0, label=""),
        Line2D([], [], color="black", linewidth=1.5, label="ground truth (line)"),
        Patch(facecolor=(0, 0, 0, 0.4), label="prediction (fill)"),
    ]
