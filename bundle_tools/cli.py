"""One command-line entry for the bundle tools, in the pattern of ``python -m data_prep``.

Each command lives in its own module that exposes ``add_parser(subparsers)`` (registers the sub-command,
its help and its arguments, and sets ``func``). ``main`` turns the project's errors into one line on
stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from data_prep.cli import command_parser, run_command
from data_prep.errors import DataPrepError

#: command modules, in the order ``--help`` lists them
COMMAND_MODULES = tuple(
    f"{__package__}.{name}"
    for name in (
        "export.cli",
        "metrics.folders",
        "config.compose",
        "tune.cli",
        "experiments.cli",
        "experiments.compare",
    )
)


def build_parser() -> argparse.ArgumentParser:
    return command_parser(
        "python -m bundle_tools",
        "Tools around the bundles: export trained bundles, score prediction folders, write the bundles' configs.",
        COMMAND_MODULES,
    )


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return run_command(build_parser(), argv, (DataPrepError, ValueError))
