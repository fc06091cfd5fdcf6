"""Inferers around MONAI's sliding window: flip test-time augmentation (see docs/architecture.md)."""

from bundle_tools._lazy import lazy_exports

_NAMES = {
    "FlipTTAInferer": "tta",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
