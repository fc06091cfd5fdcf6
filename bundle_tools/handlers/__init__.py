"""Ignite handlers the bundles attach to their engines: checkpoints, early stop, progress, training curves,
reports, surface-distance metrics and pictures (see docs/architecture.md)."""

from .._lazy import lazy_exports

_NAMES = {
    "BestModelSaver": "checkpoints",
    "LatestCheckpointSaver": "checkpoints",
    "ResumeCheckpointLoader": "checkpoints",
    "ValidationEarlyStop": "early_stop",
    "LossProgressBar": "progress",
    "loss_value": "progress",
    "TrainingCurves": "training_curves",
    "OverlaySaver": "overlay_saver",
    "WorstCasesGallery": "worst_cases",
    "AttentionMapSaver": "attention_saver",
    "SegmentationReport": "segmentation_report",
    "HD95Handler": "surface_distance",
    "ASSDHandler": "surface_distance",
    "SurfaceDistanceHandlerMM": "surface_distance",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
