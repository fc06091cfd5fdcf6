"""Dictionary transforms of the bundles: plan-driven normalisation and label conversions
(see docs/architecture.md)."""

from bundle_tools._lazy import lazy_exports

_NAMES = {
    "MSDBrainTumourToMultiLabel": "plan_transforms",
    "MSDBrainTumourToMultiLabeld": "plan_transforms",
    "NormalizeFromPlan": "plan_transforms",
    "NormalizeFromPland": "plan_transforms",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
