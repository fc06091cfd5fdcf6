"""Pictures a user looks at: training curves, prediction overlays, attention maps (see docs/architecture.md)."""

from bundle_tools._lazy import lazy_exports

_NAMES = {
    "save_segmentation_overlay": "plots",
    "save_attention_overlay": "plots",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
