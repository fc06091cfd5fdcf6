"""Attention maps: the coefficients of each Attention U-Net gate over the image, on one slice.

:func:`save_attention_overlay` draws the maps ``custom_networks.attention_maps(net, x)`` returns (each gate's
coefficients alpha in 0..1, Oktay et al. 2018, eq. 1-2, at that gate's resolution), resampled to the image
grid. ``bundle_tools.handlers.AttentionMapSaver`` draws them for an evaluator's cases.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .figures import intensity_window, new_figure, save_png, show_image
from .slices import as_numpy, in_plane_axes, representative_slice, spacing_or_ones

__all__ = ["resample_map", "save_attention_overlay"]


def save_attention_overlay(
    image: Any,
    attention_maps: Sequence[Any],
    path: str | os.PathLike,
    slice_index: int | None = None,
    axis: int = -1,
    spacing: Sequence[float] | None = None,
    title: str | None = None,
    spatial_dims: int | None = None,
    reference: Any | None = None,
) -> Path:
    """PNG of each attention gate's coefficients (0..1) over the image, on one slice.

    Every map is resampled (linearly) to the image grid; the slice is ``slice_index``, else the one with
    the most foreground in ``reference``, else the one where the finest map attends most. The first
    panel is the image alone, then one panel per gate.

    Args:
        image: ``(B, C, *spatial)``, ``(C, *spatial)`` or spatial; the first case and channel are drawn.
        attention_maps: one map per gate, each ``(B, 1, *spatial_l)`` as returned by
            ``custom_networks.attention_maps(net, x)`` (with ``spatial_dims`` given: also
            ``(1, *spatial_l)`` or spatial only).
        path: the PNG to write.
        slice_index: the slice along ``axis`` (3D only); default the most attended one.
        axis: the spatial axis that is cut (3D only), default the last (axial).
        spacing: voxel spacing for the aspect ratio; default from a ``MetaTensor`` or 1.
        title: figure title.
        spatial_dims: 2 or 3; default read from the first map, taken as ``(B, 1, *spatial)``.
        reference: a label map on the image grid, spatial shape only (e.g. the ground truth), whose
            most filled slice is drawn.
    """
    if not attention_maps:
        raise ValueError("no attention maps to draw")
    if spatial_dims is None:
        spatial_dims = max(as_numpy(attention_maps[0]).ndim - 2, 2)
    img = as_numpy(image).astype(np.float32)
    while img.ndim > spatial_dims:
        img = img[0]
    maps = [resample_map(m, img.shape) for m in attention_maps]
    spacing = tuple(spacing) if spacing is not None else spacing_or_ones(image, None, img.ndim)
    if img.ndim == 3:
        axis = axis % 3
        finest = int(np.argmax([np.prod(as_numpy(m).shape[-3:]) for m in attention_maps]))
        if slice_index is None and reference is not None and np.any(as_numpy(reference)):
            slice_index = representative_slice(as_numpy(reference), axis)
        if slice_index is None:
            slice_index = int(np.argmax(maps[finest].sum(axis=tuple(a for a in range(3) if a != axis))))
        img2d = np.take(img, slice_index, axis=axis)
        maps2d = [np.take(m, slice_index, axis=axis) for m in maps]
        h, v = in_plane_axes(axis)
    else:
        img2d, maps2d, (h, v) = img, maps, (0, 1)
    aspect = spacing[v] / spacing[h]
    panels = 1 + len(maps2d)
    fig = new_figure((3.2 * panels + 0.8, 3.8))
    window = intensity_window(img2d)
    mappable = None
    for i in range(panels):
        ax = fig.add_subplot(1, panels, i + 1)
        show_image(ax, img2d, window, aspect)
        if i == 0:
            ax.set_title("image" + (f" (slice {slice_index})" if img.ndim == 3 else ""), fontsize=9)
        else:
            source = tuple(as_numpy(attention_maps[i - 1]).shape[-img.ndim :])
            mappable = ax.imshow(
                maps2d[i - 1].T, cmap="jet", alpha=0.45, vmin=0.0, vmax=1.0, origin="lower", aspect=aspect
            )
            ax.set_title(f"gate {i} ({'x'.join(map(str, source))})", fontsize=9)
        ax.set_axis_off()
    fig.subplots_adjust(left=0.01, right=1 - 0.8 / fig.get_figwidth(), top=0.85, bottom=0.02, wspace=0.04)
    if mappable is not None:
        cax = fig.add_axes((1 - 0.65 / fig.get_figwidth(), 0.1, 0.15 / fig.get_figwidth(), 0.7))
        fig.colorbar(mappable, cax=cax, label="attention coefficient")
    fig.suptitle(title or Path(path).stem, fontsize=10)
    return save_png(fig, path)


def resample_map(attention: Any, shape: tuple[int, ...]) -> np.ndarray:
    """One gate's map on the image grid: leading unit dims dropped, (bi/tri)linear resize, clamped to 0..1.

    Args:
        attention: ``(B, 1, *spatial_l)``, ``(1, *spatial_l)`` or spatial; the first case is taken.
        shape: the image's spatial shape.
    """
    m = torch.as_tensor(as_numpy(attention), dtype=torch.float32)
    while m.ndim > len(shape):
        m = m[0]
    mode = "bilinear" if len(shape) == 2 else "trilinear"
    if tuple(m.shape) != tuple(shape):
        m = torch.nn.functional.interpolate(m[None, None], size=tuple(shape), mode=mode, align_corners=False)
        m = m[0, 0]
    return m.clamp(0.0, 1.0).numpy()
