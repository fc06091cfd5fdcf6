"""Per-class scores of one case: Dice, IoU, precision, recall, and HD95 and ASSD in mm.

* :func:`binary_scores` - the six scores of one binary mask pair;
* :func:`segmentation_scores` - the six scores of every class of a label map or one-hot pair;
* :func:`class_masks` - the binary masks of every scored class (shared with
  :class:`~bundle_tools.metrics.surface_metric.SurfaceDistanceMetricMM`).

Definitions, for one class with predicted mask P and ground-truth mask G (sets of voxels):
``dice = 2|P∩G| / (|P| + |G|)``, ``iou = |P∩G| / |P∪G|``, ``precision = |P∩G| / |P|``,
``recall = |P∩G| / |G|``; HD95 and ASSD as in :mod:`bundle_tools.metrics.surface_distance`.
Empty masks: both empty scores 1 (and 0 mm); exactly one empty scores 0 (also where precision or recall
would be 0/0) and the image diagonal in mm. See ``docs/metrics.md``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from monai.utils import convert_to_numpy

from .surface_distance import binary_pair, bounding_box, surface_scores

__all__ = ["SCORE_NAMES", "binary_scores", "class_masks", "segmentation_scores"]

SCORE_NAMES: tuple[str, ...] = ("dice", "iou", "precision", "recall", "hd95", "assd")
"""The scores :func:`segmentation_scores` returns for every class; hd95 and assd are in mm."""

ArrayLike = np.ndarray | torch.Tensor


def binary_scores(pred: ArrayLike, gt: ArrayLike, spacing: Sequence[float]) -> dict[str, float]:
    """Dice, IoU, precision, recall, HD95 and ASSD (mm) of one binary mask pair.

    Args:
        pred: predicted mask (spatial shape only; non-zero is foreground).
        gt: ground-truth mask of the same shape.
        spacing: voxel spacing in mm, one value per axis.

    Returns:
        a dict with the keys of :data:`SCORE_NAMES`; empty masks follow the module's convention.
    """
    pred_np, gt_np, _ = binary_pair(pred, gt, spacing)
    shape = pred_np.shape
    box = bounding_box(pred_np | gt_np)
    if box is not None:  # every score is the same on the bounding box of P ∪ G
        pred_np, gt_np = pred_np[box], gt_np[box]
    n_pred, n_gt = int(np.count_nonzero(pred_np)), int(np.count_nonzero(gt_np))
    overlap = int(np.count_nonzero(pred_np & gt_np))
    if n_pred + n_gt == 0:
        scores = {"dice": 1.0, "iou": 1.0, "precision": 1.0, "recall": 1.0}
    else:
        scores = {
            "dice": 2.0 * overlap / (n_pred + n_gt),
            "iou": overlap / (n_pred + n_gt - overlap),
            "precision": overlap / n_pred if n_pred else 0.0,
            "recall": overlap / n_gt if n_gt else 0.0,
        }
    scores.update(surface_scores(pred_np, gt_np, spacing, ("hd95", "assd"), image_shape=shape))
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
        for c, p, g in class_masks(pred, gt, len(spacing), include_background, num_classes)
    }


def class_masks(
    pred: Any, gt: Any, spatial_dims: int, include_background: bool, num_classes: int | None
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(class_index, pred_mask, gt_mask)`` for each scored class of a label map / one-hot pair.

    Args:
        pred: the prediction, a label map (with or without its one channel) or one-hot channels.
        gt: the ground truth, likewise.
        spatial_dims: number of spatial dimensions.
        include_background: whether to yield class 0.
        num_classes: number of classes including background; default: the number of channels, or for two
            label maps their largest label + 1 (at least 2). ``1`` with one channel each: one binary mask
            (a one-channel sigmoid output), always scored as class 0.
    """
    pred_np = _channel_first(np.asarray(convert_to_numpy(pred)), spatial_dims, "pred")
    gt_np = _channel_first(np.asarray(convert_to_numpy(gt)), spatial_dims, "gt")
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
    elif num_classes == 1:  # one channel each and one class: binary masks (a one-channel sigmoid output)
        yield 0, pred_np[0] > 0, gt_np[0] > 0
        return
    elif num_classes is not None:
        n = num_classes
    else:
        n = max(int(max(pred_np.max(initial=0), gt_np.max(initial=0))) + 1, 2)
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
