"""One command-line entry for every data preparation step.

Each command lives in its own module that exposes ``add_parser(subparsers)`` (registers the
sub-command, its help and its arguments, and sets ``func``). ``main`` turns bad input and a bad place to
write (:func:`data_prep.errors.user_error_message`) into one line on stderr and exit code 1; ``--debug`` or
``SEG3D_DEBUG=1`` shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from .errors import DataPrepError, user_error_message

#: set to 1 to see the traceback of any error, as ``--debug`` does
DEBUG_ENV = "SEG3D_DEBUG"

#: command modules, in the order ``--help`` lists them
COMMAND_MODULES = tuple(
    f"{__package__}.commands.{name}"
    for name in ("convert", "remap_labels", "validate", "split", "analyze", "synth", "prepare")
)


def command_parser(prog: str, description: str, modules: Sequence[str]) -> argparse.ArgumentParser:
    """A parser whose sub-commands are registered by ``add_parser(subparsers)`` of each of ``modules``
    (the project's one command-line pattern: ``python -m data_prep``, ``python -m bundle_tools``)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"on an error, raise it with its full traceback instead of one line (also {DEBUG_ENV}=1)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in modules:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def run_command(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    errors: tuple[type[Exception], ...] = (),
) -> int:
    """Parse ``argv`` and run the chosen command.

    An error with a :func:`~data_prep.errors.user_error_message` (the project's errors, an ``OSError``
    naming its file, bad JSON), or one of ``errors``, becomes ``error: <file>: <problem>`` on stderr and
    exit code 1; any other error keeps its traceback. With ``--debug`` or ``SEG3D_DEBUG=1`` every error
    is raised as it is.
    """
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False) or os.environ.get(DEBUG_ENV, "") == "1"
    try:
        return int(args.func(args) or 0)
    except Exception as err:
        message = user_error_message(err)
        if message is None and isinstance(err, errors):
            message = " ".join(str(err).split()) or type(err).__name__
        if debug or message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
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
