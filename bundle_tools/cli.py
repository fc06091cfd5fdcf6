"""One command-line entry for the bundle tools, in the pattern of ``python -m data_prep``.

Each command lives in its own module that exposes ``add_parser(subparsers)`` (registers the sub-command,
its help and its arguments, and sets ``func``). ``main`` turns the project's errors into one line on
stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from data_prep.errors import DataPrepError

#: command modules, in the order ``--help`` lists them
COMMAND_MODULES = (
    "bundle_tools.export.cli",
    "bundle_tools.metrics.folders",
    "bundle_tools.config.compose",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bundle_tools",
        description="Tools around the bundles: export trained bundles, score prediction folders, write the bundles' configs.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (DataPrepError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
