"""``python -m data_prep validate``: check a dataset folder against its dataset.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..contract import DATALIST_JSON, DATASET_JSON, FINGERPRINT_JSON, PLAN_JSON
from ..io import write_json
from ..outputs import check_output_path, refuse_output_onto_input
from ..validate import DEFAULT_TOLERANCE, validate_dataset


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``validate`` sub-command."""
    parser = subparsers.add_parser(
        "validate",
        help="check every image and label of a dataset folder; exit 1 when anything is wrong",
        description="Read DATASET_DIR/dataset.json and check every case: image and label readable; same "
        "shape, spacing, origin and direction (within --tolerance); labels integral and among the "
        "classes dataset.json declares; no NaN/Inf in images; the same number of channels in every "
        "image (the 'modality' count). datalist.json, fingerprint.json and plan.json, where present, must "
        "pass their loaders (current version, every field well-formed), name only files that exist and carry "
        "the labels and modality of dataset.json. Every problem is printed with its file; the exit code is 1 "
        "when there is any. Nothing in the dataset is changed.",
    )
    parser.add_argument("dataset_dir", metavar="DATASET_DIR", help="dataset folder holding dataset.json")
    parser.add_argument("--report", metavar="FILE", help="also write the full report as JSON to FILE")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help=f"largest accepted difference of spacing/origin (mm) and direction (default {DEFAULT_TOLERANCE:g})",
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes over cases (default 2)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    if args.report:  # checked before the cases are read; the dataset's own files are never overwritten
        check_output_path(args.report)
        dataset = Path(args.dataset_dir)
        contract = [dataset / name for name in (DATASET_JSON, DATALIST_JSON, FINGERPRINT_JSON, PLAN_JSON)]
        refuse_output_onto_input(args.report, [path for path in contract if path.exists()])
    report = validate_dataset(args.dataset_dir, tolerance=args.tolerance, workers=args.workers)
    if args.report:
        write_json(report, args.report)
    for problem in report["problems"]:
        print(f"{problem['file']}: {problem['problem']}", file=sys.stderr)
    cases = report["num_training"] + report["num_test"]
    if report["ok"]:
        print(f"{args.dataset_dir}: {cases} cases, no problems")
        return 0
    print(f"{args.dataset_dir}: {report['num_problems']} problem(s) in {cases} cases", file=sys.stderr)
    return 1
