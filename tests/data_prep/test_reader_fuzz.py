"""Damaged inputs (truncations, byte flips, header edits) make the readers and commands fail cleanly.

Property: whatever is done to a valid DICOM slice, PNG/JPEG picture or NIfTI/MHA volume, the reader
either reads it or raises ``DataPrepError`` with one line that names the file; ``python -m data_prep
convert`` exits 0, or 1 with one ``error: ...`` line naming the input, and then leaves nothing in its
output folder (no partial file, no ``.tmp``/``.partial``); ``validate`` reports, never crashes.

CI runs a few examples per property, derandomized (the same ones every run); ``SEG3D_FUZZ_EXAMPLES=2000``
runs more (``benchmarks/fuzz_readers.py`` does, and records the result in ``docs/reliability.md``).
"""

from __future__ import annotations

import collections
import contextlib
import gzip
import io
import json
import os
import re
import shutil
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from data_prep.cli import main
from data_prep.dicom import read_dicom_series
from data_prep.errors import DataPrepError
from data_prep.io import image_from_array, read_image
from data_prep.slices import read_slice_picture
from data_prep.synth.dicom_series import make_uid, write_dicom_series

#: examples per property: few in CI, more when the benchmark script asks
EXAMPLES = int(os.environ.get("SEG3D_FUZZ_EXAMPLES", "12"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("SEG3D_FUZZ_RANDOM", "") == "",  # CI: the same examples every run
    database=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)

# ---------------------------------------------------------------------------------------------- corpus


def _nifti(folder: Path, name: str, compress: bool) -> Path:
    volume = np.arange(8 * 8 * 4, dtype=np.int16).reshape(8, 8, 4)
    image = image_from_array(volume, (1.0, 1.5, 2.0), (-3.0, 4.0, 5.0))
    sitk.WriteImage(image, str(folder / name), compress)
    return folder / name


def _dicom(folder: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    return write_dicom_series(
        rng.integers(0, 1000, (8, 8, 3)).astype(np.uint16),
        folder,
        spacing=(1.0, 1.25, 2.0),
        origin=(0.0, 0.0, 0.0),
        direction=(1, 0, 0, 0, 1, 0, 0, 0, 1),
        file_names=[f"IMG-{k + 1:04d}.dcm" for k in range(3)],
        patient_id="p01",
        study_uid=make_uid(rng),
        series_uid=make_uid(rng),
        rng=rng,
    )


def _picture(folder: Path, name: str) -> Path:
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (16, 16)).astype(np.uint8)).save(folder / name)
    return folder / name


def build_corpus(folder: Path) -> dict[str, bytes]:
    """The valid files every example damages: name -> bytes (DICOM slices under ``dicom/``)."""
    (folder / "dicom").mkdir()
    files = [_nifti(folder, "v.nii", False), _nifti(folder, "v.nii.gz", True), _nifti(folder, "v.mha", False)]
    files += [_picture(folder, "s.png"), _picture(folder, "s.jpg"), *_dicom(folder / "dicom")]
    return {str(p.relative_to(folder)): p.read_bytes() for p in files}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, bytes]:
    """:func:`build_corpus` once per module."""
    return build_corpus(tmp_path_factory.mktemp("corpus"))


@contextlib.contextmanager
def workspace() -> Iterator[Path]:
    """A fresh folder per example (hypothesis runs many examples in one test call)."""
    root = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -------------------------------------------------------------------------------------------- mutations


@st.composite
def truncate_or_flip(draw, data: bytes, header: int) -> bytes:
    """Cut the file at a random offset, or set/flip a few bytes (mostly within the first ``header`` bytes)."""
    if draw(st.booleans()):
        return data[: draw(st.integers(0, len(data) - 1))]
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, min(header, len(out)) - 1) | st.integers(0, len(out) - 1))
        out[at] = (
            draw(st.integers(0, 255)) if draw(st.booleans()) else out[at] ^ (1 << draw(st.integers(0, 7)))
        )
    return bytes(out)


