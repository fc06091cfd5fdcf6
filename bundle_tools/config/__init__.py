"""What the bundle configs read about themselves: the bundle root, on/off flags, plan checks and
the one-line report of a user error
(see docs/architecture.md)."""

from .._lazy import lazy_exports

_NAMES = {
    "bundle_root": "paths",
    "as_bool": "flags",
    "check_num_classes": "plan_checks",
    "compose_bundle": "compose",
    "report_user_errors": "user_errors",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
