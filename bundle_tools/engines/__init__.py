"""The training and evaluation engines of the bundles: MONAI's supervised engines with mixed precision,
channels-last and deep supervision, and the host-memory setting they run under (see docs/architecture.md)."""

from bundle_tools._lazy import lazy_exports

_NAMES = {
    "AmpPolicy": "amp",
    "AmpSupervisedEvaluator": "amp",
    "AmpSupervisedTrainer": "amp",
    "resolve_amp": "amp",
    "reuse_freed_memory": "memory",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