_SHORTS = st.sampled_from([0, 1, -1, 2, 3, 4, 7, 8, 255, 256, 1024, 2048, 32767, -32768]) | st.integers(
    -32768, 32767
)
_FLOATS = st.floats(width=32, allow_nan=True, allow_infinity=True)
#: NIfTI-1 header fields: name -> (offset, struct format, count, values)
_NIFTI_FIELDS = {
    "sizeof_hdr": (0, "i", 1, st.sampled_from([0, 1, 347, 349, 540, 2**31 - 1])),
    "dim": (40, "h", 8, _SHORTS),
    "datatype": (70, "h", 1, _SHORTS),
    "bitpix": (72, "h", 1, _SHORTS),
    "pixdim": (76, "f", 8, _FLOATS),
    "vox_offset": (108, "f", 1, _FLOATS | st.sampled_from([0.0, 351.0, 352.0, 1e9])),
    "scl_slope": (112, "f", 1, _FLOATS),
    "scl_inter": (116, "f", 1, _FLOATS),
    "qform_code": (252, "h", 1, _SHORTS),
    "sform_code": (254, "h", 1, _SHORTS),
    "quatern_b..qoffset_z": (256, "f", 6, _FLOATS),
    "srow_x..srow_z": (280, "f", 12, _FLOATS),
}


@st.composite
def nifti_header_edit(draw, data: bytes) -> bytes:
    """Set 1-3 header fields (dim, pixdim, datatype, vox_offset, qform/sform ...) to drawn values."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        offset, fmt, count, values = _NIFTI_FIELDS[draw(st.sampled_from(sorted(_NIFTI_FIELDS)))]
        index = draw(st.integers(0, count - 1))
        struct.pack_into("<" + fmt, out, offset + index * struct.calcsize(fmt), draw(values))
    return bytes(out)


def nifti_gz_mutation(data: bytes) -> st.SearchStrategy[bytes]:
    """A header edit or byte flip of the uncompressed stream, recompressed; or damage to the gzip bytes."""
    raw = gzip.decompress(data)
    recompressed = st.one_of(nifti_header_edit(raw), truncate_or_flip(raw, 352)).map(gzip.compress)
    return st.one_of(recompressed, truncate_or_flip(data, 64))


_MHA_VALUES = st.sampled_from(
    ["", "0", "-1", "1", "3", "9", "100", "8 8", "8 8 4 2", "100000 100000 100000", "1e9 8 4", "nan nan nan",
     "x", "MET_FOO", "MET_DOUBLE", "True", "False", "LOCAL", "missing.raw", "1 0 0 0 1 0 0 0 1", "0 0 0 0 0 0 0 0 0"]
) | st.text(alphabet="0123456789 -.eEx", max_size=24)  # fmt: skip


@st.composite
def mha_header_edit(draw, data: bytes) -> bytes:
    """Give a MetaImage header line (NDims, DimSize, ElementType, ...) another value, or drop it."""
    header_end = data.index(b"ElementDataFile")
    lines = data[:header_end].decode("latin-1").splitlines(keepends=True)
    index = draw(st.integers(0, len(lines) - 1))
    key = lines[index].split("=")[0].strip()
    lines[index] = "" if draw(st.booleans()) and key != "NDims" else f"{key} = {draw(_MHA_VALUES)}\n"
    return "".join(lines).encode("latin-1") + data[header_end:]


@st.composite
def png_header_edit(draw, data: bytes) -> bytes:
    """Edit IHDR (width, height, bit depth, colour type, compression, filter, interlace), with or without
    a matching CRC, or break the CRC of another chunk."""
    out = bytearray(data)
    if draw(st.booleans()):
        field = draw(
            st.sampled_from([(16, ">I"), (20, ">I"), (24, "B"), (25, "B"), (26, "B"), (27, "B"), (28, "B")])
        )
        limit = 2**32 - 1 if field[1] == ">I" else 255
        value = draw(
            st.sampled_from([0, 1, 2, 3, 4, 6, 16, 17, 30000, 2**31 - 1, limit]) | st.integers(0, limit)
        )
        struct.pack_into(field[1], out, field[0], min(value, limit))
        if draw(st.booleans()):
            struct.pack_into(">I", out, 29, zlib.crc32(bytes(out[12:29])))
    else:
        crcs, pos = [], 8
        while pos + 8 <= len(out):
            (length,) = struct.unpack_from(">I", out, pos)
            crcs.append(pos + 8 + length)
            pos += 12 + length
        at = draw(st.sampled_from([c for c in crcs if c + 4 <= len(out)]))
        out[at + draw(st.integers(0, 3))] ^= 0xFF
    return bytes(out)


@st.composite
def jpeg_header_edit(draw, data: bytes) -> bytes:
    """Edit the frame header (SOF0: precision, height, width, components)."""
    out = bytearray(data)
    sof = data.index(b"\xff\xc0")
    offset, fmt = draw(st.sampled_from([(sof + 4, "B"), (sof + 5, ">H"), (sof + 7, ">H"), (sof + 9, "B")]))
    limit = 255 if fmt == "B" else 65535
    struct.pack_into(
        fmt, out, offset, draw(st.sampled_from([0, 1, 3, 12, 16, limit]) | st.integers(0, limit))
    )
    return bytes(out)


# DICOM: group 0002 is explicit VR little endian; the data set GDCM writes here is implicit VR little endian
_LONG_VRS = {b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"OD", b"OL", b"OV", b"UC", b"UR", b"SV", b"UV"}


def parse_dicom(data: bytes) -> tuple[bytes, list[tuple[tuple[int, int], bytes | None, bytes]]]:
    """Preamble + ``DICM``, and the elements ``(tag, vr, value)`` (vr None in the implicit-VR data set)."""
    pos, elements = 132, []
    while pos < len(data):
        group, element = struct.unpack_from("<HH", data, pos)
        vr = data[pos + 4 : pos + 6] if group == 2 else None
        if vr is None:
            length, start = struct.unpack_from("<I", data, pos + 4)[0], pos + 8
        elif vr in _LONG_VRS:
            length, start = struct.unpack_from("<I", data, pos + 8)[0], pos + 12
        else:
            length, start = struct.unpack_from("<H", data, pos + 6)[0], pos + 8
        elements.append(((group, element), vr, data[start : start + length]))
        pos = start + length
    return data[:132], elements


def build_dicom(head: bytes, elements: list[tuple[tuple[int, int], bytes | None, bytes]]) -> bytes:
    """The file of :func:`parse_dicom`'s parts, with the meta group length recomputed."""

    def encode(tag: tuple[int, int], vr: bytes | None, value: bytes) -> bytes:
        if len(value) % 2:
            value += b"\0" if vr in (b"UI", b"OB") else b" "
        if vr is None:
            return struct.pack("<HHI", *tag, len(value)) + value
        if vr in _LONG_VRS:
            return struct.pack("<HH2sHI", *tag, vr, 0, len(value)) + value
        return struct.pack("<HH2sH", *tag, vr, len(value)) + value

    meta = b"".join(encode(*e) for e in elements if e[0][0] == 2 and e[0][1] != 0)
    rest = b"".join(encode(*e) for e in elements if e[0][0] != 2)
    return head + encode((2, 0), b"UL", struct.pack("<I", len(meta))) + meta + rest


