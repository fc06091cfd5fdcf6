"""Losses the bundles name besides MONAI's, and class weights from the plan (see docs/architecture.md)."""

from .._lazy import lazy_exports

_NAMES = {
    "DiceBCELoss": "dice_bce",
    "FocalTverskyLoss": "focal_tversky",
    "plan_class_weights": "focal_tversky",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
