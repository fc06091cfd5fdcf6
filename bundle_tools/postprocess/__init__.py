"""Postprocessing decided on validation after training and applied at inference: keep the largest
connected component of a class where that helps (see docs/postprocessing.md)."""

from .._lazy import lazy_exports

_NAMES = {
    "KeepLargestComponent": "largest_component",
    "KeepLargestComponentd": "largest_component",
    "keep_largest_component_labels": "decision",
    "decide_after_training": "after_training",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
