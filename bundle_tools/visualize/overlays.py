"""Segmentation overlays: the image with the ground truth as solid contours and the prediction as a fill.

:func:`save_segmentation_overlay` draws, for one case, the slices with the most ground-truth foreground
(axial, or axial/coronal/sagittal; see :mod:`bundle_tools.visualize.slices`), coloured by class, with a
legend of class names. ``bundle_tools.handlers.OverlaySaver`` draws it for an evaluator's cases.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..metrics.names import class_name_map
from .figures import class_colour, intensity_window, new_figure, save_png, show_image
from .slices import (
    PLANES,
    as_numpy,
    in_plane_axes,
    label_map,
    representative_slice,
    spacing_or_ones,
)

__all__ = [
    "View",
    "case_views",
    "draw_view",
    "legend_handles",
    "present_classes",
    "save_segmentation_overlay",
]


class View(NamedTuple):
    """One panel: the picture or slice, its ground truth and prediction, how to draw them, and its name."""

    image: np.ndarray  # (horizontal, vertical) grey, or (horizontal, vertical, 3) RGB
    gt: np.ndarray
    pred: np.ndarray
    aspect: float
    origin: str
    name: str


def case_views(
    image: Any,
    label: Any,
    pred: Any,
    spacing: Sequence[float] | None = None,
    planes: Sequence[str] = ("axial",),
) -> list[View]:
    """The panels of one case: per plane of a 3D volume, the slice with the most ground-truth foreground
    (else prediction), drawn in RAS (first row at the bottom); a 2D case is one panel drawn as a picture
    (first row at the top), in colour when it has 3 channels (RGB).

    Args:
        image: channel-first image ``(C, *spatial)``, 2D or 3D; the first channel is drawn (3D, grey 2D).
        label: ground truth, label map or one-hot channels (argmax is taken).
        pred: prediction, same forms as ``label``.
        spacing: voxel spacing in mm for the aspect ratio; default read from a ``MetaTensor`` image or 1.
        planes: for 3D: any of ``"axial"``, ``"coronal"``, ``"sagittal"``; ignored for 2D images.
    """
    channels = as_numpy(image).astype(np.float32)
    img = channels[0]
    gt, pr = label_map(label, img.ndim), label_map(pred, img.ndim)
    if gt.shape != img.shape or pr.shape != img.shape:
        raise ValueError(f"image {img.shape}, label {gt.shape} and prediction {pr.shape} differ in shape")
    spacing = tuple(spacing) if spacing is not None else spacing_or_ones(image, label, img.ndim)
    if img.ndim == 2:
        picture = np.moveaxis(channels[:3], 0, -1) if channels.shape[0] == 3 else img
        return [View(picture, gt, pr, spacing[1] / spacing[0], "upper", "picture")]
    views = []
    for plane in planes:
        axis = PLANES[plane]
        index = representative_slice(gt if gt.any() else pr, axis)
        h, v = in_plane_axes(axis)
        cut = [np.take(a, index, axis=axis) for a in (img, gt, pr)]
        views.append(View(*cut, spacing[v] / spacing[h], "lower", f"{plane} {index}"))
    return views


def draw_view(ax: Axes, view: View, classes: Sequence[int], window: tuple[float, float]) -> None:
    """The view's image with each class's ground truth as a contour and its prediction as a fill."""
    show_image(ax, view.image, window, view.aspect, view.origin)
    for c in classes:
        colour = class_colour(c)
        pred_mask = view.pred.T == c
        if pred_mask.any():
            fill = np.zeros((*pred_mask.shape, 4))
            fill[pred_mask] = (*colour[:3], 0.4)
            ax.imshow(fill, origin=view.origin, aspect=view.aspect, interpolation="nearest")
        if (view.gt == c).any():
            ax.contour((view.gt.T == c).astype(float), levels=[0.5], colors=[colour], linewidths=1.5)
    ax.set_axis_off()


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

    One panel per plane (:func:`case_views`); a legend names each class by colour.

    Args:
        image: channel-first image ``(C, *spatial)``, 2D or 3D (an RGB picture is drawn in colour).
        label: ground truth, label map or one-hot channels (argmax is taken).
        pred: prediction, same forms as ``label``.
        path: the PNG to write.
        class_names: names by label (dict or list, background first).
        spacing: voxel spacing in mm for the aspect ratio; default read from a ``MetaTensor`` image or 1.
        planes: for 3D: any of ``"axial"``, ``"coronal"``, ``"sagittal"``; ignored for 2D images.
        title: figure title (default the file name).
    """
    views = case_views(image, label, pred, spacing, planes)
    names = class_name_map(class_names, include_background=False) if class_names is not None else {}
    classes = present_classes(views, names)
    fig = new_figure((4.2 * len(views) + 1.8, 4.6))
    window = intensity_window(views[0].image if views[0].image.ndim == 3 else as_numpy(image)[0])
    for i, view in enumerate(views):
        ax = fig.add_subplot(1, len(views), i + 1)
        draw_view(ax, view, classes, window)
        ax.set_title(view.name, fontsize=10)
    fig.legend(handles=legend_handles(classes, names), loc="center right", fontsize=8, frameon=False)
    fig.suptitle(title or Path(path).stem, fontsize=10)
    fig.subplots_adjust(left=0.02, right=1 - 1.8 / fig.get_figwidth(), top=0.84, bottom=0.02, wspace=0.05)
    return save_png(fig, path)


def present_classes(views: Sequence[View], names: Mapping[int, str]) -> list[int]:
    """The foreground classes in any view's ground truth or prediction, or named."""
    found = {int(v) for view in views for a in (view.gt, view.pred) for v in np.unique(a)}
    return sorted((found | set(names)) - {0})


def legend_handles(classes: Sequence[int], names: Mapping[int, str]) -> list[Any]:
    """A colour patch per class, a gap, then what a line and a fill mean."""
    handles: list[Any] = [Patch(facecolor=class_colour(c), label=names.get(c, f"class {c}")) for c in classes]
    return [
        *handles,
        Line2D([], [], color="white", markeredgecolor="black", linewidth=0, label=""),
        Line2D([], [], color="black", linewidth=1.5, label="ground truth (line)"),
        Patch(facecolor=(0, 0, 0, 0.4), label="prediction (fill)"),
    ]
