"""Evaluation report: per case and class Dice, IoU, precision, recall, HD95 and ASSD (mm) -> CSV.

* :class:`SegmentationReport` - ignite handler for a MONAI evaluator; scores every case of every
  iteration with that case's own spacing and writes ``metrics.csv`` and ``summary.csv``.
* :func:`evaluate_folders` - the same for two folders of NIfTI files (predictions vs ground truth).
* :func:`write_report` - writes the two CSV files (atomically) from rows of scores.

``metrics.csv`` has one row per case and class: ``case, class_index, class, dice, iou, precision,
recall, hd95_mm, assd_mm, spacing_mm``. ``summary.csv`` has one row per class and metric, plus the
class ``overall``: ``class, metric, n, mean, std, median`` over cases (``std`` is the population
standard deviation). ``overall`` first averages each case over its classes, then takes the statistics
over cases. Definitions and the empty-mask convention: :mod:`bundle_tools.metrics.surface_metrics` and
``docs/metrics.md``.

Run over folders from the command line::

    python -m bundle_tools.metrics.report --pred outputs/preds --gt data/labelsTr --labels data/dataset.json --out eval/
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import math
import os
import statistics
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from monai.data import MetaTensor, decollate_batch
from monai.utils import IgniteInfo, min_version, optional_import

from bundle_tools.metrics.surface_metrics import SCORE_NAMES, segmentation_scores, spacing_from_meta

Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")

__all__ = [
    "METRIC_COLUMNS",
    "ReportError",
    "SegmentationReport",
    "case_name",
    "case_rows",
    "class_name_map",
    "evaluate_folders",
    "format_summary",
    "item_case_name",
    "summarize",
    "write_bytes_atomic",
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
"""Score name (as in :data:`~bundle_tools.metrics.surface_metrics.SCORE_NAMES`) -> CSV column (with unit)."""

ROW_COLUMNS: tuple[str, ...] = ("case", "class_index", "class", *METRIC_COLUMNS.values(), "spacing_mm")
SUMMARY_COLUMNS: tuple[str, ...] = ("class", "metric", "n", "mean", "std", "median")
OVERALL = "overall"
_IMAGE_SUFFIXES = (".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nrrd.gz", ".png", ".jpg", ".jpeg", ".dcm")
_NIFTI_SUFFIXES = (".nii.gz", ".nii")


class ReportError(ValueError):
    """A report input is missing or inconsistent; the message names the file."""


def class_name_map(
    class_names: Mapping[Any, str] | Sequence[str], include_background: bool = False
) -> dict[int, str]:
    """``{class_index: name}`` of the scored classes.

    Args:
        class_names: names by label value - a dict (keys may be strings, as in ``dataset.json``'s
            ``labels``) or a list whose item ``i`` names label ``i`` (background first).
        include_background: keep label 0.
    """
    items = class_names.items() if isinstance(class_names, Mapping) else enumerate(class_names)
    names = {int(k): str(v) for k, v in items}
    return {k: v for k, v in sorted(names.items()) if include_background or k != 0}


def case_name(path: str | os.PathLike) -> str:
    """The file name without folder and image suffix (``/d/p01.nii.gz`` -> ``p01``)."""
    name = Path(str(path)).name
    for suffix in _IMAGE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def item_case_name(item: Mapping[str, Any], keys: Sequence[str] = ("image", "label")) -> str | None:
    """The case name of a decollated engine output item, from ``meta["filename_or_obj"]``.

    Args:
        item: one case's dict (``MetaTensor`` values, or ``<key>_meta_dict`` entries).
        keys: the keys to look at, in order.

    Returns:
        :func:`case_name` of the first file name found, else None.
    """
    for key in keys:
        value = item.get(key)
        meta = value.meta if isinstance(value, MetaTensor) else item.get(f"{key}_meta_dict")
        filename = meta.get("filename_or_obj") if isinstance(meta, Mapping) else None
        if isinstance(filename, (list, tuple)):
            filename = filename[0] if filename else None
        if filename:
            return case_name(str(filename))
    return None


def case_rows(
    case: str, scores: Mapping[int, Mapping[str, float]], names: Mapping[int, str], spacing: Sequence[float]
) -> list[dict[str, Any]]:
    """Rows of ``metrics.csv`` for one case from :func:`~bundle_tools.metrics.surface_metrics.segmentation_scores`.

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
    rows = list(rows)
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
            per_case = [
                statistics.fmean(float(r[column]) for r in case_rows_) for case_rows_ in by_case.values()
            ]
            summary.append(_stats(OVERALL, column, per_case))
    return summary


def _stats(name: str, column: str, values: list[float]) -> dict[str, Any]:
    return {
        "class": name,
        "metric": column,
        "n": len(values),
        "mean": statistics.fmean(values),
        "std": statistics.pstdev(values),
        "median": statistics.median(values),
    }


