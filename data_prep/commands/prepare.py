"""``python -m data_prep prepare``: a public dataset's own layout -> dataset folder, in one command."""

from __future__ import annotations

import argparse

from ..recipes import RECIPES
from ..recipes._common import DEFAULT_WORKERS


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``prepare`` sub-command with one sub-command per recipe."""
    parser = subparsers.add_parser(
        "prepare",
        help="raw public dataset (CHAOS, MSD, Pancreas-CT, Kvasir-SEG) -> checked dataset folder",
        description="Convert a public dataset, as downloaded, into imagesTr/labelsTr NIfTI + dataset.json "
        "(with patient ids), then write datalist.json (patient-level split) and plan.json (fingerprint). "
        "Everything is built in a temporary folder beside OUT_DIR and renamed when whole; the raw "
        "folder is only read. Run 'prepare RECIPE --help' for a recipe's layout and options.",
    )
    recipes = parser.add_subparsers(dest="recipe", metavar="RECIPE", required=True)
    for recipe in RECIPES.values():
        sub = recipes.add_parser(
            recipe.name,
            help=recipe.help,
            description=recipe.description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument("raw_dir", metavar="RAW_DIR", help="the dataset as downloaded (see above)")
        sub.add_argument("out_dir", metavar="OUT_DIR", help="dataset folder to write")
        sub.add_argument(
            "--overwrite", action="store_true", help="replace OUT_DIR when it already holds files"
        )
        sub.add_argument("--seed", type=int, default=0, help="seed of the patient-level split (default 0)")
        sub.add_argument(
            "--workers",
            type=int,
            default=DEFAULT_WORKERS,
            help=f"worker processes over cases (default {DEFAULT_WORKERS})",
        )
        if recipe.add_arguments is not None:
            recipe.add_arguments(sub)
        sub.set_defaults(func=run, recipe_obj=recipe)
    return parser


def run(args: argparse.Namespace) -> int:
    recipe = args.recipe_obj
    options = {name: getattr(args, name) for name in recipe.option_names}
    if "sequences" in options:
        options["sequences"] = tuple(options["sequences"])
    out = recipe.run(
        args.raw_dir, args.out_dir, overwrite=args.overwrite, seed=args.seed, workers=args.workers, **options
    )
    print(f"{out}: dataset written (dataset.json, datalist.json, plan.json)")
    return 0
