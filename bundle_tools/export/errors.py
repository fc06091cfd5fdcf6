"""The error of the exporter and the staging of its outputs (nothing is written unless the export succeeds)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

__all__ = ["ExportError", "staged_outputs"]


class ExportError(Exception):
    """An export that cannot be done; the message names the file and the problem."""


def _check_free(paths: Sequence[Path]) -> None:
    for path in paths:
        if path.exists() or path.is_symlink():
            raise ExportError(f"{path}: already exists; choose a new destination (nothing was written)")


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
    _check_free([dest, *targets.values()])
    created: list[Path] = []
    parent = dest.parent
    while not parent.exists():
        created.append(parent)
        parent = parent.parent
    for folder in reversed(created):
        folder.mkdir()
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    files = {suffix: dest.with_name(f".{dest.name}{suffix}.partial") for suffix in extra}
    try:
        yield staging, files
        _check_free([dest, *targets.values()])
        os.chmod(staging, 0o755)
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
