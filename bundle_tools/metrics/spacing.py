"""The voxel spacing (mm) of a case, read from its geometry: the one place the metrics, the report and the
pictures get it from.

* :func:`spacing_from_meta` - the spacing of a ``MetaTensor``, a meta dict or an affine matrix;
* :func:`meta_affine` - the affine of the first ``MetaTensor`` among a case's tensors (label first, then
  prediction), with an error that says how to keep the meta when there is none;
* :func:`case_spacing` - the two together: "the spacing of the label, else of the prediction".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor
from monai.utils import convert_to_numpy

__all__ = ["case_spacing", "meta_affine", "spacing_from_meta"]


def spacing_from_meta(x: Any, spatial_dims: int | None = None) -> tuple[float, ...]:
    """Voxel spacing (mm) of a ``MetaTensor``, a meta dict or an affine matrix.

    The spacing along voxel axis ``j`` is the length of column ``j`` of the affine's linear part,
    ``s_j = ||A[:d, j]||``, which is right for rotated and sheared (non-diagonal) affines. The affine
    is what MONAI keeps up to date through ``Spacingd``/``Orientationd``; a meta dict without an
    affine falls back to NIfTI's ``pixdim[1:d+1]`` (the spacing of the file as read).

    Args:
        x: a ``MetaTensor`` (its ``affine``), a dict with ``"affine"`` or ``"pixdim"``, or an affine
            array of shape ``(d+1, d+1)``. A batched affine ``(B, d+1, d+1)`` must be split first.
        spatial_dims: number of spatial dimensions ``d``; default: the affine's size minus one, or for a
            ``MetaTensor`` its ``ndim - 1`` (channel-first) when that is smaller.

    Returns:
        the spacing as a tuple of ``d`` floats.

    Raises:
        ValueError: when ``x`` carries neither an affine nor a pixdim.
    """
    affine: Any = None
    if isinstance(x, MetaTensor):
        affine = x.affine
        if spatial_dims is None and not x.is_batch:
            spatial_dims = min(x.ndim - 1, affine.shape[-1] - 1)
    elif isinstance(x, Mapping):
        affine = x.get("affine")
        if affine is None and x.get("pixdim") is not None:
            pixdim = np.asarray(convert_to_numpy(x["pixdim"]), dtype=np.float64).reshape(-1)
            d = spatial_dims or 3
            return tuple(float(v) for v in pixdim[1 : d + 1])
    elif isinstance(x, (np.ndarray, torch.Tensor)):
        affine = x
    if affine is None:
        raise ValueError(f"cannot read a voxel spacing from {type(x).__name__}: it has no affine or pixdim")
    affine = np.asarray(convert_to_numpy(affine), dtype=np.float64)
    if affine.ndim != 2 or affine.shape[0] != affine.shape[1]:
        raise ValueError(f"expected a square affine matrix, got shape {affine.shape}")
    d = spatial_dims if spatial_dims is not None else affine.shape[0] - 1
    if d > affine.shape[0] - 1:
        raise ValueError(f"a {affine.shape} affine has no spacing for {d} spatial dimensions")
    return tuple(float(v) for v in np.linalg.norm(affine[:d, :d], axis=0))


def meta_affine(sources: Mapping[str, Any], hint: str = "") -> torch.Tensor:
    """The affine of the first ``MetaTensor`` among ``sources``, in their order.

    The ground truth comes first: it keeps its geometry through decollation and post-transforms, where a
    prediction may have lost it.

    Args:
        sources: the case's tensors by name, e.g. ``{"label": label, "pred": pred}``.
        hint: how to get a spacing anyway, added to the error.

    Raises:
        ValueError: none of ``sources`` is a ``MetaTensor`` (the message names them).
    """
    for source in sources.values():
        if isinstance(source, MetaTensor):
            return source.affine
    names = " and ".join(f"'{name}'" for name in sources)
    raise ValueError(f"no voxel spacing: {names} carry no MetaTensor affine" + (f" ({hint})" if hint else ""))


def case_spacing(sources: Mapping[str, Any], spatial_dims: int, hint: str = "") -> tuple[float, ...]:
    """Voxel spacing (mm) of one unbatched case: :func:`spacing_from_meta` of :func:`meta_affine`.

    Args:
        sources: the case's channel-first tensors by name, label first, e.g. ``{"label": y, "pred": y_pred}``.
        spatial_dims: number of spatial dimensions.
        hint: how to get a spacing anyway, added to the error.

    Example:
        >>> case_spacing({"label": item["label"], "pred": item["pred"]}, spatial_dims=3)
        (0.8, 0.8, 2.5)
    """
    return spacing_from_meta(meta_affine(sources, hint), spatial_dims)
