"""Learning-rate schedules stepped per iteration (see docs/architecture.md)."""

from .._lazy import lazy_exports

_NAMES = {
    "poly_with_warmup": "schedules",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
