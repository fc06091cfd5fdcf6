"""Inferers around MONAI's sliding window: flip test-time augmentation, fold ensembles (see docs/architecture.md)."""

from .._lazy import lazy_exports

_NAMES = {
    "EnsembleInferer": "ensemble",
    "FlipTTAInferer": "tta",
    "checkpoint_paths": "ensemble",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
