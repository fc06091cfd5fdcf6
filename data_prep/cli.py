"""One command-line entry for every data preparation step.

Each command lives in its own module that exposes ``add_parser(subparsers)`` (registers the
sub-command, its help and its arguments, and sets ``func``) . ``main`` turns a
:class:`data_prep.errors.DataPrepError` into a one-line message on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from data_prep.errors import DataPrepError

#: command modules, in the order ``--help`` lists them
COMMAND_MODULES = (
    "data_prep.commands.convert",
    "data_prep.commands.remap_labels",
    "data_prep.commands.validate",
    "data_prep.commands.split",
    "data_prep.commands.analyze",
    "data_prep.commands.synth",
    "data_prep.commands.prepare",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m data_prep",
        description="From raw medical datasets (DICOM series, PNG/JPG slice masks, NIfTI/MHA/NRRD, MSD "
        "task folders) to checked NIfTI datasets, patient-level splits (datalist.json) and a data "
        "fingerprint (plan.json) that the bundles read.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DataPrepError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
