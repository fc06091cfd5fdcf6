"""HD95, HD or ASSD in millimetres as a MONAI ``CumulativeIterationMetric``, each case with its own spacing.

MONAI's ``HausdorffDistanceMetric`` and ``SurfaceMetric`` take one ``spacing`` per call, and their ignite
handlers pass none, so in a bundle they report voxels. :class:`SurfaceDistanceMetricMM` reads the spacing
of every case from its ``MetaTensor`` affine; its handlers are in :mod:`bundle_tools.handlers.surface_distance`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from monai.metrics import CumulativeIterationMetric
from monai.metrics.utils import do_metric_reduction
from monai.utils import MetricReduction, convert_to_numpy

from .scores import class_masks
from .spacing import case_spacing, meta_affine, spacing_from_meta
from .surface_distance import SURFACE_METRICS, surface_scores

__all__ = ["SurfaceDistanceMetricMM"]

_NO_SPACING_HINT = "keep the meta through the post-transforms, or pass spacing=... to the metric call"


class SurfaceDistanceMetricMM(CumulativeIterationMetric):
    """HD95, HD or ASSD in mm, with the spacing of every case read from its ``MetaTensor`` meta.

    Same inputs as MONAI's ``HausdorffDistanceMetric`` (a batch-first tensor ``(B, C, *spatial)`` or a
    list of channel-first tensors; one-hot, or label maps when ``num_classes`` is given; with
    ``include_background`` and no ``num_classes``, a one-channel pair is one binary mask, as MONAI's metrics
    read it: the one-channel sigmoid head of a binary task). The spacing of
    case ``b`` is, in this order: ``spacing`` passed to the call (as for MONAI's metrics), the affine of
    ``y`` (the ground truth keeps its geometry through decollation and post-transforms), then the
    affine of ``y_pred``. Without any of them it raises instead of silently reporting voxels.
    Empty masks follow the convention of :mod:`bundle_tools.metrics.surface_distance`, so no value is NaN.

    Args:
        metric: ``"hd95"`` (default), ``"hd"`` (maximum) or ``"assd"``; see ``docs/metrics.md``.
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
            self._compute_tensor(
                p[None], g[None], spacing=[case_spacing({"y": g, "y_pred": p}, p.ndim - 1, _NO_SPACING_HINT)]
            )
            for p, g in zip(y_pred, y, strict=True)
        ]
        return torch.cat(rows, dim=0)

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor, **kwargs: Any) -> torch.Tensor:  # type: ignore[override]
        if y is None:
            raise ValueError(f"{type(self).__name__} needs the ground truth y")
        if y_pred.ndim < 3:
            raise ValueError(f"y_pred must be batch-first (B, C, *spatial), got shape {tuple(y_pred.shape)}")
        one_binary_channel = y_pred.shape[1] == 1 and y.shape[1] == 1 and self.num_classes is None
        if one_binary_channel and not self.include_background:
            raise ValueError(
                f"{type(self).__name__}: label-map inputs need num_classes (or one-hot inputs; a one-channel"
                " sigmoid output needs include_background=True)"
            )
        spacings = self._batch_spacing(y_pred, y, kwargs.get("spacing"))
        values = []
        for b, spacing in enumerate(spacings):
            num_classes = 1 if one_binary_channel else self.num_classes
            masks = class_masks(y_pred[b], y[b], len(spacing), self.include_background, num_classes)
            values.append([surface_scores(p, g, spacing, (self.metric,))[self.metric] for _, p, g in masks])
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

    @staticmethod
    def _batch_spacing(y_pred: torch.Tensor, y: torch.Tensor, spacing: Any) -> list[tuple[float, ...]]:
        """One spacing per case of the batch: ``spacing`` broadcast, else the affines of ``y`` or ``y_pred``."""
        batch, spatial_dims = y_pred.shape[0], y_pred.ndim - 2
        if spacing is not None:
            spacing_arr = np.asarray(convert_to_numpy(spacing), dtype=np.float64)
            if spacing_arr.ndim == 0:
                spacing_arr = np.full((batch, spatial_dims), float(spacing_arr))
            elif spacing_arr.ndim == 1:
                spacing_arr = np.broadcast_to(spacing_arr, (batch, spacing_arr.size))
            if spacing_arr.shape != (batch, spatial_dims):
                raise ValueError(
                    f"spacing {spacing!r} does not fit a batch of {batch} {spatial_dims}-D images"
                )
            return [tuple(float(v) for v in row) for row in spacing_arr]
        affine = np.asarray(convert_to_numpy(meta_affine({"y": y, "y_pred": y_pred}, _NO_SPACING_HINT)))
        affines = affine if affine.ndim == 3 else np.broadcast_to(affine, (batch, *affine.shape))
        if affines.shape[0] != batch:
            raise ValueError(f"{affines.shape[0]} affines for a batch of {batch} images")
        return [spacing_from_meta(a, spatial_dims) for a in affines]
