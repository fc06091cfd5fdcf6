"""Segmentation scores with surface distances in millimetres, from each case's own voxel spacing.

MONAI's ignite handlers ``HausdorffDistance`` and ``SurfaceDistance`` call their metric without a
``spacing``, so in a bundle they report voxels. This module computes the same quantities in mm:

* :func:`segmentation_scores` - Dice, IoU, precision, recall, HD95 and ASSD of every class of one case;
* :func:`spacing_from_meta` - the voxel spacing of a ``MetaTensor`` or a meta dict (from its affine);
* :class:`SurfaceDistanceMetricMM` - a ``monai.metrics.CumulativeIterationMetric`` that reads the
  spacing of every case of a batch from the ``MetaTensor`` meta of ``y`` (else ``y_pred``);
* :class:`SurfaceDistanceHandlerMM`, :class:`HD95Handler`, :class:`ASSDHandler` - MONAI ignite metric
  handlers that a bundle config names in ``key_val_metric`` / ``additional_metrics``.

Definitions, for one class with predicted mask P and ground-truth mask G (sets of voxels):

* ``dice = 2|P∩G| / (|P| + |G|)``, ``iou = |P∩G| / |P∪G|``,
  ``precision = |P∩G| / |P|``, ``recall = |P∩G| / |G|``.
* The surface ∂X of a mask X is the set of its voxels with at least one of their 6 face neighbours
  outside X (``X and not erode(X)``, the image border counts as outside).
* ``d(x, ∂Y)`` is the Euclidean distance in mm between voxel centres, ``x`` scaled by the spacing:
  ``||(x - y) * spacing||``, minimised over the voxels ``y`` of ∂Y.
* ``hd95 = max(P95{d(p, ∂G) : p ∈ ∂P}, P95{d(g, ∂P) : g ∈ ∂G})`` (95th percentile with linear
  interpolation of each directed set, then the larger; the convention of MONAI and DeepMind's
  ``surface-distance``).
* ``assd = (Σ_{p∈∂P} d(p, ∂G) + Σ_{g∈∂G} d(g, ∂P)) / (|∂P| + |∂G|)``.

Empty masks (so that means over cases never become NaN and an empty prediction is penalised):

* both P and G empty: dice = iou = precision = recall = 1, hd95 = assd = 0;
* exactly one empty: dice = iou = 0; precision and recall = 0 (also where they would be 0/0);
  hd95 = assd = the diagonal of the image extent in mm, ``sqrt(Σ_i (n_i * spacing_i)^2)``,
  which is larger than any distance between two voxels of that image.

Distances: the masks are cropped to the bounding box of P ∪ G (padded by one empty voxel, so the
erosion sees the outside); the nearest-surface queries run on a KD-tree of the surface voxel
coordinates in mm, which is exact and scales with the number of surface voxels, not with the size of
the bounding box (a dense distance transform of the box is ten times slower on a 512x512x200 organ).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor
from monai.handlers import IgniteMetricHandler, from_engine
from monai.metrics import CumulativeIterationMetric
from monai.metrics.utils import do_metric_reduction
from monai.utils import MetricReduction
from scipy.spatial import cKDTree

__all__ = [
    "SCORE_NAMES",
    "SURFACE_METRICS",
    "ASSDHandler",
    "HD95Handler",
    "SurfaceDistanceHandlerMM",
    "SurfaceDistanceMetricMM",
    "binary_scores",
    "image_diagonal_mm",
    "segmentation_scores",
    "spacing_from_meta",
    "surface_distances",
]

SCORE_NAMES: tuple[str, ...] = ("dice", "iou", "precision", "recall", "hd95", "assd")
"""The scores :func:`segmentation_scores` returns for every class; hd95 and assd are in mm."""

SURFACE_METRICS: tuple[str, ...] = ("hd95", "hd", "assd")
"""Surface metrics :class:`SurfaceDistanceMetricMM` computes: 95th-percentile and maximum
Hausdorff distance, average symmetric surface distance (all in mm)."""

ArrayLike = np.ndarray | torch.Tensor


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
            pixdim = np.asarray(_to_numpy(x["pixdim"]), dtype=np.float64).reshape(-1)
            d = spatial_dims or 3
            return tuple(float(v) for v in pixdim[1 : d + 1])
    elif isinstance(x, (np.ndarray, torch.Tensor)):
        affine = x
    if affine is None:
        raise ValueError(f"cannot read a voxel spacing from {type(x).__name__}: it has no affine or pixdim")
    affine = np.asarray(_to_numpy(affine), dtype=np.float64)
    if affine.ndim != 2 or affine.shape[0] != affine.shape[1]:
        raise ValueError(f"expected a square affine matrix, got shape {affine.shape}")
    d = spatial_dims if spatial_dims is not None else affine.shape[0] - 1
    if d > affine.shape[0] - 1:
        raise ValueError(f"a {affine.shape} affine has no spacing for {d} spatial dimensions")
    return tuple(float(v) for v in np.linalg.norm(affine[:d, :d], axis=0))


def image_diagonal_mm(shape: Sequence[int], spacing: Sequence[float]) -> float:
    """Diagonal of the image extent, ``sqrt(Σ_i (n_i * s_i)^2)`` in mm: the value of hd95/assd
    when exactly one of prediction and ground truth is empty (larger than any possible distance).

    Args:
        shape: spatial shape ``(n_1, ..., n_d)``.
        spacing: voxel spacing ``(s_1, ..., s_d)`` in mm.
    """
    return float(math.sqrt(sum((float(n) * float(s)) ** 2 for n, s in zip(shape, spacing, strict=True))))


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
    pred, gt, spacing_arr = _check_pair(pred, gt, spacing)
    box = _bounding_box(pred | gt)
    if box is None or not pred.any() or not gt.any():
        raise ValueError("surface distances need two non-empty masks")
    surface_pred = _surface_coordinates(pred[box], spacing_arr)
    surface_gt = _surface_coordinates(gt[box], spacing_arr)
    return _nearest_distances(surface_pred, surface_gt), _nearest_distances(surface_gt, surface_pred)


def binary_scores(pred: ArrayLike, gt: ArrayLike, spacing: Sequence[float]) -> dict[str, float]:
    """Dice, IoU, precision, recall, HD95 and ASSD (mm) of one binary mask pair.

    Args:
        pred: predicted mask (spatial shape only; non-zero is foreground).
        gt: ground-truth mask of the same shape.
        spacing: voxel spacing in mm, one value per axis.

    Returns:
        a dict with the keys of :data:`SCORE_NAMES`; empty masks follow the module's convention.
    """
    pred_np, gt_np, spacing_arr = _check_pair(pred, gt, spacing)
    box = _bounding_box(pred_np | gt_np)
    if box is None:  # both empty
        return {"dice": 1.0, "iou": 1.0, "precision": 1.0, "recall": 1.0, "hd95": 0.0, "assd": 0.0}
    pred_c, gt_c = pred_np[box], gt_np[box]
    n_pred, n_gt = int(np.count_nonzero(pred_c)), int(np.count_nonzero(gt_c))
    overlap = int(np.count_nonzero(pred_c & gt_c))
    scores = {
        "dice": 2.0 * overlap / (n_pred + n_gt),
        "iou": overlap / (n_pred + n_gt - overlap),
        "precision": overlap / n_pred if n_pred else 0.0,
        "recall": overlap / n_gt if n_gt else 0.0,
    }
    if n_pred == 0 or n_gt == 0:
        worst = image_diagonal_mm(pred_np.shape, spacing_arr)
        scores.update(hd95=worst, assd=worst)
        return scores
    surface_pred = _surface_coordinates(pred_c, spacing_arr)
    surface_gt = _surface_coordinates(gt_c, spacing_arr)
    d_pg = _nearest_distances(surface_pred, surface_gt)
    d_gp = _nearest_distances(surface_gt, surface_pred)
    scores["hd95"] = float(max(np.percentile(d_pg, 95), np.percentile(d_gp, 95)))
    scores["assd"] = float((d_pg.sum() + d_gp.sum()) / (d_pg.size + d_gp.size))
    return scores


def segmentation_scores(
    pred: ArrayLike,
    gt: ArrayLike,
    spacing: Sequence[float],
    include_background: bool = False,
    num_classes: int | None = None,
) -> dict[int, dict[str, float]]:
    """Per-class Dice, IoU, precision, recall, HD95 (mm) and ASSD (mm) of one case.

    ``pred`` and ``gt`` are each either a label map (spatial shape, or one channel ``(1, *spatial)``,
    integer labels) or one-hot / binarised channels ``(C, *spatial)`` with ``C > 1``; a label map and a
    one-hot array can be mixed. The number of spatial dimensions is ``len(spacing)``.

    Args:
        pred: the prediction of one case (numpy array or tensor, any device).
        gt: the ground truth of the same case.
        spacing: that case's voxel spacing in mm, e.g. ``spacing_from_meta(label)``.
        include_background: whether to score class 0 (label 0 / channel 0).
        num_classes: number of classes including background; default: the number of channels, or for
            two label maps ``max(pred.max(), gt.max()) + 1``. Classes absent from both score as "both empty".

    Returns:
        ``{class_index: {"dice", "iou", "precision", "recall", "hd95", "assd"}}`` in class order.

    Example:
        >>> scores = segmentation_scores(pred_labels, gt_labels, spacing=(0.8, 0.8, 2.5))
        >>> scores[1]["hd95"]  # mm
    """
    spacing = tuple(float(s) for s in spacing)
    return {
        c: binary_scores(p, g, spacing)
        for c, p, g in _class_masks(pred, gt, len(spacing), include_background, num_classes)
    }


class SurfaceDistanceMetricMM(CumulativeIterationMetric):
    """HD95, HD or ASSD in mm, with the spacing of every case read from its ``MetaTensor`` meta.

    Same inputs as MONAI's ``HausdorffDistanceMetric`` (a batch-first tensor ``(B, C, *spatial)`` or a
    list of channel-first tensors; one-hot, or label maps when ``num_classes`` is given). The spacing of
    case ``b`` is, in this order: ``spacing`` passed to the call (as for MONAI's metrics), the affine of
    ``y`` (the ground truth keeps its geometry through decollation and post-transforms), then the
    affine of ``y_pred``. Without any of them it raises instead of silently reporting voxels.
    Empty masks follow the convention of :mod:`bundle_tools.metrics.surface_metrics`, so no value is NaN.

    Args:
        metric: ``"hd95"`` (default), ``"hd"`` (maximum) or ``"assd"``; see the module docstring.
        include_background: whether to score the first channel (label 0).
        num_classes: number of classes incl. background; required for label-map inputs.
        reduction: MONAI reduction mode of :meth:`aggregate` (``"mean"``, ``"mean_batch"``, ``"none"``, ...).
        get_not_nans: whether :meth:`aggregate` also returns the not-NaN counts.

    Example:
        >>> metric = SurfaceDistanceMetricMM("hd95")
        >>> metric(y_pred=[pred_onehot], y=[label_onehot])  # MetaTensors from LoadImaged
        >>> metric.aggregate()  # mean over cases and classes, mm
    """

    def __init__(
        self,
        metric: str = "hd95",
        include_background: bool = False,
        num_classes: int | None = None,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__()
        if metric not in SURFACE_METRICS:
            raise ValueError(f"metric must be one of {SURFACE_METRICS}, got {metric!r}")
        self.metric = metric
        self.include_background = include_background
        self.num_classes = num_classes
        self.reduction = reduction
        self.get_not_nans = get_not_nans

    def _compute_list(self, y_pred: Any, y: Any = None, **kwargs: Any) -> torch.Tensor:  # type: ignore[override]
        if y is None:
            raise ValueError(f"{type(self).__name__} needs the ground truth y")
        if kwargs.get("spacing") is not None:
            return torch.cat(
                [self._compute_tensor(p[None], g[None], **kwargs) for p, g in zip(y_pred, y, strict=True)]
            )
        # read the spacing of every channel-first item before batching it, from its own meta
        rows = [
            self._compute_tensor(p[None], g[None], spacing=[self._case_spacing(p, g)])
            for p, g in zip(y_pred, y, strict=True)
        ]
        return torch.cat(rows, dim=0)

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor, **kwargs: Any) -> torch.Tensor:  # type: ignore[override]
        if y is None:
            raise ValueError(f"{type(self).__name__} needs the ground truth y")
        if y_pred.ndim < 3:
            raise ValueError(f"y_pred must be batch-first (B, C, *spatial), got shape {tuple(y_pred.shape)}")
        if y_pred.shape[1] == 1 and y.shape[1] == 1 and self.num_classes is None:
            raise ValueError(f"{type(self).__name__}: label-map inputs need num_classes (or one-hot inputs)")
        batch = y_pred.shape[0]
        spacings = self._batch_spacing(y_pred, y, kwargs.get("spacing"))
        values = []
        for b in range(batch):
            spacing = spacings[b]
            masks = _class_masks(y_pred[b], y[b], len(spacing), self.include_background, self.num_classes)
            values.append([self._value(p, g, spacing) for _, p, g in masks])
        return torch.as_tensor(values, dtype=torch.float32, device=y_pred.device)

    def aggregate(
        self, reduction: MetricReduction | str | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Reduce the buffered ``(cases, classes)`` values with MONAI's ``do_metric_reduction``.

        Args:
            reduction: overrides the reduction given to the constructor.
        """
        data = self.get_buffer()
        if not isinstance(data, torch.Tensor):
            raise ValueError("the data to aggregate must be a PyTorch Tensor")
        value, not_nans = do_metric_reduction(data, reduction or self.reduction)
        return (value, not_nans) if self.get_not_nans else value

    def _value(self, pred: np.ndarray, gt: np.ndarray, spacing: tuple[float, ...]) -> float:
        if not pred.any() and not gt.any():
            return 0.0
        if not pred.any() or not gt.any():
            return image_diagonal_mm(pred.shape, spacing)
        d_pg, d_gp = surface_distances(pred, gt, spacing)
        if self.metric == "assd":
            return float((d_pg.sum() + d_gp.sum()) / (d_pg.size + d_gp.size))
        if self.metric == "hd":
            return float(max(d_pg.max(), d_gp.max()))
        return float(max(np.percentile(d_pg, 95), np.percentile(d_gp, 95)))

    @staticmethod
    def _case_spacing(y_pred: torch.Tensor, y: torch.Tensor) -> tuple[float, ...]:
        spatial_dims = y_pred.ndim - 1
        for source in (y, y_pred):
            if isinstance(source, MetaTensor):
                return spacing_from_meta(source.affine, spatial_dims)
        raise ValueError(
            "no voxel spacing: y and y_pred carry no MetaTensor affine (keep the meta through the "
            "post-transforms, or pass spacing=... to the metric call)"
        )

    def _batch_spacing(self, y_pred: torch.Tensor, y: torch.Tensor, spacing: Any) -> list[tuple[float, ...]]:
        batch, spatial_dims = y_pred.shape[0], y_pred.ndim - 2
        if spacing is not None:
            spacing_arr = np.asarray(_to_numpy(spacing), dtype=np.float64)
            if spacing_arr.ndim == 0:
                spacing_arr = np.full((batch, spatial_dims), float(spacing_arr))
            elif spacing_arr.ndim == 1:
                spacing_arr = np.broadcast_to(spacing_arr, (batch, spacing_arr.size))
            if spacing_arr.shape != (batch, spatial_dims):
                raise ValueError(
                    f"spacing {spacing!r} does not fit a batch of {batch} {spatial_dims}-D images"
                )
            return [tuple(float(v) for v in row) for row in spacing_arr]
        for source in (y, y_pred):
            if isinstance(source, MetaTensor):
                affine = np.asarray(_to_numpy(source.affine), dtype=np.float64)
                affines = affine if affine.ndim == 3 else np.broadcast_to(affine, (batch, *affine.shape))
                if affines.shape[0] != batch:
                    raise ValueError(f"{affines.shape[0]} affines for a batch of {batch} images")
                return [spacing_from_meta(a, spatial_dims) for a in affines]
        return [self._case_spacing(y_pred[0], y[0])]  # raises the error that names the fix


class SurfaceDistanceHandlerMM(IgniteMetricHandler):
    """MONAI ignite metric handler for :class:`SurfaceDistanceMetricMM` (HD95, HD or ASSD in mm).

    Attach it to a ``SupervisedEvaluator`` through ``key_val_metric`` or ``additional_metrics``. With
    ``save_details`` the per-case, per-class values ``(cases, classes)`` go to
    ``engine.state.metric_details[name]``.

    Args:
        metric: ``"hd95"``, ``"hd"`` or ``"assd"``.
        include_background: whether to score the first channel.
        num_classes: number of classes incl. background; required for label-map inputs.
        reduction: MONAI reduction of the cumulated values (default ``"mean"``).
        output_transform: maps ``engine.state.output`` to ``(y_pred, y)``; default
            ``from_engine(["pred", "label"])``.
        save_details: whether to keep per-case values in ``engine.state.metric_details``.
    """

    def __init__(
        self,
        metric: str = "hd95",
        include_background: bool = False,
        num_classes: int | None = None,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        output_transform: Callable | None = None,
        save_details: bool = True,
    ) -> None:
        metric_fn = SurfaceDistanceMetricMM(
            metric=metric, include_background=include_background, num_classes=num_classes, reduction=reduction
        )
        super().__init__(
            metric_fn=metric_fn,
            output_transform=output_transform or from_engine(["pred", "label"]),
            save_details=save_details,
        )


class HD95Handler(SurfaceDistanceHandlerMM):
    """95th-percentile Hausdorff distance in mm (see :class:`SurfaceDistanceHandlerMM` for the args)."""

    def __init__(
        self,
        include_background: bool = False,
        num_classes: int | None = None,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        output_transform: Callable | None = None,
        save_details: bool = True,
    ) -> None:
        super().__init__("hd95", include_background, num_classes, reduction, output_transform, save_details)


class ASSDHandler(SurfaceDistanceHandlerMM):
    """Average symmetric surface distance in mm (see :class:`SurfaceDistanceHandlerMM` for the args)."""

    def __init__(
        self,
        include_background: bool = False,
        num_classes: int | None = None,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        output_transform: Callable | None = None,
        save_details: bool = True,
    ) -> None:
        super().__init__("assd", include_background, num_classes, reduction, output_transform, save_details)


# ----------------------------------------------------------------------------------------------- helpers


def _to_numpy(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return x


def _check_pair(pred: Any, gt: Any, spacing: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pred_np = np.asarray(_to_numpy(pred)).astype(bool, copy=False)
    gt_np = np.asarray(_to_numpy(gt)).astype(bool, copy=False)
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


def _bounding_box(mask: np.ndarray) -> tuple[slice, ...] | None:
    """Smallest box holding every non-zero voxel of ``mask``; None when it is empty."""
    box = []
    for axis in range(mask.ndim):
        hits = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        if hits.size == 0:
            return None
        box.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return tuple(box)


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


def _class_masks(
    pred: Any, gt: Any, spatial_dims: int, include_background: bool, num_classes: int | None
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(class_index, pred_mask, gt_mask)`` for each scored class of a label map / one-hot pair."""
    pred_np, gt_np = np.asarray(_to_numpy(pred)), np.asarray(_to_numpy(gt))
    pred_np, gt_np = (_channel_first(a, spatial_dims, name) for a, name in ((pred_np, "pred"), (gt_np, "gt")))
    if pred_np.shape[1:] != gt_np.shape[1:]:
        raise ValueError(
            f"prediction shape {pred_np.shape[1:]} differs from ground truth shape {gt_np.shape[1:]}"
        )
    pred_np, gt_np = _integer_labels(pred_np), _integer_labels(gt_np)
    channels = {pred_np.shape[0], gt_np.shape[0]} - {1}
    if len(channels) > 1:
        raise ValueError(f"prediction has {pred_np.shape[0]} channels, ground truth {gt_np.shape[0]}")
    if channels:
        n = channels.pop()
        if num_classes is not None and num_classes != n:
            raise ValueError(f"num_classes={num_classes} but the one-hot input has {n} channels")
    elif num_classes is not None:
        n = num_classes
    else:
        n = int(max(pred_np.max(initial=0), gt_np.max(initial=0))) + 1
        n = max(n, 2)
    for c in range(0 if include_background else 1, n):
        yield c, _class_mask(pred_np, c), _class_mask(gt_np, c)


def _channel_first(a: np.ndarray, spatial_dims: int, name: str) -> np.ndarray:
    if a.ndim == spatial_dims:
        return a[None]
    if a.ndim == spatial_dims + 1:
        return a
    raise ValueError(
        f"{name} has shape {a.shape}; expected {spatial_dims} spatial dims with an optional channel"
    )


def _integer_labels(a: np.ndarray) -> np.ndarray:
    """A one-channel float label map as integers (once, not once per class)."""
    if a.shape[0] == 1 and a.dtype.kind == "f":
        return np.rint(a).astype(np.int32)
    return a


def _class_mask(a: np.ndarray, c: int) -> np.ndarray:
    if a.shape[0] == 1:  # label map
        return a[0] == c
    return a[c] > 0.5 if a.dtype.kind == "f" else a[c].astype(bool, copy=False)
