"""Ignite metric handlers for surface distances in millimetres: HD95, HD and ASSD with each case's spacing.

A bundle config names them in a ``SupervisedEvaluator``'s ``key_val_metric`` / ``additional_metrics``
(``"_target_": "bundle_tools.handlers.HD95Handler"``); MONAI's own ``HausdorffDistance`` and
``SurfaceDistance`` handlers pass no spacing and report voxels. The metric is
:class:`~bundle_tools.metrics.surface_metric.SurfaceDistanceMetricMM`; definitions in ``docs/metrics.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partialmethod

from monai.handlers import IgniteMetricHandler, from_engine

from ..metrics.surface_metric import SurfaceDistanceMetricMM

__all__ = ["ASSDHandler", "HD95Handler", "SurfaceDistanceHandlerMM"]


class SurfaceDistanceHandlerMM(IgniteMetricHandler):
    """MONAI ignite metric handler for :class:`SurfaceDistanceMetricMM` (HD95, HD or ASSD in mm).

    Attach it to a ``SupervisedEvaluator`` through ``key_val_metric`` or ``additional_metrics``. With
    ``save_details`` the per-case, per-class values ``(cases, classes)`` go to
    ``engine.state.metric_details[name]``.

    Args:
        metric: ``"hd95"``, ``"hd"`` or ``"assd"``.
        include_background: whether to score the first channel.
        num_classes: number of classes incl. background; required for label-map inputs.
        reduction: a MONAI ``MetricReduction`` (a ``str``) of the cumulated values: ``"mean"``, ``"mean_batch"``,
            ``"none"``, ...
        output_transform: maps ``engine.state.output`` to ``(y_pred, y)``; default
            ``from_engine(["pred", "label"])``.
        save_details: whether to keep per-case values in ``engine.state.metric_details``.

    Example (``train.json``)::

        "additional_metrics": {"val_hd_mm": {"_target_": "bundle_tools.handlers.SurfaceDistanceHandlerMM",
                                             "metric": "hd"}}
    """

    def __init__(
        self,
        metric: str = "hd95",
        include_background: bool = False,
        num_classes: int | None = None,
        reduction: str = "mean",
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
    """95th-percentile Hausdorff distance in mm: :class:`SurfaceDistanceHandlerMM` with ``metric="hd95"``
    (the same arguments after ``metric``)."""

    __init__ = partialmethod(SurfaceDistanceHandlerMM.__init__, "hd95")


class ASSDHandler(SurfaceDistanceHandlerMM):
    """Average symmetric surface distance in mm: :class:`SurfaceDistanceHandlerMM` with ``metric="assd"``
    (the same arguments after ``metric``)."""

    __init__ = partialmethod(SurfaceDistanceHandlerMM.__init__, "assd")
