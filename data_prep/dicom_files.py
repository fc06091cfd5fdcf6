"""Finding DICOM files and series in folders, and reading one slice safely.

GDCM (through SimpleITK's ``ImageSeriesReader``) groups the files of a folder by SeriesInstanceUID; a file it
cannot read is named in the error (:func:`read_slice` on each file), and a slice's declared size is checked
against the file before ITK allocates it (damaged headers can declare gigabytes). Reading a whole series into
a volume is :mod:`data_prep.dicom`.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import SimpleITK as sitk

from .errors import DataPrepError
from .reader_guards import declared_size_problem, one_line

__all__ = [
    "candidate_files",
    "find_series_folders",
    "is_dicom_folder",
    "list_series",
    "read_slice",
    "transfer_syntax",
]

#: transfer syntaxes whose pixel data is stored raw (implicit/explicit VR little endian, explicit big endian)
_RAW_TRANSFER_SYNTAXES = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}
_DEFLATED_TRANSFER_SYNTAX = "1.2.840.10008.1.2.1.99"
#: most bytes one compressed slice may declare (16384 x 16384 x 16 bit); the decoders hold several
#: copies, so the volume cap would let a damaged Rows/Columns exhaust memory
MAX_ENCAPSULATED_SLICE_BYTES = 1 << 29

#: files that sit beside DICOM slices and are not slices
_IGNORED_NAMES = {"DICOMDIR", "Thumbs.db", "desktop.ini"}


def candidate_files(folder: Path) -> list[Path]:
    """The files of ``folder`` that should be DICOM slices (hidden files and DICOMDIR left out)."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name not in _IGNORED_NAMES
    )


def list_series(folder: str | os.PathLike) -> dict[str, list[Path]]:
    """Map every SeriesInstanceUID found in ``folder`` (not its sub-folders) to its files.

    Raises ``DataPrepError`` when the folder does not exist.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataPrepError(f"{folder}: no such folder")
    if not candidate_files(folder):
        return {}
    try:
        uids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
        return {
            uid: [Path(f) for f in sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid)]
            for uid in uids
        }
    except RuntimeError as err:
        _name_broken_file(folder, err)
        raise  # unreachable: _name_broken_file always raises


def _name_broken_file(folder: Path, err: RuntimeError) -> None:
    """GDCM's series scan failed on some file of ``folder``: raise ``DataPrepError`` naming it when it
    can be found (the first file that cannot be read on its own), else naming the folder."""
    for path in candidate_files(folder):
        read_slice(path)
    raise DataPrepError(f"{folder}: GDCM cannot sort the files into series ({one_line(err)})")


def find_series_folders(root: str | os.PathLike) -> list[Path]:
    """Every folder under ``root`` (``root`` included) that holds at least one DICOM series, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise DataPrepError(f"{root}: no such folder")
    found = []
    for dirpath, dirnames, _ in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if is_dicom_folder(dirpath):
            found.append(Path(dirpath))
    return sorted(found)


def transfer_syntax(path: Path) -> str:
    """TransferSyntaxUID (0002,0010) of a DICOM file's meta header, or ``""`` when there is none to read."""
    with open(path, "rb") as f:
        head = f.read(8192)
    if head[128:132] != b"DICM":
        return ""
    pos = 132
    while pos + 8 <= len(head):
        group, element = struct.unpack_from("<HH", head, pos)
        if group != 0x0002:
            return ""
        vr = head[pos + 4 : pos + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT", b"UC", b"UR"):
            if pos + 12 > len(head):
                return ""
            length, start = struct.unpack_from("<I", head, pos + 8)[0], pos + 12
        else:
            length, start = struct.unpack_from("<H", head, pos + 6)[0], pos + 8
        if element == 0x0010:
            return head[start : start + length].decode("ascii", "replace").strip("\x00 ")
        pos = start + length
    return ""


def read_slice(path: Path) -> sitk.Image:
    """Read one DICOM file; its declared size is checked against the file before ITK allocates it."""
    reader = sitk.ImageFileReader()
    reader.SetImageIO("GDCMImageIO")
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        raise DataPrepError(f"{path}: not a DICOM file, or truncated (cannot be read)") from None
    declared = math.prod(reader.GetSize()) * reader.GetNumberOfComponents() * _bytes_per_component(reader)
    syntax, stored = transfer_syntax(path), path.stat().st_size
    if syntax in _RAW_TRANSFER_SYNTAXES or syntax == _DEFLATED_TRANSFER_SYNTAX:
        problem = declared_size_problem(declared, stored, compressed=syntax == _DEFLATED_TRANSFER_SYNTAX)
    else:  # JPEG, JPEG 2000, RLE, or no syntax to read: no ratio bound, only a cap on one slice
        problem = declared_size_problem(declared, MAX_ENCAPSULATED_SLICE_BYTES, compressed=False)
    if problem:
        raise DataPrepError(f"{path}: not a DICOM file, or truncated ({problem.replace('voxels', 'pixels')})")
    try:
        return reader.Execute()
    except (RuntimeError, MemoryError):
        raise DataPrepError(f"{path}: not a DICOM file, or truncated (cannot be read)") from None


def _bytes_per_component(reader: sitk.ImageFileReader) -> int:
    """Bytes of one pixel component of the pixel type ``reader`` announces (8 when unknown)."""
    name = sitk.GetPixelIDValueAsString(reader.GetPixelID())
    for bits in ("8", "16", "32", "64"):
        if f" {bits}-bit" in f" {name}":
            return int(bits) // 8
    return 8


def is_dicom_folder(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` directly holds at least one DICOM series."""
    folder = Path(folder)
    if not (folder.is_dir() and candidate_files(folder)):
        return False
    try:
        return bool(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))
    except RuntimeError as err:
        _name_broken_file(folder, err)
        raise  # unreachable: _name_broken_file always raises
