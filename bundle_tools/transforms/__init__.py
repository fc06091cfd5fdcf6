"""Dictionary transforms of the bundles: plan-driven normalisation, label conversions and
the spatial rank of 2D cases
(see docs/architecture.md)."""

from .._lazy import lazy_exports

_NAMES = {
    "DropSingletonAxesd": "spatial_rank",
    "MSDBrainTumourToMultiLabel": "plan_transforms",
    "MSDBrainTumourToMultiLabeld": "plan_transforms",
    "NormalizeFromPlan": "plan_transforms",
    "NormalizeFromPland": "plan_transforms",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
