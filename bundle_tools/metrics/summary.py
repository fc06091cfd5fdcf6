"""The report's rows and summary: ``metrics.csv`` (per case and class) and ``summary.csv`` (per class).

* :func:`case_rows` - rows of ``metrics.csv`` for one case from
  :func:`~bundle_tools.metrics.scores.segmentation_scores`;
* :func:`summarize` - rows of ``summary.csv``: mean, std and median over cases per class and ``overall``;
* :func:`write_report` - writes the two files atomically (``data_prep.io.write_text``);
* :func:`format_summary` - a plain-text table of a summary, for the log and the command line.

``metrics.csv`` has one row per case and class: ``case, class_index, class, dice, iou, precision,
recall, hd95_mm, assd_mm, spacing_mm``. ``summary.csv`` has one row per class and metric, plus the
class ``overall``: ``class, metric, n, mean, std, median`` over cases (``std`` is the population
standard deviation). ``overall`` first averages each case over its classes, then takes the statistics
over cases. See ``docs/metrics.md``.
"""

from __future__ import annotations

import csv
import io
import math
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from data_prep.errors import DataPrepError
from data_prep.io import write_text

from .scores import SCORE_NAMES

__all__ = [
    "METRIC_COLUMNS",
    "OVERALL",
    "ROW_COLUMNS",
    "SUMMARY_COLUMNS",
    "case_rows",
    "format_summary",
    "read_csv_rows",
    "summarize",
    "write_report",
]

METRIC_COLUMNS: dict[str, str] = {
    "dice": "dice",
    "iou": "iou",
    "precision": "precision",
    "recall": "recall",
    "hd95": "hd95_mm",
    "assd": "assd_mm",
}
"""Score name (as in :data:`~bundle_tools.metrics.scores.SCORE_NAMES`) -> CSV column (with unit)."""

ROW_COLUMNS: tuple[str, ...] = ("case", "class_index", "class", *METRIC_COLUMNS.values(), "spacing_mm")
SUMMARY_COLUMNS: tuple[str, ...] = ("class", "metric", "n", "mean", "std", "median")
OVERALL = "overall"


def case_rows(
    case: str, scores: Mapping[int, Mapping[str, float]], names: Mapping[int, str], spacing: Sequence[float]
) -> list[dict[str, Any]]:
    """Rows of ``metrics.csv`` for one case from :func:`~bundle_tools.metrics.scores.segmentation_scores`.

    Args:
        case: the case name.
        scores: ``{class_index: {score: value}}``.
        names: ``{class_index: class name}``; classes missing from it are named ``class_<i>``.
        spacing: the case's voxel spacing in mm (recorded in the row).
    """
    spacing_text = "x".join(f"{s:g}" for s in spacing)
    rows = []
    for c, values in scores.items():
        row: dict[str, Any] = {"case": case, "class_index": c, "class": names.get(c, f"class_{c}")}
        row.update({METRIC_COLUMNS[k]: float(values[k]) for k in SCORE_NAMES})
        row["spacing_mm"] = spacing_text
        rows.append(row)
    return rows


def summarize(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Mean, population std and median over cases, per class and metric and ``overall``.

    ``overall`` averages each case over its classes first, so every case weighs the same.

    Args:
        rows: rows as in ``metrics.csv``.

    Returns:
        rows of ``summary.csv`` (keys :data:`SUMMARY_COLUMNS`), classes in label order, then ``overall``.
    """
    by_class: dict[tuple[int, str], list[Mapping[str, Any]]] = {}
    by_case: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_class.setdefault((int(row["class_index"]), str(row["class"])), []).append(row)
        by_case.setdefault(str(row["case"]), []).append(row)
    summary = []
    for (_, name), class_rows in sorted(by_class.items()):
        for column in METRIC_COLUMNS.values():
            summary.append(_stats(name, column, [float(r[column]) for r in class_rows]))
    if by_case:
        for column in METRIC_COLUMNS.values():
            per_case = [statistics.fmean(float(r[column]) for r in rows_) for rows_ in by_case.values()]
            summary.append(_stats(OVERALL, column, per_case))
    return summary


def write_report(rows: Iterable[Mapping[str, Any]], output_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Write ``metrics.csv`` (the rows) and ``summary.csv`` (:func:`summarize`) atomically.

    Args:
        rows: one mapping per case and class with the keys of ``metrics.csv``.
        output_dir: the folder (created if missing).

    Returns:
        the summary rows written to ``summary.csv`` (for :func:`format_summary`).
    """
    rows = list(rows)
    output_dir = Path(output_dir)
    summary = summarize(rows)
    write_text(_csv_text(ROW_COLUMNS, rows), output_dir / "metrics.csv")
    write_text(_csv_text(SUMMARY_COLUMNS, summary), output_dir / "summary.csv")
    return summary


def format_summary(summary: Iterable[Mapping[str, Any]]) -> str:
    """A plain-text table, one line per class: ``n`` and ``mean ± std`` of every metric."""
    table: dict[str, dict[str, Mapping[str, Any]]] = {}
    for row in summary:
        table.setdefault(str(row["class"]), {})[str(row["metric"])] = row
    columns = list(METRIC_COLUMNS.values())
    width = max([len("class"), *(len(k) for k in table)]) + 2
    lines = ["class".ljust(width) + "n".rjust(4) + "".join(c.rjust(18) for c in columns)]
    for name, metrics in table.items():
        n = next(iter(metrics.values()))["n"]
        cells = "".join(
            f"{metrics[c]['mean']:.3f} ± {metrics[c]['std']:.3f}".rjust(18) if c in metrics else "".rjust(18)
            for c in columns
        )
        lines.append(name.ljust(width) + str(n).rjust(4) + cells)
    return "\n".join(lines)


def _stats(name: str, column: str, values: list[float]) -> dict[str, Any]:
    return {
        "class": name,
        "metric": column,
        "n": len(values),
        "mean": statistics.fmean(values),
        "std": statistics.pstdev(values),
        "median": statistics.median(values),
    }


def _csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """CSV with a header line; finite floats with 6 significant digits."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: (f"{v:.6g}" if isinstance(v, float) and math.isfinite(v) else v) for k, v in row.items()}
        )
    return buffer.getvalue()


def read_csv_rows(path: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a CSV file as strings; ``DataPrepError`` naming the file when it cannot be read."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise DataPrepError(f"{path}: cannot be read ({err.strerror or err})") from None
    return list(csv.DictReader(text.splitlines()))
