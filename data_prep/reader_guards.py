"""Checks a reader makes before it hands a file to ITK, GDCM or Pillow, and one-line error reasons.

A damaged header can declare a volume of terabytes in a file of a few hundred bytes. ITK allocates the
declared size before it reads a voxel (and, for an uncompressed NIfTI, pads a short file silently with
whatever the buffer held); MetaIO overruns its fixed arrays on ``NDims = 100`` and aborts the process.
So the header of NIfTI, MetaImage and NRRD files is parsed here first, and the declared voxel bytes are
compared with what the file can hold: the bytes after the header for raw data, the compressed size times
deflate's largest ratio (1032:1) for gzip/zlib data, and :data:`MAX_DECLARED_BYTES` in any case. A
header this module cannot parse is left for the library to refuse.

Example::

    check_volume_header(Path("scan.nii.gz"))  # DataPrepError: scan.nii.gz: cannot be read as an image (header declares ...)
"""

from __future__ import annotations

import gzip
import math
import re
import struct
import zlib
from pathlib import Path

from .errors import DataPrepError

#: largest voxel data a header may declare (larger than any volume the bundles train on)
MAX_DECLARED_BYTES = 8 << 30
#: deflate's largest compression ratio (RFC 1951 blocks cannot do better than about 1032:1)
MAX_DEFLATE_RATIO = 1032
#: dimensions ITK's readers handle (MetaIO's fixed arrays hold 10; SimpleITK reads up to 5)
MAX_DIMENSIONS = 5

#: NIfTI datatype code -> bytes per voxel
_NIFTI_BYTES = {
    2: 1, 4: 2, 8: 4, 16: 4, 32: 8, 64: 8, 128: 3, 256: 1, 512: 2, 768: 4, 1024: 8, 1280: 8,
    1536: 16, 1792: 16, 2048: 32, 2304: 4,
}  # fmt: skip
#: MetaImage element type -> bytes per component
_MET_BYTES = {
    "MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4, "MET_UINT": 4,
    "MET_LONG": 4, "MET_ULONG": 4, "MET_LONG_LONG": 8, "MET_ULONG_LONG": 8, "MET_FLOAT": 4,
    "MET_DOUBLE": 8,
}  # fmt: skip
#: NRRD type (first word, lower case) -> bytes per voxel
_NRRD_BYTES = {
    "signed char": 1, "int8": 1, "int8_t": 1, "uchar": 1, "unsigned char": 1, "uint8": 1, "uint8_t": 1,
    "short": 2, "short int": 2, "signed short": 2, "signed short int": 2, "int16": 2, "int16_t": 2,
    "ushort": 2, "unsigned short": 2, "unsigned short int": 2, "uint16": 2, "uint16_t": 2,
    "int": 4, "signed int": 4, "int32": 4, "int32_t": 4, "uint": 4, "unsigned int": 4, "uint32": 4,
    "uint32_t": 4, "longlong": 8, "long long": 8, "long long int": 8, "signed long long": 8,
    "signed long long int": 8, "int64": 8, "int64_t": 8, "ulonglong": 8, "unsigned long long": 8,
    "unsigned long long int": 8, "uint64": 8, "uint64_t": 8, "float": 4, "double": 8,
}  # fmt: skip


