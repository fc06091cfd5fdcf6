"""Evaluation of two folders of NIfTI label maps (predictions vs ground truth) -> ``metrics.csv``, ``summary.csv``.

:func:`evaluate_folders` scores every case with its own spacing (from the ground truth's affine) with
:func:`~bundle_tools.metrics.scores.segmentation_scores` and writes the report of
:mod:`bundle_tools.metrics.summary`. From the command line::

    python -m bundle_tools.metrics.folders --pred outputs/preds --gt data/labelsTr --labels data/dataset.json --out eval/

(:func:`add_parser` adds the same as an ``evaluate`` command to a ``python -m bundle_tools`` parser.)
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from data_prep.cli import run_command
from data_prep.convert import NIFTI_SUFFIXES
from data_prep.errors import DataPrepError
from data_prep.io import read_json

from .names import case_name, class_name_map
from .scores import segmentation_scores
from .spacing import spacing_from_meta
from .summary import case_rows, format_summary, summarize, write_report

__all__ = ["ReportError", "add_parser", "evaluate_folders", "main", "run"]

_DESCRIPTION = (
    "Per case and class Dice, IoU, precision, recall, HD95 and ASSD (mm, each case's own spacing) of NIfTI "
    "predictions vs ground truth matched by file name -> metrics.csv, summary.csv."
)


class ReportError(ValueError):
    """A report input is missing or inconsistent; the message names the file."""


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

    names = class_name_map(class_names, include_background)
    num_classes = max(class_name_map(class_names, include_background=True)) + 1
    rows: list[dict[str, Any]] = []
    for pred_path, gt_path in _case_pairs(Path(pred_dir), Path(gt_dir), pred_suffix):
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


def _case_pairs(pred_dir: Path, gt_dir: Path, suffix: str) -> list[tuple[Path, Path]]:
    """``(prediction, ground truth)`` of every ground-truth file; raises when any prediction is missing."""
    gt_files = (
        sorted(p for p in gt_dir.iterdir() if p.name.endswith(NIFTI_SUFFIXES)) if gt_dir.is_dir() else []
    )
    if not gt_files:
        raise ReportError(f"{gt_dir}: no NIfTI ground-truth files (*.nii.gz, *.nii)")
    pairs, missing = [], []
    for gt_path in gt_files:
        pred_path = _find_prediction(pred_dir, case_name(gt_path), suffix)
        if pred_path is None:
            missing.append(gt_path.name)
        else:
            pairs.append((pred_path, gt_path))
    if missing:
        raise ReportError(f"{pred_dir}: no prediction for {len(missing)} case(s): {', '.join(missing)}")
    return pairs


def _find_prediction(pred_dir: Path, case: str, suffix: str) -> Path | None:
    for folder in (pred_dir, pred_dir / case):
        for ext in NIFTI_SUFFIXES:
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


def _parse_labels(text: str) -> Mapping[Any, str] | Sequence[str]:
    """Class names from a ``dataset.json``-like file's ``labels``, or from a comma-separated list."""
    path = Path(text)
    if not path.is_file():
        return [name.strip() for name in text.split(",")]
    try:
        doc = read_json(path)
    except DataPrepError as err:
        raise ReportError(str(err)) from None
    labels = doc.get("labels") if isinstance(doc, Mapping) else None
    if not labels:
        raise ReportError(f"{path}: no 'labels' mapping")
    return labels


def _add_arguments(parser: argparse.ArgumentParser) -> None:
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


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``evaluate`` command to a ``python -m bundle_tools`` parser."""
    parser = subparsers.add_parser(
        "evaluate", help="score folders of NIfTI predictions against ground truth", description=_DESCRIPTION
    )
    _add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace, log: Callable[[str], Any] = print) -> int:
    """Evaluate the folders of ``args`` and log the summary table (a bad input raises :class:`ReportError`)."""
    rows = evaluate_folders(
        args.pred, args.gt, _parse_labels(args.labels), args.out, args.include_background, args.pred_suffix
    )
    log(format_summary(summarize(rows)))
    return 0


def main(argv: Sequence[str] | None = None, log: Callable[[str], Any] = print) -> int:
    """Command line: score a folder of NIfTI predictions against ground truth (``python -m bundle_tools
    evaluate``); a bad input is one ``error:`` line on stderr and exit code 1.

    Args:
        argv: arguments (default ``sys.argv[1:]``).
        log: where the summary table goes.
    """
    parser = argparse.ArgumentParser(prog="python -m bundle_tools.metrics.folders", description=_DESCRIPTION)
    _add_arguments(parser)
    parser.set_defaults(func=lambda args: run(args, log))
    return run_command(parser, argv, (ReportError, DataPrepError))


if __name__ == "__main__":
    raise SystemExit(main())
