"""Surface distances in millimetres between two binary masks, and HD95, HD and ASSD computed from them.

:func:`surface_scores` is the one implementation of the surface metrics: :func:`~bundle_tools.metrics.scores.
binary_scores` (the report, the folder evaluation) and :class:`~bundle_tools.metrics.surface_metric.
SurfaceDistanceMetricMM` (the ignite handlers) both call it. Definitions (``docs/metrics.md``), for a
predicted mask P and a ground-truth mask G (sets of voxels):

* The surface ∂X of a mask X is the set of its voxels with at least one of their 6 face neighbours
  outside X (``X and not erode(X)``, the image border counts as outside).
* ``d(x, ∂Y)`` is the Euclidean distance in mm between voxel centres, ``x`` scaled by the spacing:
  ``||(x - y) * spacing||``, minimised over the voxels ``y`` of ∂Y.
* ``hd95 = max(P95{d(p, ∂G) : p ∈ ∂P}, P95{d(g, ∂P) : g ∈ ∂G})`` (95th percentile with linear
  interpolation of each directed set, then the larger; the convention of MONAI and DeepMind's
  ``surface-distance``); ``hd`` is the same with the maximum for P95.
* ``assd = (Σ_{p∈∂P} d(p, ∂G) + Σ_{g∈∂G} d(g, ∂P)) / (|∂P| + |∂G|)``.

Empty masks, so that means over cases never become NaN and an empty prediction is penalised: both empty
scores 0; exactly one empty scores the diagonal of the image extent in mm, ``sqrt(Σ_i (n_i * spacing_i)^2)``
(:func:`image_diagonal_mm`), larger than any distance between two voxels of that image.

The masks are cropped to the bounding box of P ∪ G (the surface extraction pads it by one empty voxel,
so the erosion sees the outside); the nearest-surface queries run on a KD-tree of the surface voxel
coordinates in mm, which is exact and scales with the number of surface voxels, not with the size of
the bounding box (a dense distance transform of the box is ten times slower on a 512x512x200 organ).
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from monai.utils import convert_to_numpy
from scipy.spatial import cKDTree

__all__ = [
    "SURFACE_METRICS",
    "binary_pair",
    "bounding_box",
    "image_diagonal_mm",
    "surface_distances",
    "surface_scores",
]

SURFACE_METRICS: tuple[str, ...] = ("hd95", "hd", "assd")
"""The surface metrics of :func:`surface_scores`: 95th-percentile and maximum Hausdorff distance, average
symmetric surface distance (all in mm)."""

_FORMULAS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "hd95": lambda d_pg, d_gp: float(max(np.percentile(d_pg, 95), np.percentile(d_gp, 95))),
    "hd": lambda d_pg, d_gp: float(max(d_pg.max(), d_gp.max())),
    "assd": lambda d_pg, d_gp: float((d_pg.sum() + d_gp.sum()) / (d_pg.size + d_gp.size)),
}


def image_diagonal_mm(shape: Sequence[int], spacing: Sequence[float]) -> float:
    """Diagonal of the image extent, ``sqrt(Σ_i (n_i * s_i)^2)`` in mm: the value of hd95/assd
    when exactly one of prediction and ground truth is empty (larger than any possible distance).

    Args:
        shape: spatial shape ``(n_1, ..., n_d)``.
        spacing: voxel spacing ``(s_1, ..., s_d)`` in mm.
    """
    return float(math.sqrt(sum((float(n) * float(s)) ** 2 for n, s in zip(shape, spacing, strict=True))))


def surface_scores(
    pred: Any,
    gt: Any,
    spacing: Sequence[float],
    metrics: Sequence[str] = SURFACE_METRICS,
    image_shape: Sequence[int] | None = None,
) -> dict[str, float]:
    """HD95, HD and/or ASSD (mm) of one binary mask pair, with the empty-mask convention of this module.

    Args:
        pred: predicted mask P (spatial shape only; non-zero is foreground).
        gt: ground-truth mask G of the same shape.
        spacing: voxel spacing in mm, one value per axis.
        metrics: which of :data:`SURFACE_METRICS` to compute.
        image_shape: the whole image's shape when ``pred`` and ``gt`` are a crop of it (for the diagonal
            of an empty mask); default their own shape.

    Returns:
        ``{metric: value}`` in the order of ``metrics``.

    Example:
        >>> surface_scores(pred_mask, gt_mask, (0.8, 0.8, 2.5), ("hd95", "assd"))
        {'hd95': 5.0, 'assd': 1.9}
    """
    unknown = [m for m in metrics if m not in _FORMULAS]
    if unknown:
        raise ValueError(f"unknown surface metric(s) {unknown}; choose from {SURFACE_METRICS}")
    pred_np, gt_np, spacing_arr = binary_pair(pred, gt, spacing)
    shape = pred_np.shape if image_shape is None else tuple(image_shape)
    box = bounding_box(pred_np | gt_np)
    if box is None:  # both empty
        return dict.fromkeys(metrics, 0.0)
    pred_np, gt_np = pred_np[box], gt_np[box]
    if not pred_np.any() or not gt_np.any():
        worst = image_diagonal_mm(shape, spacing_arr)
        return dict.fromkeys(metrics, worst)
    d_pg, d_gp = _directed_distances(pred_np, gt_np, spacing_arr)
    return {m: _FORMULAS[m](d_pg, d_gp) for m in metrics}


def surface_distances(
    pred: np.ndarray, gt: np.ndarray, spacing: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Directed surface distances in mm between two non-empty binary masks.

    Args:
        pred: boolean mask P, spatial shape only.
        gt: boolean mask G, same shape.
        spacing: voxel spacing in mm, one value per axis.

    Returns:
        ``(d(p, ∂G) for p in ∂P, d(g, ∂P) for g in ∂G)`` as float64 arrays (see the module docstring).

    Raises:
        ValueError: when the shapes differ, a mask is empty, or the spacing has the wrong length.
    """
    pred, gt, spacing_arr = binary_pair(pred, gt, spacing)
    box = bounding_box(pred | gt)
    if box is None or not pred.any() or not gt.any():
        raise ValueError("surface distances need two non-empty masks")
    return _directed_distances(pred[box], gt[box], spacing_arr)


