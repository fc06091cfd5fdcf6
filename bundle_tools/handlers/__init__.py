"""Ignite handlers the bundles attach to their engines: checkpoints, early stop, progress, training curves,
reports, surface-distance metrics and pictures (see docs/architecture.md)."""

from bundle_tools._lazy import lazy_exports

_NAMES = {
    "BestModelSaver": "checkpoints",
    "LatestCheckpointSaver": "checkpoints",
    "ResumeCheckpointLoader": "checkpoints",
    "ValidationEarlyStop": "early_stop",
    "LossProgressBar": "progress",
    "loss_value": "progress",
    "TrainingCurves": "bundle_tools.visualize.plots",
    "OverlaySaver": "bundle_tools.visualize.plots",
    "AttentionMapSaver": "bundle_tools.visualize.plots",
    "SegmentationReport": "bundle_tools.metrics.report",
    "HD95Handler": "bundle_tools.metrics.surface_metrics",
    "ASSDHandler": "bundle_tools.metrics.surface_metrics",
    "SurfaceDistanceHandlerMM": "bundle_tools.metrics.surface_metrics",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