def one_line(text: object, default: str = "unreadable") -> str:
    """The last non-empty line of a library's message (ITK puts the reason last), or ``default``."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[-1] if lines else default


def declared_size_problem(declared: int, available: int, compressed: bool) -> str | None:
    """Why ``declared`` bytes of voxels cannot come from ``available`` stored bytes, or None when they can."""
    limit = available * MAX_DEFLATE_RATIO if compressed else available
    if declared > MAX_DECLARED_BYTES:
        return f"header declares {declared} bytes of voxels, more than the {MAX_DECLARED_BYTES} accepted"
    if declared > limit:
        kind = "compressed data" if compressed else "data"
        return (
            f"header declares {declared} bytes of voxels but the file holds {available} bytes of {kind}: "
            "truncated file or damaged header"
        )
    return None


def _refuse(path: Path, problem: str) -> None:
    """Raise the error ``read_image`` raises for a file ITK cannot read, with ``problem`` as the reason."""
    raise DataPrepError(f"{path}: cannot be read as an image ({problem})")


def check_declared_bytes(path: Path, declared: int, available: int, compressed: bool) -> None:
    """Refuse (``DataPrepError``) a header whose voxel data cannot come from ``available`` stored bytes."""
    problem = declared_size_problem(declared, available, compressed)
    if problem:
        _refuse(path, problem)


def _product(values: list[int]) -> int:
    return math.prod(values) if values else 0


def _check_nifti(path: Path, gz: bool) -> None:
    try:
        opener = gzip.open if gz else open
        with opener(path, "rb") as f:
            header = f.read(540)
    except (OSError, EOFError, zlib.error):
        return  # not gzip at all, or damaged: ITK says so
    if len(header) < 348:
        _refuse(path, f"NIfTI header truncated ({len(header)} of 348 bytes)")
    for endian in "<>":
        size = struct.unpack_from(endian + "i", header, 0)[0]
        if size in (348, 540):
            break
    else:
        return  # not NIfTI-1/2: ITK decides
    if size == 348:
        dims = list(struct.unpack_from(endian + "8h", header, 40))
        datatype = struct.unpack_from(endian + "h", header, 70)[0]
        vox_offset = struct.unpack_from(endian + "f", header, 108)[0]
    elif len(header) == 540:
        datatype = struct.unpack_from(endian + "h", header, 12)[0]
        dims = list(struct.unpack_from(endian + "8q", header, 16))
        vox_offset = float(struct.unpack_from(endian + "q", header, 168)[0])
    else:
        _refuse(path, f"NIfTI-2 header truncated ({len(header)} of 540 bytes)")
    ndim = dims[0]
    if not 1 <= ndim <= 7:
        _refuse(path, f"NIfTI dim[0] is {ndim}; 1 to 7 expected")
    sizes = dims[1 : ndim + 1]
    if min(sizes) < 1:
        _refuse(path, f"NIfTI dim {sizes} holds a size below 1")
    if datatype not in _NIFTI_BYTES:
        return  # ITK names the unknown datatype
    if not math.isfinite(vox_offset) or vox_offset < 0:
        _refuse(path, f"NIfTI vox_offset {vox_offset} is not a valid offset")
    declared = _product(sizes) * _NIFTI_BYTES[datatype]
    stored = path.stat().st_size
    if path.name.lower().endswith(".hdr"):
        return  # data in the .img beside it; ITK checks its size
    check_declared_bytes(path, declared, max(stored - (0 if gz else int(vox_offset)), 0), compressed=gz)


def _text_header(path: Path, limit: int = 1 << 16) -> bytes:
    with open(path, "rb") as f:
        return f.read(limit)


def _check_metaimage(path: Path) -> None:
    head = _text_header(path)
    fields: dict[str, str] = {}
    end = len(head)
    for match in re.finditer(rb"^[ \t]*([A-Za-z0-9_]+)[ \t]*=[ \t]*([^\r\n]*)\r?\n?", head, re.M):
        key, value = match.group(1).decode("ascii"), match.group(2).decode("latin-1").strip()
        fields[key] = value
        if key == "ElementDataFile":
            end = match.end()
            break
    if "NDims" not in fields:
        return

    def ints(key: str) -> list[int]:
        try:
            return [int(v) for v in fields.get(key, "").split()]
        except ValueError:
            _refuse(path, f"MetaImage {key} = {fields[key]!r} is not whole numbers")

    ndims = ints("NDims")
    if len(ndims) != 1 or not 1 <= ndims[0] <= MAX_DIMENSIONS:
        _refuse(path, f"MetaImage NDims = {fields['NDims']!r}; 1 to {MAX_DIMENSIONS} expected")
    sizes = ints("DimSize")
    if len(sizes) != ndims[0] or min(sizes, default=0) < 1:
        _refuse(
            path,
            f"MetaImage DimSize = {fields.get('DimSize', '')!r} should be {ndims[0]} sizes of at least 1",
        )
    channels = ints("ElementNumberOfChannels") if "ElementNumberOfChannels" in fields else [1]
    if len(channels) != 1 or channels[0] < 1:
        _refuse(path, f"MetaImage ElementNumberOfChannels = {fields['ElementNumberOfChannels']!r}")
    element = fields.get("ElementType", "")
    if element not in _MET_BYTES:
        return  # ITK names the unknown type
    declared = _product(sizes) * channels[0] * _MET_BYTES[element]
    compressed = fields.get("CompressedData", "False").lower() == "true"
    data_file = fields.get("ElementDataFile", "")
    if data_file == "LOCAL":
        available = path.stat().st_size - end
    elif data_file and " " not in data_file and "%" not in data_file and data_file != "LIST":
        data_path = path.parent / data_file
        if not data_path.is_file():
            return  # ITK names the missing data file
        available = data_path.stat().st_size
    else:
        available = MAX_DECLARED_BYTES  # a list or pattern of files: only the absolute cap applies
        compressed = False
    check_declared_bytes(path, declared, available, compressed)


def _check_nrrd(path: Path) -> None:
    head = _text_header(path)
    if not head.startswith(b"NRRD"):
        return
    blank = re.search(rb"\r?\n\r?\n", head)
    end = blank.end() if blank else len(head)
    fields: dict[str, str] = {}
    for line in head[:end].decode("latin-1").splitlines()[1:]:
        if ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.lstrip("=").strip()
    try:
        ndim = int(fields.get("dimension", ""))
        sizes = [int(v) for v in fields.get("sizes", "").split()]
    except ValueError:
        _refuse(path, "NRRD dimension or sizes are not whole numbers")
    if not 1 <= ndim <= 16 or len(sizes) != ndim or min(sizes) < 1:
        _refuse(
            path,
            f"NRRD dimension {ndim} with sizes {fields.get('sizes', '')!r}; as many sizes of at least 1 expected",
        )
    per_voxel = _NRRD_BYTES.get(fields.get("type", "").lower())
    if per_voxel is None:
        return
    encoding = fields.get("encoding", "raw").lower()
    if "data file" in fields or "datafile" in fields or encoding not in ("raw", "gzip", "gz"):
        available, compressed = MAX_DECLARED_BYTES, False  # detached or text data: only the cap applies
    else:
        available, compressed = path.stat().st_size - end, encoding != "raw"
    check_declared_bytes(path, _product(sizes) * per_voxel, available, compressed)


def check_volume_header(path: Path) -> None:
    """Refuse a NIfTI, MetaImage or NRRD file whose header declares what the file cannot hold.

    Other formats, and headers too damaged to parse, pass through (the library refuses them).

    Raises:
        DataPrepError: a header size (dims, dimension count, declared bytes) that cannot be right.
    """
    name = path.name.lower()
    try:
        if name.endswith((".nii", ".hdr")):
            _check_nifti(path, gz=False)
        elif name.endswith(".nii.gz"):
            _check_nifti(path, gz=True)
        elif name.endswith((".mha", ".mhd")):
            _check_metaimage(path)
        elif name.endswith((".nrrd", ".nhdr")):
            _check_nrrd(path)
    except OSError as err:
        _refuse(path, one_line(err.strerror or err))
