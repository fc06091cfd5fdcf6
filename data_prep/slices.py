"""A stack of 2D slice files (PNG, JPEG, TIFF) -> one volume with a real geometry.

Slices are stacked in natural order of their names (``IMG-0001-00002`` before ``IMG-0001-00010``,
``slice2`` before ``slice10``) or in the order of a given list. A 2D picture has no position in
space, so the geometry comes from a reference DICOM series (same slice count, same rows and
columns; when every slice is named after a DICOM file, e.g. ``IMG-0004-00012.png`` beside
``IMG-0004-00012.dcm``, the slice goes where the series reader put that DICOM file, whatever the
name order) or from a spacing that the user gives.

Pixel ``(row r, column c)`` of slice ``k`` becomes voxel ``(x=c, y=r, z=k)``, the same mapping a
DICOM pixel array has, so a mask drawn on a DICOM slice lands on the voxel it was drawn on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from PIL import Image, UnidentifiedImageError

from .dicom import DicomSeries
from .errors import DataPrepError
from .reader_guards import one_line

SLICE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
#: most pixels a slice picture may declare (8192 x 8192, far beyond any scanner or endoscope); checked
#: before Pillow allocates them, since a damaged header can declare gigapixels in a file of 100 bytes
#: (Pillow itself refuses only above 2 x 89 M pixels, with its own error type)
MAX_SLICE_PIXELS = 1 << 26

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers by value: ``a2`` < ``a10``, ``IMG-0001-00002`` < ``IMG-0001-00010``."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in _DIGITS.split(name)
    )


def list_slice_files(folder: str | os.PathLike) -> list[Path]:
    """The slice pictures of ``folder`` (PNG/JPEG/TIFF/BMP, hidden files left out) in natural order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataPrepError(f"{folder}: no such folder")
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in SLICE_SUFFIXES
    ]
    return sorted(files, key=lambda p: natural_key(p.name))


def read_slice_list(list_file: str | os.PathLike, base_dir: str | os.PathLike | None = None) -> list[Path]:
    """Read a text file naming one slice per line (blank lines and ``#`` comments skipped).

    Relative names are taken relative to ``base_dir`` (default: the list file's folder).
    """
    list_file = Path(list_file)
    if not list_file.is_file():
        raise DataPrepError(f"{list_file}: no such file")
    base = Path(base_dir) if base_dir is not None else list_file.parent
    names = [line.strip() for line in list_file.read_text(encoding="utf-8").splitlines()]
    files = [Path(n) if Path(n).is_absolute() else base / n for n in names if n and not n.startswith("#")]
    if not files:
        raise DataPrepError(f"{list_file}: names no slice files")
    return files


def read_slice_picture(path: str | os.PathLike) -> np.ndarray:
    """Read one 2D picture as a (rows, cols) array; a colour picture must be grey (equal channels)."""
    path = Path(path)
    if not path.is_file():
        raise DataPrepError(f"{path}: no such file")
    array = decode_picture(path)
    if array.ndim == 3:
        colour = array[..., :3] if array.shape[-1] >= 3 else array[..., :1]
        if not (colour == colour[..., :1]).all():
            raise DataPrepError(
                f"{path}: colour picture ({array.shape[-1]} channels) in a slice stack; grey expected"
            )
        array = colour[..., 0]
    if array.ndim != 2:
        raise DataPrepError(f"{path}: expected a 2D picture, found shape {array.shape}")
    return array


def decode_picture(path: Path, mode: str | None = None) -> np.ndarray:
    """Decode one picture with Pillow (converted to ``mode`` when given); any decoding failure is a
    ``DataPrepError`` naming the file.

    Pillow's plugins raise whatever their parser meets on a damaged file (``OSError``, ``SyntaxError``,
    ``ValueError``, ``struct.error``, ``zlib.error``, ``EOFError``, ``DecompressionBombError``, ...), so
    every exception of the decoding step is taken as a bad file. The declared size is checked against
    :data:`MAX_SLICE_PIXELS` before the pixels are allocated.
    """
    try:
        with Image.open(path) as picture:
            width, height = picture.size
            if width * height > MAX_SLICE_PIXELS:
                raise DataPrepError(
                    f"{path}: header declares {width}x{height} pixels, more than the {MAX_SLICE_PIXELS} "
                    "accepted (damaged file?)"
                )
            picture.load()
            return np.asarray(picture.convert(mode) if mode else picture)
    except DataPrepError:
        raise
    except UnidentifiedImageError:
        raise DataPrepError(f"{path}: cannot be read as a picture (not a known picture format)") from None
    except Exception as err:  # noqa: BLE001 - see the docstring: a damaged picture raises anything
        raise DataPrepError(
            f"{path}: cannot be read as a picture ({type(err).__name__}: {one_line(err, 'damaged')})"
        ) from None


