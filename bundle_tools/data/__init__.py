"""Data loading the bundles' configs name: a thread loader that re-raises its thread's error, the pre-flight
check of a dataset before training, and the checks of inference inputs (see docs/architecture.md)."""

from .._lazy import lazy_exports

_NAMES = {
    "ThreadDataLoader": "loaders",
    "CheckedThreadBuffer": "loaders",
    "check_training_data": "preflight",
    "datalist_items": "preflight",
    "inference_data": "inference_inputs",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
