"""Segmentation scores in millimetres (Dice, IoU, precision, recall, HD95, ASSD) and the evaluation of
prediction folders (see docs/metrics.md and docs/architecture.md)."""

from bundle_tools._lazy import lazy_exports

_NAMES = {
    "SurfaceDistanceMetricMM": "surface_metrics",
    "segmentation_scores": "surface_metrics",
    "binary_scores": "surface_metrics",
    "evaluate_folders": "report",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
