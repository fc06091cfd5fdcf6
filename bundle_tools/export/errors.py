"""The error of the exporter and the staging of its outputs (nothing is written unless the export succeeds).

The staging folder is data_prep's (:func:`data_prep.outputs.new_staging_dir`): the umask's mode, and what a
killed export of the same destination left is removed by the next one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from data_prep.errors import DataPrepError
from data_prep.outputs import check_output_path, new_staging_dir, recover_staged_output

__all__ = ["ExportError", "check_destination", "staged_outputs"]


class ExportError(DataPrepError):
    """An export that cannot be done; the message names the file and the problem (a ``DataPrepError``, so
    command lines and hooks print it as one line, :func:`data_prep.errors.user_error_message`)."""


def _check_free(paths: Sequence[Path]) -> None:
    for path in paths:
        if path.exists() or path.is_symlink():
            raise ExportError(f"{path}: already exists; choose a new destination (nothing was written)")


def check_destination(dest: str | os.PathLike, extra: Sequence[str] = ()) -> None:
    """Refuse, before any work, a destination the export could not be moved to: ``dest`` or a
    ``dest + suffix`` of ``extra`` exists, a folder above ``dest`` is a file, or it is not writable."""
    dest = Path(dest)
    _check_free([dest, *(dest.with_name(dest.name + suffix) for suffix in extra)])
    try:
        check_output_path(dest, folder=True)
    except DataPrepError as err:
        raise ExportError(str(err)) from None


@contextmanager
def staged_outputs(
    dest: str | os.PathLike, extra: Sequence[str] = ()
) -> Iterator[tuple[Path, dict[str, Path]]]:
    """Build an export in a temporary folder beside ``dest`` and move it into place when it is whole.

    Yields ``(staging folder, {suffix: staging file})``: the folder becomes ``dest``; each staging file
    becomes ``dest`` + suffix (e.g. ``".zip"``). ``dest`` and every ``dest + suffix`` must not exist. On any
    error the staging files and the parent folders this call created are removed, so nothing is left.

    Args:
        dest: the folder to create.
        extra: suffixes of files written next to ``dest`` (``dest.name + suffix``).
    """
    dest = Path(dest).absolute()
    targets = {suffix: dest.with_name(dest.name + suffix) for suffix in extra}
    check_destination(dest, extra)
    created: list[Path] = []
    parent = dest.parent
    while not parent.exists():
        created.append(parent)
        parent = parent.parent
    for folder in reversed(created):
        folder.mkdir()
    recover_staged_output(dest)
    files = {suffix: dest.with_name(f".{dest.name}{suffix}.partial") for suffix in extra}
    for path in files.values():  # left by a killed export of the same destination
        path.unlink(missing_ok=True)
    staging = new_staging_dir(dest)
    try:
        yield staging, files
        _check_free([dest, *targets.values()])
        os.rename(staging, dest)
        for suffix, path in files.items():
            os.replace(path, targets[suffix])
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for path in files.values():
            path.unlink(missing_ok=True)
        for folder in created:
            try:
                folder.rmdir()
            except OSError:
                break
        raise
