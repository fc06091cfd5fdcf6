"""``python -m data_prep analyze``: data fingerprint (class frequencies, weights, spacing, intensities) -> ``plan.json``."""

from __future__ import annotations

import argparse

from data_prep.analyze import analyze_dataset


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``analyze`` sub-command."""
    parser = subparsers.add_parser(
        "analyze",
        help="data fingerprint: class frequencies and weights, spacing, intensities (plan.json)",
        description="Read every labelled case of DATASET_DIR/dataset.json once, case by case, and write "
        "DATASET_DIR/plan.json: voxel count and frequency of every class, loss weights (1/sqrt(frequency), "
        "mean 1), crop ratios for RandCropByLabelClassesd, spacing and shape statistics with a target "
        "spacing (median; nnU-Net's rule for anisotropic axes), and foreground intensity statistics per "
        "channel with the normalisation to use ('ct' for CT, 'zscore' otherwise).",
    )
    parser.add_argument("dataset_dir", metavar="DATASET_DIR", help="dataset folder holding dataset.json")
    parser.add_argument(
        "--workers", type=int, default=2, metavar="N", help="parallel worker processes (default 2)"
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    plan = analyze_dataset(args.dataset_dir, workers=args.workers)
    frequencies = ", ".join(
        f"{plan['labels'][str(c)]} {100 * f:.2f}% (w {w:.2f})"
        for c, (f, w) in enumerate(zip(plan["class_frequencies"], plan["class_weights"], strict=True))
    )
    print(
        f"{args.dataset_dir}/plan.json: {plan['num_cases']} cases; {frequencies}; target spacing {plan['target_spacing']}"
    )
    return 0
