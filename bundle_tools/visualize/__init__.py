"""Pictures a user looks at: training curves, prediction overlays, the worst
cases, attention maps (see docs/architecture.md).

Drawing only; the Ignite handlers that draw them during a run are in :mod:`bundle_tools.handlers`
(``TrainingCurves``, ``OverlaySaver``, ``WorstCasesGallery``, ``AttentionMapSaver``).
"""

from .._lazy import lazy_exports

_NAMES = {
    "training_curves_figure": "curves",
    "save_segmentation_overlay": "overlays",
    "save_attention_overlay": "attention",
    "save_worst_cases": "gallery",
    "representative_slice": "slices",
    "PLANES": "slices",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
