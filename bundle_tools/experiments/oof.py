"""Out-of-fold results of a cross-validation: the metrics table, its summary and the post-processing choice.

Each fold's evaluation scores the fold model on the fold's validation patients (``fold_k/eval/metrics.csv``,
:mod:`bundle_tools.metrics.summary`). The folds' validation patients partition the non-test patients, so
their rows together are the *out-of-fold* table: every non-test case exactly once, each scored by the one
model that did not train on it (nnU-Net's cross-validation results).

* :func:`merge_fold_metrics` - ``oof_metrics.csv``: the folds' rows with a ``fold`` column first;
* :func:`write_oof` - that table and ``oof_summary.csv`` (per class and metric ``n, mean, std, median``
  over cases, and ``overall``: :func:`bundle_tools.metrics.summary.summarize`);
* :func:`decide_oof_postprocessing` - the largest-component decision of
  :mod:`bundle_tools.postprocess.decision` on the out-of-fold predictions of all folds together (per case
  and class Dice raw and filtered, ``fold_k/eval/component_dice.csv``): a class keeps the filter only when
  its mean out-of-fold Dice is not lower with it. Written as ``postprocessing.json`` in the format the
  bundles read at inference.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from data_prep.errors import DataPrepError
from data_prep.io import write_text

from ..metrics.summary import ROW_COLUMNS, SUMMARY_COLUMNS, read_csv_rows, summarize
from ..postprocess.decision import (
    LargestComponentDecision,
    decide_from_scores,
    write_postprocessing,
)
from .component_scores import read_component_dice

__all__ = ["OOF_COLUMNS", "decide_oof_postprocessing", "merge_fold_metrics", "write_oof"]

OOF_COLUMNS: tuple[str, ...] = ("fold", *ROW_COLUMNS)
"""Columns of ``oof_metrics.csv``: ``fold`` and those of ``metrics.csv``."""


def merge_fold_metrics(metrics_files: Mapping[int, str | os.PathLike]) -> list[dict[str, Any]]:
    """The out-of-fold rows: each fold's ``metrics.csv`` rows with their ``fold``, folds in order.

    Raises:
        DataPrepError: a file lacks a column of ``metrics.csv``, or one case is in two folds (the folds'
            validation sets must not overlap).
    """
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for fold in sorted(metrics_files):
        path = Path(metrics_files[fold])
        fold_rows = read_csv_rows(path)
        missing = [c for c in ROW_COLUMNS if fold_rows and c not in fold_rows[0]]
        if missing:
            raise DataPrepError(f"{path}: not a metrics table (no column {missing[0]})")
        for row in fold_rows:
            case = row["case"]
            if seen.setdefault(case, fold) != fold:
                raise DataPrepError(f"{path}: case {case} is also in fold {seen[case]}; the folds overlap")
            rows.append({"fold": fold, **{c: row[c] for c in ROW_COLUMNS}})
    return rows


def write_oof(rows: Sequence[Mapping[str, Any]], output: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``oof_metrics.csv`` (the rows) and ``oof_summary.csv`` into ``output``, atomically."""
    output = Path(output)
    numeric = [
        {**row, **{c: _float(row[c]) for c in ROW_COLUMNS[3:-1]}, "class_index": int(row["class_index"])}
        for row in rows
    ]
    table = write_text(_csv(OOF_COLUMNS, rows), output / "oof_metrics.csv")
    summary = write_text(_csv(SUMMARY_COLUMNS, summarize(numeric)), output / "oof_summary.csv")
    return table, summary


def decide_oof_postprocessing(
    score_files: Mapping[int, str | os.PathLike],
    path: str | os.PathLike,
    class_names: Sequence[str] | None = None,
    multi_label: bool = False,
) -> LargestComponentDecision:
    """Decide the largest-component filter per class on all folds' out-of-fold Dice; write ``path``.

    Args:
        score_files: fold -> its ``component_dice.csv``.
        path: the ``postprocessing.json`` to write.
        class_names: names by label (or channel), for the file.
        multi_label: the classes are channels (``label_kind`` ``multi_label``).
    """
    scores = [row for fold in sorted(score_files) for row in read_component_dice(score_files[fold])]
    classes = sorted({int(row["class_index"]) for row in scores})
    cases = sorted({str(row["case"]) for row in scores})
    raw = np.full((len(cases), len(classes)), math.nan)
    filtered = np.full((len(cases), len(classes)), math.nan)
    for row in scores:
        i, k = cases.index(str(row["case"])), classes.index(int(row["class_index"]))
        raw[i, k], filtered[i, k] = row["dice"], row["dice_largest_component"]
    decision = decide_from_scores(raw, filtered, classes)
    source = {"decided_on": "out-of-fold predictions", "folds": len(score_files)}
    write_postprocessing(decision.to_dict(class_names, multi_label, source), path)
    return decision


def _float(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _csv(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    """CSV with a header line; finite floats with 6 significant digits (as ``metrics.csv``)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: f"{v:.6g}" if isinstance(v, float) and math.isfinite(v) else v for k, v in row.items()}
        )
    return buffer.getvalue()
