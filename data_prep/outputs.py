"""Where outputs go: paths checked before anything is written, the umask's modes, staged output folders.

Every command checks its output with :func:`check_output_path` (a file where a folder should be, an
unwritable folder: one line naming the path, not an ``OSError`` about a temporary file) and
:func:`refuse_output_onto_input` (no command writes onto what it reads). Folder outputs are built in a
staging folder and swapped in whole by :func:`staged_output_dir`; ``data_prep.io`` re-exports it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import DataPrepError


def _current_umask() -> int:
    """The process umask, read from /proc where it can be (without changing it), else by setting it back."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def umask_file_mode() -> int:
    """``0o666`` less the process umask: the mode ``open`` gives a new file."""
    return 0o666 & ~_current_umask()


def umask_dir_mode() -> int:
    """``0o777`` less the process umask: the mode ``mkdir`` gives a new folder (``mkdtemp`` makes 0700)."""
    return 0o777 & ~_current_umask()


def check_output_path(path: str | os.PathLike, *, folder: bool = False) -> Path:
    """Refuse, naming ``path``, an output that cannot be written; return it as a Path.

    Refused: a file where a folder is to be written or the other way round, an ancestor that is a file,
    and a nearest existing folder without write permission. Checking first turns what would be an
    ``OSError`` deep inside a writer (often naming a temporary file) into one line about the user's path.
    """
    path = Path(path)
    if path.is_dir() and not folder:
        raise DataPrepError(f"{path}: is a folder; the output must be a file")
    if path.exists() and not path.is_dir() and folder:
        raise DataPrepError(f"{path}: is a file; the output must be a folder")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise DataPrepError(f"{path}: cannot be written, {ancestor} is a file, not a folder")
    if ancestor.is_dir() and not os.access(ancestor, os.W_OK | os.X_OK):
        raise DataPrepError(f"{path}: cannot be written, no write permission in {ancestor}")
    return path


def _same_or_inside(path: Path, other: Path) -> bool:
    return path == other or other in path.parents


def refuse_output_onto_input(
    output: str | os.PathLike, inputs: Iterable[str | os.PathLike | None], *, folder: bool = False
) -> None:
    """Refuse an ``output`` that is one of ``inputs``, lies inside an input folder or, for a ``folder``
    output (replaced as a whole with ``--overwrite``), holds an input: no command writes onto what it reads.

    Paths are compared after resolving symbolic links (and by inode where both exist).
    """
    out = Path(output).resolve()
    for given in inputs:
        if given is None:
            continue
        source = Path(given).resolve()
        same = out.exists() and source.exists() and os.path.samefile(out, source)
        if same or _same_or_inside(out, source) or (folder and _same_or_inside(source, out)):
            raise DataPrepError(
                f"{output}: is the input {given}, inside it or holds it; write the output elsewhere "
                "(an input is never overwritten)"
            )


#: a staging (``.partial``) or set-aside (``.old``) folder of :func:`staged_output_dir`: dot, output name, dot,
#: eight characters of ``tempfile``'s alphabet; the strict pattern never matches another output's folders
_SIBLING = r"\.{name}\.[a-z0-9_]{{8}}\.(partial|old)"


def _siblings(final_dir: Path, kind: str) -> list[Path]:
    pattern = re.compile(_SIBLING.format(name=re.escape(final_dir.name)))
    if not final_dir.parent.is_dir():
        return []
    return sorted(
        p for p in final_dir.parent.iterdir() if (m := pattern.fullmatch(p.name)) and m.group(1) == kind
    )


def recover_staged_output(final_dir: str | os.PathLike) -> list[Path]:
    """Clean up after a run of :func:`staged_output_dir` that was killed; return what was removed.

    A killed run can leave its staging folder (``.NAME.xxxxxxxx.partial``) and, when it was killed in the
    instant between setting the old ``final_dir`` aside and renaming the new one in, the old folder under
    ``.NAME.xxxxxxxx.old`` with nothing at ``final_dir``: that folder is whole, so it is renamed back first.
    Call it only where no other process writes ``final_dir``.
    """
    final_dir = Path(final_dir)
    asides = _siblings(final_dir, "old")
    if asides and not final_dir.exists():
        os.rename(asides.pop(), final_dir)
    stale = _siblings(final_dir, "partial") + asides
    for folder in stale:
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
        else:
            folder.unlink(missing_ok=True)
    return stale


def new_staging_dir(final_dir: str | os.PathLike) -> Path:
    """An empty folder ``.NAME.xxxxxxxx.partial`` beside ``final_dir`` with the mode ``mkdir`` gives under the
    umask (``mkdtemp`` makes 0700, which the rename into place would otherwise keep)."""
    final_dir = Path(final_dir)
    staging = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.", suffix=".partial", dir=final_dir.parent))
    os.chmod(staging, umask_dir_mode())
    return staging


def swap_in(staging: Path, final_dir: Path) -> None:
    """Rename the whole ``staging`` folder to ``final_dir``, replacing an old ``final_dir`` without a moment
    where ``final_dir`` is half deleted: the old folder is renamed aside (``.NAME.xxxxxxxx.old``), the new
    one renamed in, then the old one deleted. A failure before the new one is in puts the old one back; a
    kill in between leaves the old one aside, where :func:`recover_staged_output` finds it.
    """
    if not final_dir.exists():
        os.rename(staging, final_dir)
        return
    aside = final_dir.with_name(f".{final_dir.name}.{staging.name[-16:-8]}.old")
    os.rename(final_dir, aside)
    try:
        os.rename(staging, final_dir)
    except BaseException:
        os.rename(aside, final_dir)
        raise
    shutil.rmtree(aside, ignore_errors=True)


@contextlib.contextmanager
def staged_output_dir(final_dir: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``final_dir``; swap it in for ``final_dir`` when the block ends well.

    A folder that already holds files is refused (``DataPrepError``) unless ``overwrite`` is set; a file
    or an unwritable place is refused too (:func:`check_output_path`). What a killed run of the same output
    left is cleaned up first (:func:`recover_staged_output`). On any error the temporary folder is removed
    and ``final_dir`` is left as it was; the replacement itself is :func:`swap_in`. The staging folder and
    everything the project's writers make in it get the modes the umask gives.
    """
    final_dir = check_output_path(final_dir, folder=True)
    recover_staged_output(final_dir)
    if final_dir.exists() and any(final_dir.iterdir()) and not overwrite:
        raise DataPrepError(
            f"{final_dir}: output folder already holds results; choose another or pass --overwrite"
        )
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = new_staging_dir(final_dir)
    try:
        yield staging
        swap_in(staging, final_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
