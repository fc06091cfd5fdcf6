"""Experiments over whole trainings: k-fold cross-validation of a bundle (``python -m bundle_tools cv``),
its out-of-fold metrics and the post-processing chosen on them (see docs/experiments.md)."""

from .._lazy import lazy_exports

_NAMES = {
    "ComponentDiceScores": "component_scores",
    "run_cv": "cv",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
