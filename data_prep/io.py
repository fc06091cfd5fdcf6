"""Reading and writing volumes and JSON, atomically, with errors that name the file.

Every writer goes through a temporary name in the destination folder and an ``os.replace`` when
the content is whole, so an interrupted run never leaves a half-written file that looks complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from data_prep.errors import DataPrepError

NIFTI_SUFFIX = ".nii.gz"


def read_image(path: str | os.PathLike) -> sitk.Image:
    """Read any ITK-readable volume (NIfTI, MHA, NRRD, ...); a bad file raises ``DataPrepError``."""
    path = Path(path)
    if not path.is_file():
        raise DataPrepError(f"{path}: no such file")
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as err:
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else "unreadable"
        raise DataPrepError(f"{path}: cannot be read as an image ({reason})") from None


def _temporary_sibling(path: Path, suffix: str = "") -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    return Path(name)


def write_image(image: sitk.Image, path: str | os.PathLike, compress: bool = True) -> Path:
    """Write ``image`` to ``path`` atomically (the suffix of ``path`` picks the format)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # keep the real suffix at the end of the temporary name: ITK picks the writer by suffix
    suffix = NIFTI_SUFFIX if path.name.endswith(NIFTI_SUFFIX) else path.suffix
    tmp = _temporary_sibling(path, suffix)
    try:
        sitk.WriteImage(image, str(tmp), compress)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_sibling(path)
    try:
        tmp.write_text(json.dumps(obj, indent=2) + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise DataPrepError(f"{path}: no such file")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataPrepError(f"{path}: not valid JSON ({err})") from None


@contextlib.contextmanager
def staged_output_dir(final_dir: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``final_dir``; rename it to ``final_dir`` when the block ends well.

    A folder that already holds files is refused (``DataPrepError``) unless ``overwrite`` is set;
    on any error the temporary folder is removed and ``final_dir`` is left as it was.
    """
    final_dir = Path(final_dir)
    if final_dir.exists() and any(final_dir.iterdir()) and not overwrite:
        raise DataPrepError(f"{final_dir}: output folder already holds results; choose another or pass --overwrite")
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.", suffix=".partial", dir=final_dir.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if final_dir.exists():
        shutil.rmtree(final_dir)
    os.replace(staging, final_dir)
