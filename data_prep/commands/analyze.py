"""``python -m data_prep analyze``: data fingerprint -> ``fingerprint.json``; the plan made from it -> ``plan.json``."""

from __future__ import annotations

import argparse

from ..analyze import analyze_dataset
from ..planner import DEFAULT_BUDGET_GB


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``analyze`` sub-command."""
    parser = subparsers.add_parser(
        "analyze",
        help="data fingerprint (fingerprint.json) and the training plan made from it (plan.json)",
        description="Read every labelled case of DATASET_DIR/dataset.json once, case by case, and write "
        "DATASET_DIR/fingerprint.json (facts: voxel count and frequency of every class, spacing and shape of "
        "every case, foreground intensity statistics per channel) and DATASET_DIR/plan.json (decisions: loss "
        "weights (1/sqrt(frequency), mean 1), crop ratios for RandCropByLabelClassesd, target spacing "
        "(median; nnU-Net's rule for anisotropic axes), normalisation per channel ('ct' for CT, 'zscore' "
        "otherwise), and the patch, batch and network topology (per-level strides and kernels) sized for "
        "a training memory budget). Bundles read plan.json.",
    )
    parser.add_argument("dataset_dir", metavar="DATASET_DIR", help="dataset folder holding dataset.json")
    parser.add_argument(
        "--workers", type=int, default=2, metavar="N", help="parallel worker processes (default 2)"
    )
    parser.add_argument(
        "--device",
        choices=sorted(DEFAULT_BUDGET_GB),
        default="cpu",
        help="plan for training on this device: its memory is the budget (default cpu)",
    )
    parser.add_argument(
        "--memory-budget-gb",
        type=float,
        default=None,
        metavar="GB",
        help="training memory to size the patch and batch for (default "
        + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_BUDGET_GB.items())
        + "; on a CPU time, not memory, limits the patch)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    plan = analyze_dataset(
        args.dataset_dir,
        workers=args.workers,
        memory_budget_gb=args.memory_budget_gb,
        planned_for=args.device,
    )
    weights = ", ".join(
        f"{name} {w:.2f}" for name, w in zip(plan.class_names, plan.class_weights, strict=True)
    )
    print(
        f"{args.dataset_dir}/plan.json: class weights {weights}; target spacing {plan.target_spacing}; "
        f"patch {plan.patch_size} x batch {plan.batch_size}; {len(plan.channels)} levels, strides {plan.strides}"
    )
    return 0
