"""A DICOM series as the source of a segmentation: its volume, and the record a DICOM SEG must reference.

:func:`data_prep.dicom.read_dicom_series` reads the voxels and the geometry (slices ordered along the
normal, even gaps, one size and orientation). A DICOM SEG needs more of the series than that: the SOP
instance of every slice (the SEG references each one), its Frame of Reference (the SEG shares its patient
coordinates), and the study it belongs to (the SEG joins that study). :func:`read_source_series` reads
every slice's header with pydicom first, so a missing or odd tag is refused with the tag's name and the
file (``s07.dcm: no ImagePositionPatient (0020,0032); ...``) before any volume is read, and returns a
:class:`SourceSeries` (a JSON-able record, slice order kept) beside the volume.

"Mixed series" are slices of one SeriesInstanceUID that disagree on what must be one value for a volume
and its SEG: the study, the Frame of Reference, the modality, the SOP class; they are refused naming the
first file that differs.

Example::

    source, image = read_source_series("CT/p01", for_seg=True)
    source.sop_instance_uids[0]   # the slice with the lowest position along the normal
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import SimpleITK as sitk

from .dicom import read_dicom_series
from .dicom_files import list_series
from .errors import DataPrepError

if TYPE_CHECKING:  # pydicom is imported when a header is read: inference without DICOM does not need it
    import pydicom

__all__ = ["SourceSeries", "read_headers", "read_source_series"]

#: tags every slice needs to be placed in space: keyword -> (tag, number of values, why)
GEOMETRY_TAGS = {
    "ImagePositionPatient": ("(0020,0032)", 3, "the slice cannot be placed in space"),
    "ImageOrientationPatient": ("(0020,0037)", 6, "the slice cannot be placed in space"),
    "PixelSpacing": ("(0028,0030)", 2, "the pixel size is unknown"),
}
#: tags a DICOM SEG copies or references: keyword -> (tag, why)
SEG_TAGS = {
    "SOPClassUID": ("(0008,0016)", "a DICOM SEG references each source instance by it"),
    "SOPInstanceUID": ("(0008,0018)", "a DICOM SEG references each source instance by it"),
    "StudyInstanceUID": ("(0020,000D)", "a DICOM SEG joins the study of its source"),
    "FrameOfReferenceUID": (
        "(0020,0052)",
        "a DICOM SEG shares the patient coordinates of its source through it",
    ),
}
#: tags that must hold one value across the slices of a series
SAME_IN_SERIES = ("StudyInstanceUID", "FrameOfReferenceUID", "Modality", "SOPClassUID")


@dataclass
class SourceSeries:
    """What a DICOM SEG needs of its source series, slices in the order of the volume's z axis.

    Attributes:
        folder: the folder the series was read from.
        series_uid: SeriesInstanceUID.
        files: the slice files, by increasing position along the slice normal (the volume's z index).
        sop_instance_uids: SOPInstanceUID of each file, same order.
        frame_of_reference_uid, study_uid: FrameOfReferenceUID and StudyInstanceUID (empty when not read
            for a SEG and absent).
        series_number: SeriesNumber of the source (0 when absent).
        size, spacing, origin, direction: the volume's grid (ITK/LPS: x = columns, y = rows, z = slices).
    """

    folder: str
    series_uid: str
    files: list[str]
    sop_instance_uids: list[str]
    frame_of_reference_uid: str
    study_uid: str
    series_number: int
    size: list[int]
    spacing: list[float]
    origin: list[float]
    direction: list[float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceSeries:
        return cls(**data)

    def headers(self) -> list[pydicom.Dataset]:
        """The slices' headers (pixel data left out), in slice order."""
        return read_headers([Path(f) for f in self.files], for_seg=True)


def _read_header(path: Path) -> pydicom.Dataset:
    import pydicom

    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as err:  # pydicom raises many kinds on a damaged file
        raise DataPrepError(f"{path}: not a DICOM file, or truncated ({type(err).__name__})") from None


def _check_geometry_tags(ds: pydicom.Dataset, path: Path) -> None:
    for keyword, (tag, count, why) in GEOMETRY_TAGS.items():
        value = ds.get(keyword)
        if value is None or value == "" or (hasattr(value, "__len__") and len(value) == 0):
            raise DataPrepError(f"{path}: no {keyword} {tag}; {why}")
        values = list(value) if isinstance(value, list | tuple) or hasattr(value, "append") else [value]
        try:
            ok = len(values) == count and all(float(v) == float(v) for v in values)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise DataPrepError(f"{path}: {keyword} {tag} should hold {count} numbers, found {value!r}")


def _check_seg_tags(ds: pydicom.Dataset, path: Path) -> None:
    for keyword, (tag, why) in SEG_TAGS.items():
        if not str(ds.get(keyword, "")).strip():
            raise DataPrepError(f"{path}: no {keyword} {tag}; {why}")


def read_headers(files: list[Path], *, for_seg: bool) -> list[pydicom.Dataset]:
    """Every file's header, checked: the geometry tags always, the SEG tags when ``for_seg``, and one value
    of :data:`SAME_IN_SERIES` across the files (a mixed series is an error naming the first odd file)."""
    headers = []
    for path in files:
        ds = _read_header(path)
        _check_geometry_tags(ds, path)
        if for_seg:
            _check_seg_tags(ds, path)
        headers.append(ds)
    for keyword in SAME_IN_SERIES:  # the odd file is the one that differs from most others
        values = [str(ds.get(keyword, "")) for ds in headers]
        common = Counter(values).most_common(1)[0][0]
        odd = next((i for i, v in enumerate(values) if v != common), None)
        if odd is not None:
            raise DataPrepError(
                f"{files[odd]}: mixed series: {keyword} {values[odd]!r} differs from {values.count(common)} other "
                f"files' ({common!r}) within SeriesInstanceUID {headers[odd].get('SeriesInstanceUID', '')}"
            )
    return headers


def read_source_series(
    folder: str | os.PathLike, series_uid: str | None = None, *, for_seg: bool = False
) -> tuple[SourceSeries, sitk.Image]:
    """Read the series ``series_uid`` of ``folder`` (the only one when None) and its record.

    Args:
        folder: the folder that holds the slices (sub-folders are not searched).
        series_uid: the series to read when the folder holds several.
        for_seg: also require what a DICOM SEG needs (:data:`SEG_TAGS`).

    Raises:
        DataPrepError: a missing or malformed tag (named, with the file), a mixed series, and everything
            :func:`data_prep.dicom.read_dicom_series` refuses (truncated file, missing slice, ...).
    """
    folder = Path(folder)
    groups = list_series(folder)
    if series_uid is None and len(groups) == 1:
        series_uid = next(iter(groups))
    files = groups.get(series_uid or "", [])  # no such series: read_dicom_series names what is wrong
    headers = {p.resolve(): ds for p, ds in zip(files, read_headers(files, for_seg=for_seg) if files else [])}
    series = read_dicom_series(folder, series_uid)
    ordered = [headers[Path(p).resolve()] for p in series.files]
    first = ordered[0]
    image = series.image
    record = SourceSeries(
        folder=str(folder),
        series_uid=series.series_uid,
        files=[str(p) for p in series.files],
        sop_instance_uids=[str(ds.get("SOPInstanceUID", "")) for ds in ordered],
        frame_of_reference_uid=str(first.get("FrameOfReferenceUID", "")),
        study_uid=str(first.get("StudyInstanceUID", "")),
        series_number=int(first.get("SeriesNumber", 0) or 0),
        size=[int(v) for v in image.GetSize()],
        spacing=[float(v) for v in image.GetSpacing()],
        origin=[float(v) for v in image.GetOrigin()],
        direction=[float(v) for v in image.GetDirection()],
    )
    return record, image