def write_report(rows: Iterable[Mapping[str, Any]], output_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``metrics.csv`` (the rows) and ``summary.csv`` (:func:`summarize`) atomically.

    Args:
        rows: one mapping per case and class with the keys of ``metrics.csv``.
        output_dir: the folder (created if missing).

    Returns:
        the paths of ``metrics.csv`` and ``summary.csv``.
    """
    rows = list(rows)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = _write_csv_atomic(output_dir / "metrics.csv", ROW_COLUMNS, rows)
    summary_path = _write_csv_atomic(output_dir / "summary.csv", SUMMARY_COLUMNS, summarize(rows))
    return metrics_path, summary_path


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


class SegmentationReport:
    """Ignite handler: per-case, per-class scores of an evaluator in mm -> ``metrics.csv``, ``summary.csv``.

    At every iteration it scores each decollated case of ``engine.state.output`` (``pred`` and ``label``,
    one-hot or label maps) with :func:`~bundle_tools.metrics.surface_metrics.segmentation_scores`, using the
    spacing of the label's ``MetaTensor`` affine (else the prediction's); the case is named from
    ``meta["filename_or_obj"]`` of ``filename_key``. At ``EPOCH_COMPLETED`` it writes the two CSV files
    atomically (rank 0 after gathering, when distributed) and logs a summary table.

    Args:
        output_dir: folder of ``metrics.csv`` and ``summary.csv``.
        class_names: names by label (dict, keys may be strings) or a list, background first; its largest
            label + 1 is the number of classes.
        include_background: whether to score label 0.
        filename_key: the key whose meta names the case (default ``"image"``, then the label's).
        pred_key: the key of the prediction in each output item.
        label_key: the key of the ground truth in each output item.
        name: logger name; default the engine's logger.

    Example (``evaluate.json``)::

        {"_target_": "bundle_tools.metrics.report.SegmentationReport", "output_dir": "$@bundle_root + '/eval'",
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
        self.include_background = include_background
        self.filename_key = filename_key
        self.pred_key = pred_key
        self.label_key = label_key
        self.logger = logging.getLogger(name) if name else None
        self.rows: list[dict[str, Any]] = []
        self._unnamed = 0

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
        self._unnamed = 0

    def _score_iteration(self, engine: Engine) -> None:
        output = engine.state.output
        items = decollate_batch(output) if isinstance(output, Mapping) else list(output or [])
        for item in items:
            pred, label = item[self.pred_key], item[self.label_key]
            spacing = self._spacing(pred, label)
            scores = segmentation_scores(pred, label, spacing, self.include_background, self.num_classes)
            self.rows.extend(case_rows(self._case(item), scores, self.class_names, spacing))

    def _write(self, engine: Engine) -> None:
        rows = _gather(self.rows)
        if rows is None:  # not rank 0
            return
        write_report(rows, self.output_dir)
        if self.logger is not None:
            self.logger.info(
                f"segmentation report ({len({r['case'] for r in rows})} cases) -> {self.output_dir}\n"
                + format_summary(summarize(rows))
            )

    def _spacing(self, pred: Any, label: Any) -> tuple[float, ...]:
        spatial_dims = label.ndim - 1
        for source in (label, pred):
            if isinstance(source, MetaTensor):
                return spacing_from_meta(source, spatial_dims)
        raise ValueError(
            f"{type(self).__name__}: '{self.label_key}' and '{self.pred_key}' carry no MetaTensor affine, "
            "so the voxel spacing is unknown"
        )

    def _case(self, item: Mapping[str, Any]) -> str:
        name = item_case_name(item, (self.filename_key, self.label_key))
        if name is None:
            self._unnamed += 1
            name = f"case_{self._unnamed:04d}"
        return name


def evaluate_folders(
    pred_dir: str | os.PathLike,
    gt_dir: str | os.PathLike,
    class_names: Mapping[Any, str] | Sequence[str],
    output_dir: str | os.PathLike,
    include_background: bool = False,
    pred_suffix: str = "",
    affine_tolerance: float = 1e-3,
) -> list[dict[str, Any]]:
    """Score NIfTI predictions against NIfTI ground truth matched by name; write the report.

    For ``<gt_dir>/<case>.nii.gz`` the prediction is ``<pred_dir>/<case><pred_suffix>.nii[.gz]`` or
    ``<pred_dir>/<case>/<case><pred_suffix>.nii[.gz]`` (MONAI ``SaveImage``'s ``separate_folder``
    layout, e.g. ``pred_suffix="_seg"``). Geometry comes from the files' affines (read with nibabel);
    the spacing is the column norms of the ground truth's affine.

    Args:
        pred_dir: folder of predicted label maps.
        gt_dir: folder of ground-truth label maps (every NIfTI file in it is a case).
        class_names: names by label (dict or list, background first).
        output_dir: where ``metrics.csv`` and ``summary.csv`` go.
        include_background: whether to score label 0.
        pred_suffix: text between the case name and the suffix in prediction file names.
        affine_tolerance: largest allowed absolute difference between the two affines (mm).

    Returns:
        the rows written to ``metrics.csv``.

    Raises:
        ReportError: no ground truth, a missing prediction, or a shape/affine mismatch (names the files).
    """
    import nibabel as nib

    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    gt_files = (
        sorted(p for p in gt_dir.iterdir() if p.name.endswith(_NIFTI_SUFFIXES)) if gt_dir.is_dir() else []
    )
    if not gt_files:
        raise ReportError(f"{gt_dir}: no NIfTI ground-truth files (*.nii.gz, *.nii)")
    pairs, missing = [], []
    for gt_path in gt_files:
        pred_path = _find_prediction(pred_dir, case_name(gt_path), pred_suffix)
        if pred_path is None:
            missing.append(gt_path.name)
        else:
            pairs.append((pred_path, gt_path))
    if missing:
        raise ReportError(f"{pred_dir}: no prediction for {len(missing)} case(s): {', '.join(missing)}")
    names = class_name_map(class_names, include_background)
    num_classes = max(class_name_map(class_names, include_background=True)) + 1
    rows: list[dict[str, Any]] = []
    for pred_path, gt_path in pairs:
        pred_img, gt_img = nib.load(str(pred_path)), nib.load(str(gt_path))
        pred, gt = _label_array(pred_img, pred_path), _label_array(gt_img, gt_path)
        if pred.shape != gt.shape:
            raise ReportError(
                f"{pred_path}: shape {pred.shape} differs from ground truth {gt_path} shape {gt.shape}"
            )
        if not np.allclose(pred_img.affine, gt_img.affine, atol=affine_tolerance):
            raise ReportError(
                f"{pred_path}: affine differs from ground truth {gt_path} (the prediction is not in the label's "
                f"space):\n{np.round(pred_img.affine, 4)}\nvs\n{np.round(gt_img.affine, 4)}"
            )
        spacing = spacing_from_meta(np.asarray(gt_img.affine), spatial_dims=gt.ndim)
        scores = segmentation_scores(pred, gt, spacing, include_background, num_classes)
        rows.extend(case_rows(case_name(gt_path), scores, names, spacing))
    write_report(rows, output_dir)
    return rows


def _find_prediction(pred_dir: Path, case: str, suffix: str) -> Path | None:
    for folder in (pred_dir, pred_dir / case):
        for ext in _NIFTI_SUFFIXES:
            candidate = folder / f"{case}{suffix}{ext}"
            if candidate.is_file():
                return candidate
    return None


def _label_array(img: Any, path: Path) -> np.ndarray:
    data = np.asanyarray(img.dataobj)
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.dtype.kind == "f":
        data = np.rint(data)
    if data.size and data.min() < 0:
        raise ReportError(f"{path}: negative label {data.min()}")
    return data.astype(np.int32, copy=False)


def _gather(rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """All ranks' rows on rank 0 (None on other ranks); the rows themselves when not distributed."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return rows
    gathered: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(gathered, rows)
    if torch.distributed.get_rank() != 0:
        return None
    return [row for part in gathered for row in part]


def _write_csv_atomic(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: (f"{v:.6g}" if isinstance(v, float) and math.isfinite(v) else v) for k, v in row.items()}
        )
    write_bytes_atomic(path, buffer.getvalue().encode())
    return path


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary sibling and ``os.replace``.

    Args:
        path: the destination; its folder must exist.
        data: the whole content.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _parse_labels(text: str) -> Mapping[Any, str] | Sequence[str]:
    path = Path(text)
    if path.is_file():
        import json

        doc = json.loads(path.read_text(encoding="utf-8"))
        labels = doc.get("labels") if isinstance(doc, Mapping) else None
        if not labels:
            raise ReportError(f"{path}: no 'labels' mapping")
        return labels
    return [name.strip() for name in text.split(",")]


def main(argv: Sequence[str] | None = None, log: Callable[[str], Any] = print) -> int:
    """Command line: score a folder of NIfTI predictions against ground truth.

    Args:
        argv: arguments (default ``sys.argv[1:]``).
        log: where the summary table goes.
    """
    parser = argparse.ArgumentParser(
        prog="python -m bundle_tools.metrics.report",
        description="Per case and class Dice, IoU, precision, recall, HD95 and ASSD (mm, each case's own "
        "spacing) of NIfTI predictions vs ground truth matched by file name -> metrics.csv, summary.csv.",
    )
    parser.add_argument("--pred", required=True, help="folder of predicted label maps")
    parser.add_argument("--gt", required=True, help="folder of ground-truth label maps")
    parser.add_argument(
        "--labels",
        required=True,
        help="class names: a dataset.json/datalist.json with a 'labels' mapping, or 'background,liver,...'",
    )
    parser.add_argument("--out", required=True, help="output folder of metrics.csv and summary.csv")
    parser.add_argument(
        "--pred-suffix", default="", help="e.g. _seg for MONAI SaveImage names <case>_seg.nii.gz"
    )
    parser.add_argument("--include-background", action="store_true", help="also score label 0")
    args = parser.parse_args(argv)
    try:
        rows = evaluate_folders(
            args.pred,
            args.gt,
            _parse_labels(args.labels),
            args.out,
            args.include_background,
            args.pred_suffix,
        )
    except ReportError as err:
        parser.exit(2, f"error: {err}\n")
    log(format_summary(summarize(rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
