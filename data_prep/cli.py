"""One command-line entry for every data preparation step.

Each command lives in its own module that exposes ``add_parser(subparsers)`` (registers the
sub-command, its help and its arguments, and sets ``func``) . ``main`` turns a
:class:`data_prep.errors.DataPrepError` into a one-line message on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

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


def command_parser(prog: str, description: str, modules: Sequence[str]) -> argparse.ArgumentParser:
    """A parser whose sub-commands are registered by ``add_parser(subparsers)`` of each of ``modules``
    (the project's one command-line pattern: ``python -m data_prep``, ``python -m bundle_tools``)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in modules:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def run_command(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, errors: tuple[type[Exception], ...]
) -> int:
    """Parse ``argv`` and run the chosen command; one of ``errors`` becomes ``error: ...`` on stderr, exit 1."""
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except errors as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    return command_parser(
        "python -m data_prep",
        "From raw medical datasets (DICOM series, PNG/JPG slice masks, NIfTI/MHA/NRRD, MSD task folders) to "
        "checked NIfTI datasets, patient-level splits (datalist.json) and a data fingerprint (plan.json) that "
        "the bundles read.",
        COMMAND_MODULES,
    )


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), argv, (DataPrepError,))