def order_by_series(slice_files: Sequence[Path], series: DicomSeries) -> list[Path] | None:
    """Put ``slice_files`` in the slice order of ``series`` by matching file stems.

    Returns None when no slice is named after a DICOM file (the caller keeps its own order);
    raises ``DataPrepError`` when only some are, or when a DICOM slice has no picture.
    """
    by_stem = {Path(f).stem: Path(f) for f in slice_files}
    dicom_stems = [p.stem for p in series.files]
    matched = [s for s in dicom_stems if s in by_stem]
    if not matched:
        return None
    unmatched = sorted(set(by_stem) - set(dicom_stems), key=natural_key)
    if unmatched:
        raise DataPrepError(
            f"{by_stem[unmatched[0]]}: no DICOM slice of the same name in the reference series "
            f"({len(unmatched)} slice file(s) unmatched)"
        )
    missing = [s for s in dicom_stems if s not in by_stem]
    if missing:
        raise DataPrepError(
            f"{series.files[dicom_stems.index(missing[0])]}: no slice picture named {missing[0]}.* "
            f"({len(slice_files)} slice files for {len(series.files)} DICOM slices)"
        )
    return [by_stem[s] for s in dicom_stems]


def read_slice_stack(
    files: Sequence[str | os.PathLike],
    *,
    reference: DicomSeries | sitk.Image | None = None,
    spacing: Sequence[float] | None = None,
    match_by_name: bool = True,
) -> sitk.Image:
    """Stack 2D slice pictures, in the given order, into a volume.

    Args:
        files: the slice files, first slice first.
        reference: a DICOM series (or any 3D image) that gives the geometry; it must have as many
            slices as ``files`` and the same rows and columns. With a DICOM series and
            ``match_by_name``, slices named after the series' files are put in the series' order.
        spacing: (x, y, z) spacing in mm when there is no reference; origin 0, identity direction.
        match_by_name: see ``reference``.

    Raises:
        DataPrepError: no files, an unreadable picture, slices of different sizes, or a slice
            count or size that differs from the reference (the message names both).
    """
    files = [Path(f) for f in files]
    if not files:
        raise DataPrepError("no slice files given")
    if reference is None and spacing is None:
        raise DataPrepError(f"{files[0].parent}: a slice stack needs a reference DICOM series or a spacing")
    if reference is not None and spacing is not None:
        raise DataPrepError("give either a reference series or a spacing, not both")

    ref_image = reference.image if isinstance(reference, DicomSeries) else reference
    ref_name = str(reference.files[0].parent) if isinstance(reference, DicomSeries) else "the reference image"
    if isinstance(reference, DicomSeries) and match_by_name:
        files = order_by_series(files, reference) or files

    expected = None  # (rows, cols) every slice must have
    if ref_image is not None:
        if ref_image.GetDimension() != 3:
            raise DataPrepError(
                f"{ref_name}: reference must be a 3D volume, found {ref_image.GetDimension()}D"
            )
        ref_size = ref_image.GetSize()
        if len(files) != ref_size[2]:
            raise DataPrepError(
                f"{files[0].parent}: {len(files)} slice files but {ref_name} has {ref_size[2]} slices"
            )
        expected = (ref_size[1], ref_size[0])
    arrays = []
    for path in files:
        array = read_slice_picture(path)
        if expected is not None and array.shape != expected:
            raise DataPrepError(
                f"{path}: {array.shape[1]}x{array.shape[0]} slice but the slices of {ref_name} are "
                f"{expected[1]}x{expected[0]} (cols x rows)"
            )
        if arrays and array.shape != arrays[0].shape:
            raise DataPrepError(
                f"{path}: {array.shape[1]}x{array.shape[0]} pixels (cols x rows) but {files[0].name} "
                f"has {arrays[0].shape[1]}x{arrays[0].shape[0]}"
            )
        arrays.append(array)
    volume = np.stack(arrays, axis=0)  # (z, rows, cols)

    image = sitk.GetImageFromArray(volume)
    if ref_image is not None:
        image.SetSpacing(ref_image.GetSpacing())
        image.SetOrigin(ref_image.GetOrigin())
        image.SetDirection(ref_image.GetDirection())
    else:
        if len(spacing) != 3 or min(spacing) <= 0:
            raise DataPrepError(f"spacing must be three positive numbers (x y z), got {list(spacing)}")
        image.SetSpacing(tuple(float(s) for s in spacing))
    return image
