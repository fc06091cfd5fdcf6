"""Reading and writing volumes and JSON, atomically, with errors that name the file.

Every writer goes through a temporary name in the destination folder and an ``os.replace`` when
the content is whole, so an interrupted run never leaves a half-written file that looks complete.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from .errors import DataPrepError
from .json_files import read_json as read_json  # the one JSON reader
from .outputs import check_output_path
from .outputs import staged_output_dir as staged_output_dir  # the one folder stager
from .outputs import umask_file_mode as umask_file_mode
from .reader_guards import check_volume_header, one_line

NIFTI_SUFFIX = ".nii.gz"


def read_image(path: str | os.PathLike) -> sitk.Image:
    """Read any ITK-readable volume (NIfTI, MHA, NRRD, ...); a bad file raises ``DataPrepError``.

    The header is checked first (:func:`data_prep.reader_guards.check_volume_header`), so a damaged one
    is refused before ITK allocates what it declares; a volume whose geometry is not finite is refused
    too, as no writer or resampler can use it.
    """
    path = Path(path)
    if not path.is_file():
        raise DataPrepError(f"{path}: no such file")
    check_volume_header(path)  # a damaged header must not make ITK allocate terabytes or abort
    try:
        image = sitk.ReadImage(str(path))
    except (RuntimeError, MemoryError, OSError) as err:
        raise DataPrepError(f"{path}: cannot be read as an image ({one_line(err)})") from None
    geometry = (*image.GetSpacing(), *image.GetOrigin(), *image.GetDirection())
    if not all(math.isfinite(v) for v in geometry) or min(image.GetSpacing()) <= 0:
        raise DataPrepError(
            f"{path}: spacing, origin or direction is not finite and positive (damaged header)"
        )
    return image


def count_non_finite(path: str | os.PathLike, image: sitk.Image) -> int:
    """NaN and infinite voxels of a float image; NIfTI is read with nibabel, as ITK turns NaN into 0."""
    if image.GetPixelID() not in (
        sitk.sitkFloat32,
        sitk.sitkFloat64,
        sitk.sitkVectorFloat32,
        sitk.sitkVectorFloat64,
    ):
        return 0
    path = Path(path)
    if path.name.endswith((".nii", ".nii.gz")):
        import nibabel as nib  # only for float NIfTI files

        array = np.asanyarray(nib.load(str(path)).dataobj)
    else:
        array = sitk.GetArrayViewFromImage(image)
    return int(np.count_nonzero(~np.isfinite(array)))


def _temporary_sibling(path: Path, suffix: str = "") -> Path:
    """An empty temporary file beside ``path`` with the mode a new file gets under the umask (``mkstemp``
    makes it 0600, which the rename into place would otherwise keep)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    try:
        os.fchmod(fd, umask_file_mode())
    finally:
        os.close(fd)
    return Path(name)


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary siblings :func:`atomic_write` left for ``path`` when a run was killed mid-write;
    return them. Call it only where no other process is writing ``path``."""
    path = Path(path)
    stale = sorted(path.parent.glob(f".{path.name}.*.tmp*"))
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write; rename it onto ``path`` when the block ends well.

    The one atomic writer of the project (volumes, JSON, CSV, pictures, checkpoints): the folder is made,
    the temporary file gets the mode the umask gives, and on any error it is removed and ``path`` is left
    as it was.

    Args:
        path: the file to write.
        suffix: kept at the end of the temporary name (ITK picks its writer by suffix).
    """
    path = check_output_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_sibling(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_image(image: sitk.Image, path: str | os.PathLike, compress: bool = True) -> Path:
    """Write ``image`` to ``path`` atomically (the suffix of ``path`` picks the format)."""
    path = Path(path)
    suffix = NIFTI_SUFFIX if path.name.endswith(NIFTI_SUFFIX) else path.suffix
    with atomic_write(path, suffix) as tmp:
        sitk.WriteImage(image, str(tmp), compress)
    return path


def write_bytes(data: bytes, path: str | os.PathLike) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(text.encode("utf-8"), path)


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return write_text(json.dumps(obj, indent=2) + "\n", path)


def image_from_array(
    array: np.ndarray,
    spacing: tuple[float, ...],
    origin: tuple[float, ...] = (0.0, 0.0, 0.0),
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
) -> sitk.Image:
    """ITK image from an ``(x, y, z)`` array, or a 4D one from ``(x, y, z, C)`` (MSD's multi-channel layout).

    ``spacing``, ``origin`` (3 values) and ``direction`` (9 values, row-major) are the 3D geometry;
    the channel axis of a 4D image gets spacing 1 and origin 0, as NIfTI stores it.
    """
    if array.ndim not in (3, 4):
        raise ValueError(f"expected an (x, y, z) or (x, y, z, C) array, got shape {array.shape}")
    image = sitk.GetImageFromArray(np.ascontiguousarray(array.T), isVector=False)
    if array.ndim == 3:
        image.SetSpacing(tuple(float(s) for s in spacing))
        image.SetOrigin(tuple(float(o) for o in origin))
        image.SetDirection(tuple(float(d) for d in direction))
    else:
        image.SetSpacing((*(float(s) for s in spacing), 1.0))
        image.SetOrigin((*(float(o) for o in origin), 0.0))
        d = [float(v) for v in direction]
        image.SetDirection((*d[0:3], 0.0, *d[3:6], 0.0, *d[6:9], 0.0, 0.0, 0.0, 0.0, 1.0))
    return image


def array_from_image(image: sitk.Image) -> np.ndarray:
    """Voxels of an ITK image as ``(x, y, z)``, or ``(x, y, z, C)`` for a 4D or vector image (a copy)."""
    array = sitk.GetArrayFromImage(image)  # (z, y, x), (C, z, y, x) or vector (z, y, x, C)
    if image.GetNumberOfComponentsPerPixel() > 1:
        return np.ascontiguousarray(np.moveaxis(array, -1, 0).T)
    return np.ascontiguousarray(array.T)


def spatial_geometry(image: sitk.Image) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """``(spacing, origin, direction)`` of the first three (spatial) axes; direction is 9 values, row-major."""
    dim = image.GetDimension()
    direction = image.GetDirection()
    rows = [direction[r * dim : r * dim + 3] for r in range(3)]
    return tuple(image.GetSpacing()[:3]), tuple(image.GetOrigin()[:3]), tuple(v for row in rows for v in row)
