"""Ignite handler: per case and class Dice without and with the largest-component filter -> CSV.

Cross-validation decides the post-processing on the out-of-fold predictions of all folds together
(:mod:`bundle_tools.experiments.oof`). Each fold's evaluation already computes the fold model's discrete
predictions of its validation cases on their original grid; this handler, added to that evaluation's
handlers by ``cv``, scores each of them with :func:`bundle_tools.postprocess.decision.case_dice` (the
scores the post-training decision uses) and writes ``component_dice.csv``::

    case,class_index,dice,dice_largest_component

so no prediction has to be written to disk. The evaluation must run with ``postprocess=False``: the raw
prediction is scored with and without the filter. Predictions and labels are one-hot (label-map bundles:
channel ``c`` is label ``c``, the background channel 0 is skipped) or binary channels (multi-label bundles:
every channel is a class), so the class indices are the labels ``postprocessing.json`` lists.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from monai.utils import IgniteInfo, min_version, optional_import

from ..handlers._case_items import item_name, output_items
from ..metrics.summary import read_csv_rows
from ..postprocess.decision import case_dice

Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")
idist, _ = optional_import("ignite", IgniteInfo.OPT_IMPORT_VERSION, min_version, "distributed")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")

__all__ = ["COLUMNS", "ComponentDiceScores", "read_component_dice"]

COLUMNS = ("case", "class_index", "dice", "dice_largest_component")


class ComponentDiceScores:
    """Ignite handler of an evaluator: per case and class Dice raw and with the largest component only.

    Args:
        output_path: the CSV to write (atomically, at ``EPOCH_COMPLETED``).
        multi_label: the channels are independent classes (all scored); otherwise one-hot label maps whose
            channel 0 (background) is not scored.
        connectivity: see :func:`bundle_tools.postprocess.largest_component.largest_component`.
    """

    def __init__(
        self, output_path: str | os.PathLike, multi_label: bool = False, connectivity: int | None = None
    ):
        self.output_path = Path(output_path)
        self.multi_label = bool(multi_label)
        self.connectivity = connectivity
        self.rows: list[tuple[str, int, float, float]] = []
        self._cases = 0

    def attach(self, engine: Engine) -> None:
        """Register on ``engine``: reset at each epoch's start, score each iteration, write at its end."""
        engine.add_event_handler(Events.EPOCH_STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._score)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._write)

    def _reset(self, engine: Engine) -> None:
        self.rows = []
        self._cases = 0

    def _score(self, engine: Engine) -> None:
        for item in output_items(engine):
            pred, label = item["pred"], item["label"]
            channels = int(pred.shape[0])
            classes = list(range(channels)) if self.multi_label else list(range(1, channels))
            raw, filtered = case_dice(pred, label, classes, multi_label=True, connectivity=self.connectivity)
            self._cases += 1
            case = item_name(item, "image", "label", self._cases)
            self.rows.extend((case, c, float(r), float(f)) for c, r, f in zip(classes, raw, filtered))

    def _write(self, engine: Engine) -> None:
        from data_prep.io import write_text

        parts = idist.all_gather(self.rows)
        if idist.get_rank() != 0:
            return
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for part in parts:
            for case, c, r, f in part:
                writer.writerow([case, c, _text(r), _text(f)])
        write_text(out.getvalue(), self.output_path)


def _text(value: float) -> str:
    return "" if math.isnan(value) else repr(value)


def read_component_dice(path: str | os.PathLike) -> list[dict[str, object]]:
    """The rows of a ``component_dice.csv``: case (str), class_index (int), the two Dice (float, NaN if empty)."""
    from data_prep.errors import DataPrepError

    rows = []
    for row in read_csv_rows(path):
        try:
            rows.append(
                {
                    "case": row["case"],
                    "class_index": int(row["class_index"]),
                    "dice": float(row["dice"] or "nan"),
                    "dice_largest_component": float(row["dice_largest_component"] or "nan"),
                }
            )
        except (KeyError, TypeError, ValueError):
            raise DataPrepError(
                f"{path}: not a component Dice table (columns {', '.join(COLUMNS)})"
            ) from None
    return rows
