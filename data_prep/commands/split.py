"""``python -m data_prep split``: patient-level training/validation/test split -> ``datalist.json``."""

from __future__ import annotations

import argparse

from ..split import DEFAULT_PROPORTIONS, split_dataset


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``split`` sub-command."""
    parser = subparsers.add_parser(
        "split",
        help="split a dataset by patient into training/validation/test (datalist.json)",
        description="Read DATASET_DIR/dataset.json, group its cases by patient and assign whole patients "
        "(never single cases) to training, validation and test with a seeded shuffle; write "
        "DATASET_DIR/datalist.json (MSD style, read with monai.data.load_decathlon_datalist). With "
        "--folds K the test patients are held out first and the others are cut into K folds; the file "
        "describes fold --fold and lists every fold's validation patients under 'folds'.",
    )
    parser.add_argument("dataset_dir", metavar="DATASET_DIR", help="dataset folder holding dataset.json")
    parser.add_argument(
        "--folds", type=int, default=1, metavar="K", help="cross-validation folds (default 1)"
    )
    parser.add_argument("--fold", type=int, default=0, metavar="k", help="fold to write, 0..K-1 (default 0)")
    parser.add_argument(
        "--seed", type=int, default=0, metavar="N", help="seed of the patient shuffle (default 0)"
    )
    parser.add_argument(
        "--proportions",
        type=float,
        nargs=3,
        default=list(DEFAULT_PROPORTIONS),
        metavar=("TRAIN", "VAL", "TEST"),
        help="shares of patients, summing to 1 (default 0.6 0.2 0.2: 12/4/4 of 20 patients)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    datalist = split_dataset(
        args.dataset_dir, proportions=args.proportions, folds=args.folds, fold=args.fold, seed=args.seed
    )
    counts = ", ".join(
        f"{key} {len({e['patient'] for e in datalist[key]})} patients/{len(datalist[key])} cases"
        for key in ("training", "validation", "test")
    )
    print(f"{args.dataset_dir}/datalist.json: fold {args.fold} of {args.folds}, seed {args.seed}: {counts}")
    return 0
