"""Ignite handler: per case and class Dice, IoU, precision, recall, HD95 and ASSD (mm) of an evaluator -> CSV.

It is built like MONAI's ``MetricsSaver`` (buffers per iteration, gathers across ranks with ignite's
``idist`` at ``EPOCH_COMPLETED``, one rank writes) but does not use it or its writer
``monai.handlers.utils.write_metrics_reports``, because:

* ``MetricsSaver`` writes what the metric handlers left in ``engine.state.metric_details``: one
  ``(cases, classes)`` table per metric, in ``<metric>_raw.csv`` files; the report has six scores per case
  and class and the case's spacing in one long ``metrics.csv`` (``docs/metrics.md``, read by the benchmarks);
* its summary (``<metric>_summary.csv``, NaN-skipping ``summary_ops``) has other columns than
  ``summary.csv`` (``class, metric, n, mean, std, median`` with the ``overall`` row);
* it names cases by the full path from ``engine.state.batch``, and writes with ``open(...)``, so a killed
  run can leave half a file; the report writes through ``data_prep.io.write_text`` (a temporary sibling
  and a rename).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monai.utils import IgniteInfo, min_version, optional_import

from ..metrics.names import class_name_map
from ..metrics.scores import segmentation_scores
from ..metrics.spacing import case_spacing
from ..metrics.summary import case_rows, format_summary, write_report
from ._case_items import item_name, output_items

Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")
idist, _ = optional_import("ignite", IgniteInfo.OPT_IMPORT_VERSION, min_version, "distributed")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")

__all__ = ["SegmentationReport"]


class SegmentationReport:
    """Ignite handler: per-case, per-class scores of an evaluator in mm -> ``metrics.csv``, ``summary.csv``.

    At every iteration it scores each decollated case of ``engine.state.output`` (``pred`` and ``label``,
    one-hot or label maps) with :func:`~bundle_tools.metrics.scores.segmentation_scores`, using the
    spacing of the label's ``MetaTensor`` affine (else the prediction's); the case is named from
    ``meta["filename_or_obj"]`` of ``filename_key``. At ``EPOCH_COMPLETED`` it writes the two CSV files
    of :mod:`bundle_tools.metrics.summary` atomically (rank 0 after gathering, when distributed) and logs
    a summary table.

    Args:
        output_dir: folder of ``metrics.csv`` and ``summary.csv``.
        class_names: names by label (dict, keys may be strings) or a list, background first; its largest
            label + 1 is the number of classes. For sigmoid outputs (``multi_label``), names by channel.
        include_background: whether to score label 0 (channel 0); true for sigmoid outputs, where channel 0
            is a class (one name and one channel: a binary mask).
        filename_key: the key whose meta names the case (default ``"image"``, then the label's).
        pred_key: the key of the prediction in each output item.
        label_key: the key of the ground truth in each output item.
        name: logger name; default the engine's logger.

    Example (``evaluate.json``)::

        {"_target_": "bundle_tools.handlers.SegmentationReport", "output_dir": "$@bundle_root + '/eval'",
         "class_names": ["background", "liver", "right_kidney", "left_kidney", "spleen"]}
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        class_names: Mapping[Any, str] | Sequence[str],
        include_background: bool = False,
        filename_key: str = "image",
        pred_key: str = "pred",
        label_key: str = "label",
        name: str | None = None,
    ) -> None:
        self.output_dir = Path(output_dir)
        all_names = class_name_map(class_names, include_background=True)
        if not all_names:
            raise ValueError("class_names is empty")
        self.num_classes = max(all_names) + 1
        self.class_names = class_name_map(class_names, include_background)
        if not self.class_names:
            raise ValueError(
                f"class_names {class_names!r} leave no class to score"
                + (
                    ""
                    if include_background
                    else " (a one-channel sigmoid output needs include_background=True)"
                )
            )
        self.include_background = include_background
        self.filename_key = filename_key
        self.pred_key = pred_key
        self.label_key = label_key
        self.logger = logging.getLogger(name) if name else None
        self.rows: list[dict[str, Any]] = []
        self._cases = 0

    def attach(self, engine: Engine) -> None:
        """Register the handler on ``engine`` (an evaluator).

        Args:
            engine: the ignite engine whose outputs are scored.
        """
        if self.logger is None:
            self.logger = engine.logger
        engine.add_event_handler(Events.EPOCH_STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._score_iteration)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._write)

    def __call__(self, engine: Engine) -> None:
        """Score the current iteration's cases (the ``ITERATION_COMPLETED`` step)."""
        self._score_iteration(engine)

    def _reset(self, engine: Engine) -> None:
        self.rows = []
        self._cases = 0

    def _score_iteration(self, engine: Engine) -> None:
        for item in output_items(engine):
            pred, label = item[self.pred_key], item[self.label_key]
            spacing = case_spacing(
                {self.label_key: label, self.pred_key: pred},
                spatial_dims=label.ndim - 1,
                hint="keep the meta through the post-transforms",
            )
            scores = segmentation_scores(pred, label, spacing, self.include_background, self.num_classes)
            self._cases += 1
            case = item_name(item, self.filename_key, self.label_key, self._cases)
            self.rows.extend(case_rows(case, scores, self.class_names, spacing))

    def _write(self, engine: Engine) -> None:
        parts = idist.all_gather(self.rows)  # every rank's rows (a one-item list when not distributed)
        if idist.get_rank() != 0:
            return
        rows = [row for part in parts for row in part]
        summary = write_report(rows, self.output_dir)
        if self.logger is not None:
            self.logger.info(
                f"segmentation report ({len({r['case'] for r in rows})} cases) -> {self.output_dir}\n"
                + format_summary(summary)
            )