def binary_pair(pred: Any, gt: Any, spacing: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pred`` and ``gt`` as boolean arrays and ``spacing`` as a float64 array, checked against each other.

    Raises:
        ValueError: the shapes differ, or the spacing has the wrong length or a value that is not positive.
    """
    pred_np = np.asarray(convert_to_numpy(pred)).astype(bool, copy=False)
    gt_np = np.asarray(convert_to_numpy(gt)).astype(bool, copy=False)
    spacing_arr = np.asarray([float(s) for s in spacing], dtype=np.float64)
    if pred_np.shape != gt_np.shape:
        raise ValueError(f"prediction shape {pred_np.shape} differs from ground truth shape {gt_np.shape}")
    if spacing_arr.size != pred_np.ndim:
        raise ValueError(
            f"spacing {tuple(spacing_arr)} has {spacing_arr.size} values for {pred_np.ndim}-D masks"
        )
    if np.any(spacing_arr <= 0):
        raise ValueError(f"spacing {tuple(spacing_arr)} must be positive")
    return pred_np, gt_np, spacing_arr


def bounding_box(mask: np.ndarray) -> tuple[slice, ...] | None:
    """Smallest box holding every non-zero voxel of ``mask``; None when it is empty."""
    box = []
    for axis in range(mask.ndim):
        hits = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        if hits.size == 0:
            return None
        box.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return tuple(box)


_RECENT: OrderedDict[bytes, tuple[np.ndarray, np.ndarray]] = OrderedDict()
_RECENT_SIZE = 64  # mask pairs remembered: every class of the cases of a validation iteration


def _directed_distances(
    pred: np.ndarray, gt: np.ndarray, spacing: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The two directed distance sets of a cropped mask pair; the last :data:`_RECENT_SIZE` pairs are remembered,
    so the HD95 and ASSD handlers and the report of one evaluator compute each case and class once."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (np.packbits(pred), np.packbits(gt), np.asarray(pred.shape), spacing):
        digest.update(np.ascontiguousarray(part).tobytes())
    key = digest.digest()
    if key in _RECENT:
        _RECENT.move_to_end(key)
        return _RECENT[key]
    surface_pred = _surface_coordinates(pred, spacing)
    surface_gt = _surface_coordinates(gt, spacing)
    value = _nearest_distances(surface_pred, surface_gt), _nearest_distances(surface_gt, surface_pred)
    for array in value:
        array.flags.writeable = False  # shared by every caller of the same pair
    _RECENT[key] = value
    if len(_RECENT) > _RECENT_SIZE:
        _RECENT.popitem(last=False)
    return value


def _surface_coordinates(mask: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Coordinates in mm of the surface voxels of ``mask``: voxels with a face neighbour outside."""
    padded = np.pad(mask, 1)
    interior = mask.copy()
    core = tuple(slice(1, -1) for _ in range(mask.ndim))
    for axis in range(mask.ndim):
        for shift in (slice(None, -2), slice(2, None)):
            neighbour = list(core)
            neighbour[axis] = shift
            interior &= padded[tuple(neighbour)]
    return np.argwhere(mask & ~interior) * spacing


def _nearest_distances(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Distance from each point to its nearest target point (both ``(n, d)`` in mm)."""
    return cKDTree(targets).query(points, k=1, workers=-1)[0]
