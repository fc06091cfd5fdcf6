"""Segmentation scores in millimetres (Dice, IoU, precision, recall, HD95, ASSD) and the evaluation of
prediction folders (see docs/metrics.md and docs/architecture.md).

* ``surface_distance`` - surface distances in mm and HD95/HD/ASSD from them (the one implementation);
* ``scores`` - the six scores of a binary pair and of every class of a case;
* ``spacing`` - a case's voxel spacing from its affine (label first, then prediction);
* ``surface_metric`` - ``SurfaceDistanceMetricMM``, a MONAI metric (its handlers: ``bundle_tools.handlers``);
* ``names``, ``summary`` - case and class names, ``metrics.csv`` rows and ``summary.csv``;
* ``folders`` - ``evaluate_folders`` and its command line.
"""

from .._lazy import lazy_exports

_NAMES = {
    "SurfaceDistanceMetricMM": "surface_metric",
    "surface_scores": "surface_distance",
    "surface_distances": "surface_distance",
    "segmentation_scores": "scores",
    "binary_scores": "scores",
    "spacing_from_meta": "spacing",
    "case_spacing": "spacing",
    "class_name_map": "names",
    "summarize": "summary",
    "write_report": "summary",
    "evaluate_folders": "folders",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
