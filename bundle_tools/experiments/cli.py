"""``python -m bundle_tools cv BUNDLE --dataset_dir D --folds K --output DIR [--seed S] [-- overrides]``."""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]

_DESCRIPTION = """\
K-fold cross-validation of a bundle. For each fold k, data_prep's patient-level split (--folds K --fold k
--seed S; the test patients are held out of every fold) is written to OUTPUT/fold_k/datalist.json (the
dataset folder is only read), and the bundle trains and evaluates in OUTPUT/fold_k as its --bundle_root:

  python -m monai.bundle run training --config_file BUNDLE/configs/train.json --dataset_dir D
      --bundle_root OUTPUT/fold_k [overrides after --] --datalist OUTPUT/fold_k/datalist.json

then `run evaluating` (train.json + evaluate.json) on the fold's validation cases. Folds run one after
another, or one per CUDA device when several are visible. Run the same command again to resume: complete
folds (fold_k/fold.json) are skipped, an interrupted training resumes from its checkpoint_latest.pt.

OUTPUT gets oof_metrics.csv (every non-test case once, scored by the fold model that did not train on it:
dice, iou, precision, recall, hd95_mm, assd_mm per case and class, with its fold), oof_summary.csv,
postprocessing.json (largest component per class, kept where it raises the out-of-fold Dice),
ensemble.json (an args file: inference with all fold models) and cv.json. See docs/experiments.md.

Bundle overrides for every fold go after `--`, e.g. `-- --epochs 50 --roi_size "[96,96,64]"`.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``cv`` command to a ``python -m bundle_tools`` parser."""
    from ..tune.cli import _OverridesParser

    parser = subparsers.add_parser(
        "cv",
        help="k-fold cross-validation of a bundle: fold models, out-of-fold metrics, ensemble (resumable)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s BUNDLE --dataset_dir D --folds K --output DIR [--seed S] [-- bundle overrides]",
    )
    parser.__class__ = _OverridesParser  # keeps everything after `--` as args.overrides, as `tune` does
    parser.add_argument("bundle", metavar="BUNDLE", help="the bundle folder (with configs/train.json)")
    parser.add_argument(
        "--dataset_dir", "--dataset-dir", required=True, help="dataset folder (dataset.json, plan.json)"
    )
    parser.add_argument("--folds", type=int, required=True, metavar="K", help="number of folds (2 or more)")
    parser.add_argument("--output", required=True, metavar="DIR", help="the cross-validation's folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the patient split (default 0)")
    parser.set_defaults(func=run, overrides=[])
    return parser


def run(args: argparse.Namespace) -> int:
    """Run (or resume) the cross-validation."""
    from .cv import run_cv

    run_cv(args.bundle, args.dataset_dir, args.folds, args.output, args.overrides, seed=args.seed)
    return 0
