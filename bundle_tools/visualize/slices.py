"""Which slice of a volume a picture shows, and the arrays it is cut from.

3D arrays are read as MONAI's channel-first ``(C, X, Y, Z)`` in RAS orientation: axial slices cut the last
axis, coronal the second, sagittal the first (:data:`PLANES`). Slices keep their physical aspect ratio when
the spacing is known (from the ``MetaTensor`` affine, :func:`spacing_or_ones`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..metrics.spacing import case_spacing

__all__ = ["PLANES", "as_numpy", "in_plane_axes", "label_map", "representative_slice", "spacing_or_ones"]

PLANES: dict[str, int] = {"sagittal": 0, "coronal": 1, "axial": 2}
"""Plane name -> the spatial axis it cuts (RAS, channel-first arrays)."""


def representative_slice(mask: np.ndarray, axis: int) -> int:
    """Index along ``axis`` of the slice with the most foreground of ``mask`` (the middle if empty).

    Among equally filled slices the middle one is taken.

    Args:
        mask: a spatial array; non-zero is foreground.
        axis: the axis that is cut.
    """
    counts = np.count_nonzero(mask, axis=tuple(a for a in range(mask.ndim) if a != axis))
    if not counts.any():
        return mask.shape[axis] // 2
    best = np.flatnonzero(counts == counts.max())
    return int(best[len(best) // 2])  # the middle one of equally filled slices


def in_plane_axes(axis: int) -> tuple[int, int]:
    """The ``(horizontal, vertical)`` axes of a 3D volume's slice across ``axis`` (in increasing order).

    Args:
        axis: the axis that is cut (0, 1 or 2).
    """
    h, v = (a for a in range(3) if a != axis)
    return h, v


def as_numpy(x: Any) -> np.ndarray:
    """``x`` as a NumPy array (tensors detached and moved to the CPU; half precision as float32).

    Args:
        x: a tensor, ``MetaTensor`` or array-like.
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        return (x.float() if x.dtype in (torch.float16, torch.bfloat16) else x).numpy()
    return np.asarray(x)


def label_map(x: Any, spatial_dims: int) -> np.ndarray:
    """Integer labels from a label map (spatial, or one channel first) or one-hot channels (argmax).

    Args:
        x: ``spatial``, ``(1, *spatial)`` or ``(C, *spatial)``; floats are rounded.
        spatial_dims: 2 or 3.

    Raises:
        ValueError: ``x`` has neither ``spatial_dims`` nor ``spatial_dims + 1`` dimensions.
    """
    a = as_numpy(x)
    if a.ndim == spatial_dims:
        return np.rint(a).astype(np.int64) if a.dtype.kind == "f" else a.astype(np.int64)
    if a.ndim != spatial_dims + 1:
        raise ValueError(
            f"expected a label map or one-hot channels with {spatial_dims} spatial dims, got {a.shape}"
        )
    if a.shape[0] == 1:
        return label_map(a[0], spatial_dims)
    return np.argmax(a, axis=0)


def spacing_or_ones(image: Any, label: Any, spatial_dims: int) -> tuple[float, ...]:
    """Voxel spacing from the affine of the first unbatched ``MetaTensor`` among ``image`` and ``label``, else 1.

    Args:
        image: the image (a ``MetaTensor`` or not).
        label: the label (a ``MetaTensor`` or not), tried when the image has no usable affine.
        spatial_dims: 2 or 3.
    """
    sources = {"image": image, "label": label}
    try:
        return case_spacing(
            {k: v for k, v in sources.items() if not getattr(v, "is_batch", True)}, spatial_dims
        )
    except ValueError:
        return (1.0,) * spatial_dims