_US = st.sampled_from([0, 1, 2, 3, 4, 7, 8, 12, 16, 32, 64, 4096, 65535]) | st.integers(0, 65535)
_DS = st.sampled_from(
    ["", "0", "1", "-1", "nan", "inf", "1e308", "x", "0\\0", "-1\\-1", "1\\2", "nan\\nan\\nan", "1e308\\0\\0",
     "0\\0\\0\\0\\0\\0", "1\\0\\0\\1\\0\\0", "2\\0\\0\\0\\2\\0", "a\\b\\c"]
) | st.text(alphabet="0123456789\\.-e", max_size=40)  # fmt: skip
#: tag -> values it may take (US tags as 16-bit numbers, strings as text)
_DICOM_TAGS = {
    (0x0028, 0x0010): _US,  # Rows
    (0x0028, 0x0011): _US,  # Columns
    (0x0028, 0x0100): _US,  # BitsAllocated
    (0x0028, 0x0101): _US,  # BitsStored
    (0x0028, 0x0102): _US,  # HighBit
    (0x0028, 0x0103): _US,  # PixelRepresentation
    (0x0028, 0x0002): _US,  # SamplesPerPixel
    (0x0028, 0x0004): st.sampled_from(["MONOCHROME1", "RGB", "YBR_FULL", "PALETTE COLOR", "garbage", ""]),
    (0x0028, 0x0030): _DS,  # PixelSpacing
    (0x0020, 0x0032): _DS,  # ImagePositionPatient
    (0x0020, 0x0037): _DS,  # ImageOrientationPatient
    (0x0020, 0x000E): st.sampled_from(["", "1.2.3", "x"]),  # SeriesInstanceUID
    # TransferSyntaxUID: implicit/explicit little endian, deflated, unknown (big endian and JPEG syntaxes
    # make GDCM spend seconds per file: left to the long run)
    (0x0002, 0x0010): st.sampled_from(
        ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99", "1.2.3.4", "garbage", ""]
    ),
    (0x7FE0, 0x0010): st.sampled_from([b"", b"\0" * 7, b"\0" * 4000]),  # PixelData
}
if EXAMPLES > 100:  # the long run also tries the slow transfer syntaxes
    _DICOM_TAGS[(0x0002, 0x0010)] = _DICOM_TAGS[(0x0002, 0x0010)] | st.sampled_from(
        ["1.2.840.10008.1.2.2", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.5"]
    )


@st.composite
def dicom_header_edit(draw, data: bytes) -> bytes:
    """Remove 1-2 tags (ImagePositionPatient, PixelSpacing, Rows, BitsAllocated, TransferSyntaxUID ...)
    or give them other values."""
    head, elements = parse_dicom(data)
    for _ in range(draw(st.integers(1, 2))):
        tag = draw(st.sampled_from(sorted(_DICOM_TAGS)))
        if draw(st.booleans()):
            elements = [e for e in elements if e[0] != tag]
            continue
        value = draw(_DICOM_TAGS[tag])
        encoded = struct.pack("<H", value) if isinstance(value, int) else value
        encoded = encoded.encode("ascii") if isinstance(encoded, str) else encoded
        elements = [(t, vr, encoded if t == tag else v) for t, vr, v in elements]
    return build_dicom(head, elements)


def damaged(name: str, data: bytes) -> st.SearchStrategy[bytes]:
    """Every mutation that fits the file ``name``."""
    if name.endswith(".nii"):
        return st.one_of(truncate_or_flip(data, 352), nifti_header_edit(data))
    if name.endswith(".nii.gz"):
        return nifti_gz_mutation(data)
    if name.endswith(".mha"):
        return st.one_of(truncate_or_flip(data, data.index(b"ElementDataFile") + 24), mha_header_edit(data))
    if name.endswith(".png"):
        return st.one_of(truncate_or_flip(data, 64), png_header_edit(data))
    if name.endswith(".jpg"):
        return st.one_of(truncate_or_flip(data, 700), jpeg_header_edit(data))
    if name.endswith(".dcm"):
        return st.one_of(truncate_or_flip(data, len(data) - 128), dicom_header_edit(data))
    raise ValueError(name)


# ------------------------------------------------------------------------------------------ properties


#: what the examples did ("read" or "refused" per reader), for the benchmark's report
OUTCOMES: collections.Counter[str] = collections.Counter()


def assert_clean_error(err: DataPrepError, root: Path) -> None:
    """One line that starts with a path inside the example's folder."""
    message = str(err)
    assert "\n" not in message, message
    assert message.startswith(str(root)), message


def run_cli(argv: list[str]) -> tuple[int, str]:
    """``python -m data_prep ARGV`` in-process: (exit code, stderr); SystemExit is a failure here."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, stderr.getvalue()


def assert_convert_clean(source: Path, out_dir: Path) -> None:
    """``convert SOURCE OUT/x.nii.gz``: success with only the output, or one error line and nothing left."""
    code, stderr = run_cli(["convert", str(source), str(out_dir / "x.nii.gz")])
    left = sorted(p.name for p in out_dir.iterdir()) if out_dir.exists() else []
    if code == 0:
        assert left == ["x.nii.gz"], left
        read_image(out_dir / "x.nii.gz")
    else:
        assert code == 1
        assert re.fullmatch(r"error: [^\n]+\n", stderr), stderr
        assert str(source) in stderr, stderr
        assert left == [], f"left behind: {left}"


def check_volume(corpus: dict[str, bytes], name: str, data: bytes) -> None:
    with workspace() as root:
        path = root / "in" / name
        path.parent.mkdir()
        path.write_bytes(data)
        try:
            read_image(path)
            OUTCOMES["volume read"] += 1
        except DataPrepError as err:
            assert_clean_error(err, root)
            OUTCOMES["volume refused"] += 1
        assert_convert_clean(path, root / "out")


def check_picture(corpus: dict[str, bytes], name: str, data: bytes) -> None:
    with workspace() as root:
        folder = root / "in"
        folder.mkdir()
        for k in range(3):  # a 3-slice stack; the middle slice is the damaged one
            (folder / f"s{k}{Path(name).suffix}").write_bytes(data if k == 1 else corpus[name])
        try:
            read_slice_picture(folder / f"s1{Path(name).suffix}")
            OUTCOMES["picture read"] += 1
        except DataPrepError as err:
            assert_clean_error(err, root)
            OUTCOMES["picture refused"] += 1
        code, stderr = run_cli(
            ["convert", str(folder), str(root / "out" / "x.nii.gz"), "--spacing", "1", "1", "2"]
        )
        left = sorted(p.name for p in (root / "out").iterdir()) if (root / "out").exists() else []
        if code == 1:
            assert re.fullmatch(r"error: [^\n]+\n", stderr) and str(folder) in stderr, stderr
            assert left == [], left
        else:
            assert code == 0 and left == ["x.nii.gz"], (code, left)


def check_dicom(corpus: dict[str, bytes], victim: str, data: bytes) -> None:
    with workspace() as root:
        folder = root / "dicom"
        folder.mkdir()
        for name, original in corpus.items():
            if name.startswith("dicom/"):
                (root / name).write_bytes(data if name == victim else original)
        try:
            read_dicom_series(folder)
            OUTCOMES["dicom read"] += 1
        except DataPrepError as err:
            assert_clean_error(err, root)
            OUTCOMES["dicom refused"] += 1
        assert_convert_clean(folder, root / "out")


def _names(corpus_names: list[str], suffix: str) -> list[str]:
    return [n for n in corpus_names if n.endswith(suffix)]


_CORPUS_NAMES = ["v.nii", "v.nii.gz", "v.mha", "s.png", "s.jpg"] + [
    f"dicom/IMG-{k:04d}.dcm" for k in (1, 2, 3)
]


def _case(corpus: dict[str, bytes], names: list[str]) -> st.SearchStrategy[tuple[str, bytes]]:
    return st.sampled_from(names).flatmap(lambda n: damaged(n, corpus[n]).map(lambda d: (n, d)))


@FUZZ
@given(data=st.data())
def test_damaged_nifti_is_read_or_refused_with_its_name(corpus, data):
    name, damaged_bytes = data.draw(_case(corpus, ["v.nii", "v.nii.gz"]))
    check_volume(corpus, name, damaged_bytes)


@FUZZ
@given(data=st.data())
def test_damaged_mha_is_read_or_refused_with_its_name(corpus, data):
    name, damaged_bytes = data.draw(_case(corpus, ["v.mha"]))
    check_volume(corpus, name, damaged_bytes)


@FUZZ
@given(data=st.data())
def test_damaged_slice_picture_is_read_or_refused_with_its_name(corpus, data):
    name, damaged_bytes = data.draw(_case(corpus, ["s.png", "s.jpg"]))
    check_picture(corpus, name, damaged_bytes)


@FUZZ
@given(data=st.data())
def test_damaged_dicom_slice_is_read_or_refused_with_its_name(corpus, data):
    name, damaged_bytes = data.draw(_case(corpus, _names(_CORPUS_NAMES, ".dcm")))
    check_dicom(corpus, name, damaged_bytes)


@FUZZ
@given(data=st.data())
def test_validate_reports_a_damaged_volume_and_writes_nothing(corpus, data):
    which, damaged_bytes = data.draw(
        st.sampled_from(["imagesTr", "labelsTr"]).flatmap(
            lambda w: damaged("v.nii.gz", corpus["v.nii.gz"]).map(lambda d: (w, d))
        )
    )
    with workspace() as root:
        for folder in ("imagesTr", "labelsTr"):
            (root / folder).mkdir()
            (root / folder / "c1.nii.gz").write_bytes(
                damaged_bytes if folder == which else corpus["v.nii.gz"]
            )
        label = sitk.ReadImage(str(root / "labelsTr" / "c1.nii.gz")) if which == "imagesTr" else None
        if label is not None:  # a valid label: values 0/1 so only the damaged image can be wrong
            sitk.WriteImage(sitk.Cast(label > 100, sitk.sitkUInt8), str(root / "labelsTr" / "c1.nii.gz"))
        manifest = {
            "name": "fuzz", "description": "", "labels": {"0": "background", "1": "x"}, "modality": {"0": "MR"},
            "numTraining": 1, "numTest": 0, "test": [],
            "training": [{"image": "imagesTr/c1.nii.gz", "label": "labelsTr/c1.nii.gz", "patient": "p1"}],
        }  # fmt: skip
        (root / "dataset.json").write_text(json.dumps(manifest))
        before = sorted(p.relative_to(root) for p in root.rglob("*"))
        code, stderr = run_cli(["validate", str(root), "--workers", "1"])
        assert code in (0, 1), stderr
        OUTCOMES[f"validate exit {code}"] += 1
        if code == 1:
            assert all(
                line.startswith(str(root)) or line.startswith(("imagesTr/", "labelsTr/", "error: "))
                for line in stderr.splitlines()
            ), stderr
        assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_absurd_declared_sizes_are_refused_before_allocation(tmp_path, corpus):
    """Headers that declare gigabytes in a small file are refused by the header check, not by ITK or Pillow."""
    nifti = bytearray(gzip.decompress(corpus["v.nii.gz"]))
    struct.pack_into("<4h", nifti, 40, 3, 30000, 30000, 30000)
    (tmp_path / "big.nii.gz").write_bytes(gzip.compress(bytes(nifti)))
    struct.pack_into("<4h", nifti, 40, 3, 300, 300, 300)  # 54 MB declared in a file of 864 bytes
    (tmp_path / "big.nii").write_bytes(bytes(nifti))
    mha = corpus["v.mha"].replace(b"NDims = 3", b"NDims = 100")  # MetaIO overruns its arrays: abort
    (tmp_path / "dims.mha").write_bytes(mha)
    for name, reason in (("big.nii.gz", "more than"), ("big.nii", "file holds"), ("dims.mha", "NDims")):
        with pytest.raises(DataPrepError, match=rf"{name}: cannot be read as an image \(.*{reason}"):
            read_image(tmp_path / name)
    png = bytearray(corpus["s.png"])
    struct.pack_into(">II", png, 16, 10_000, 10_000)
    struct.pack_into(">I", png, 29, zlib.crc32(bytes(png[12:29])))  # a consistent IHDR: Pillow opens it
    (tmp_path / "big.png").write_bytes(bytes(png))
    with (
        pytest.warns(Image.DecompressionBombWarning),  # Pillow only warns at this size
        pytest.raises(DataPrepError, match=r"big\.png: header declares 10000x10000 pixels"),
    ):
        read_slice_picture(tmp_path / "big.png")


def test_truncated_uncompressed_nifti_is_refused_not_padded(tmp_path, corpus):
    """ITK reads a .nii cut short without complaint (the missing voxels are whatever memory held)."""
    (tmp_path / "cut.nii").write_bytes(corpus["v.nii"][:-10])
    with pytest.raises(DataPrepError, match=r"cut\.nii: cannot be read as an image \(.*truncated"):
        read_image(tmp_path / "cut.nii")


def _dicom_edit(corpus: dict[str, bytes], tmp_path: Path, tag: tuple[int, int], value: bytes) -> Path:
    folder = tmp_path / "dicom"
    folder.mkdir()
    for name, original in corpus.items():
        if name.startswith("dicom/"):
            (tmp_path / name).write_bytes(original)
    head, elements = parse_dicom(corpus["dicom/IMG-0002.dcm"])
    elements = [(t, vr, value if t == tag else v) for t, vr, v in elements]
    (folder / "IMG-0002.dcm").write_bytes(build_dicom(head, elements))
    return folder


@pytest.mark.parametrize(
    ("tag", "value", "message"),
    [
        (
            (0x0028, 0x0002),
            struct.pack("<H", 0),
            r"IMG-0001\.dcm|IMG-0002\.dcm|cannot sort",
        ),  # SamplesPerPixel
        ((0x0028, 0x0004), b"RGB ", r"IMG-0002\.dcm: 3 samples per pixel"),  # PhotometricInterpretation
        ((0x0020, 0x0032), b"nan\\nan\\nan ", r"IMG-0002\.dcm: tag 0020\|0032 should hold 3 finite"),
        ((0x0028, 0x0010), struct.pack("<H", 65535), r"IMG-0002\.dcm: not a DICOM file, or truncated"),
    ],
)
def test_dicom_header_edits_that_leaked_library_errors_are_named(tmp_path, corpus, tag, value, message):
    folder = _dicom_edit(corpus, tmp_path, tag, value)
    with pytest.raises(DataPrepError, match=message):
        read_dicom_series(folder)


def test_round_trip_of_the_dicom_byte_editor(corpus):
    """The test's DICOM editor rebuilds an unedited file byte for byte (so an edit changes only its tag)."""
    data = corpus["dicom/IMG-0001.dcm"]
    assert build_dicom(*parse_dicom(data)) == data


# the same properties, driven by benchmarks/fuzz_readers.py with more examples
PROPERTIES: dict[str, Callable[..., None]] = {
    "nifti": test_damaged_nifti_is_read_or_refused_with_its_name,
    "mha": test_damaged_mha_is_read_or_refused_with_its_name,
    "png/jpg": test_damaged_slice_picture_is_read_or_refused_with_its_name,
    "dicom": test_damaged_dicom_slice_is_read_or_refused_with_its_name,
    "validate": test_validate_reports_a_damaged_volume_and_writes_nothing,
}
