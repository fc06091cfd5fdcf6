"""Reading one DICOM series into a volume, with the checks a scanner export needs.

GDCM (through SimpleITK's ``ImageSeriesReader``) groups the files of a folder by
SeriesInstanceUID. Every file of the chosen series is then read on its own, so that a truncated or
non-DICOM file is named in the error instead of failing the whole read deep inside ITK, and the
slices are ordered by their position along the slice normal (``ImagePositionPatient`` projected on
the cross product of the two ``ImageOrientationPatient`` cosines), never by file name. The gaps
between consecutive slices must be even: a missing slice or an irregular gap is refused, since a
volume with one spacing cannot represent it.

Example::

    series = read_dicom_series("MR/p01/T2SPIR/DICOM_anon")
    series.image          # SimpleITK image: spacing, origin and direction from the DICOM tags
    series.files          # the files in slice order (increasing position along the normal)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .dicom_files import candidate_files, find_series_folders, list_series, read_slice
from .errors import DataPrepError

#: tags read from every slice
TAG_SERIES_UID = "0020|000e"
TAG_SERIES_DESCRIPTION = "0008|103e"
TAG_POSITION = "0020|0032"
TAG_ORIENTATION = "0020|0037"
TAG_PATIENT_ID = "0010|0020"
TAG_MODALITY = "0008|0060"


@dataclass
class DicomSeries:
    """One DICOM series read into a volume.

    Attributes:
        image: the volume (x, y, z); spacing, origin and direction come from the DICOM tags.
        files: the slice files in slice order (position along the normal, increasing).
        series_uid: SeriesInstanceUID.
        positions: position of each slice along the normal, in mm, in slice order.
        tags: a few tags of the first slice (patient id, modality, series description).
    """

    image: sitk.Image
    files: list[Path]
    series_uid: str
    positions: list[float] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


def _tag(image: sitk.Image, tag: str) -> str:
    return image.GetMetaData(tag).strip() if image.HasMetaDataKey(tag) else ""


def _floats(image: sitk.Image, tag: str, count: int, path: Path) -> np.ndarray:
    """``count`` finite numbers of a backslash-separated tag, or ``DataPrepError`` naming the file."""
    text = _tag(image, tag)
    try:
        values = np.array([float(v) for v in text.split("\\")])
    except ValueError:
        values = np.array([])
    if values.size != count or not np.isfinite(values).all():
        raise DataPrepError(f"{path}: tag {tag} should hold {count} finite numbers, found {text!r}")
    return values


def _check_orientation(orientation: np.ndarray, path: Path) -> None:
    """ImageOrientationPatient must be two orthogonal unit vectors (a direction matrix ITK accepts)."""
    row, col = orientation[:3], orientation[3:]
    if (
        abs(np.linalg.norm(row) - 1) > 0.01
        or abs(np.linalg.norm(col) - 1) > 0.01
        or abs(float(row @ col)) > 0.01
    ):
        raise DataPrepError(
            f"{path}: ImageOrientationPatient {tuple(float(v) for v in orientation)} is not two orthogonal "
            "unit vectors"
        )


def _pick_series(folder: Path, series: dict[str, list[Path]], series_uid: str | None) -> str:
    if series_uid is not None:
        if series_uid not in series:
            available = ", ".join(sorted(series)) or "none"
            raise DataPrepError(
                f"{folder}: no DICOM series with SeriesInstanceUID {series_uid} (found: {available})"
            )
        return series_uid
    if not series:
        raise DataPrepError(f"{folder}: no DICOM series found")
    if len(series) > 1:
        listing = "; ".join(f"{uid} ({len(files)} files)" for uid, files in sorted(series.items()))
        raise DataPrepError(
            f"{folder}: {len(series)} DICOM series found, name one with --series-uid: {listing}"
        )
    return next(iter(series))


def _check_unlisted_files(folder: Path, series: dict[str, list[Path]]) -> None:
    """A file that GDCM put in no series is not DICOM or is broken: name it."""
    listed = {p.resolve() for files in series.values() for p in files}
    for path in candidate_files(folder):
        if path.resolve() not in listed:
            read_slice(path)  # raises with the file name when unreadable
            raise DataPrepError(f"{path}: DICOM file without a usable SeriesInstanceUID")


def check_slice_gaps(
    positions: np.ndarray, files: list[Path], folder: Path, tolerance: float = 0.01
) -> float:
    """Return the even gap between sorted slice ``positions``; refuse duplicates, missing or uneven slices.

    Args:
        positions: slice positions along the normal (mm), increasing.
        files: the slice files, in the same order (named in errors).
        folder: the series folder (named in errors).
        tolerance: largest accepted deviation of a gap from the median gap, as a fraction of it.
    """
    gaps = np.diff(positions)
    if gaps.size == 0:
        raise ValueError("at least two slices are needed")
    duplicate = np.flatnonzero(gaps < 1e-6)
    if duplicate.size:
        i = int(duplicate[0])
        raise DataPrepError(
            f"{files[i]}: same slice position ({positions[i]:.4f} mm along the normal) as {files[i + 1].name}"
        )
    step = float(np.median(gaps))
    bad = np.flatnonzero(np.abs(gaps - step) > tolerance * step)
    if bad.size:
        i = int(bad[0])
        ratio = gaps[i] / step
        kind = (
            f"missing slice ({round(ratio) - 1} slice(s) absent)"
            if abs(ratio - round(ratio)) <= tolerance and round(ratio) >= 2
            else "uneven slice spacing"
        )
        raise DataPrepError(
            f"{folder}: {kind}: gap of {gaps[i]:.4f} mm between {files[i].name} ({positions[i]:.4f} mm) and "
            f"{files[i + 1].name} ({positions[i + 1]:.4f} mm) where the other slices are {step:.4f} mm apart"
        )
    return float((positions[-1] - positions[0]) / (len(positions) - 1))


def _stack(slices: list[sitk.Image]) -> np.ndarray:
    """(z, rows, cols[, components]) array of single-slice images (2D or 3D with one slice each)."""
    arrays = []
    for s in slices:
        a = sitk.GetArrayFromImage(s)
        if s.GetDimension() == 2:
            a = a[None]
        arrays.append(a)
    dtype = np.result_type(*arrays)
    return np.concatenate([a.astype(dtype, copy=False) for a in arrays], axis=0)


def read_dicom_series(
    folder: str | os.PathLike,
    series_uid: str | None = None,
    *,
    slice_tolerance: float = 0.01,
    whole_folder: bool = False,
) -> DicomSeries:
    """Read the DICOM series in ``folder`` into a volume with its scanner geometry.

    Args:
        folder: the folder that holds the slice files (its sub-folders are not searched).
        series_uid: SeriesInstanceUID to read when the folder holds several series; with several
            series and none named, the error lists them.
        slice_tolerance: accepted deviation of a slice gap from the median gap, as a fraction.
        whole_folder: take every file of the folder as a slice of one series, whatever its
            SeriesInstanceUID (for exports whose anonymisation gave slices different UIDs); the
            checks on orientation, size and slice positions still apply.

    Raises:
        DataPrepError: no series, several series and none named, a file that is not DICOM or is
            truncated, slices of different size or orientation, a duplicate, missing slice or
            uneven spacing between slices.
    """
    folder = Path(folder)
    series = list_series(folder)
    _check_unlisted_files(folder, series)
    if whole_folder and len(series) > 1:
        files = sorted({p for group in series.values() for p in group})
        uid = sorted(series)[0]
    else:
        uid = _pick_series(folder, series, series_uid)
        files = series[uid]
    slices = [read_slice(p) for p in files]

    first, first_path = slices[0], files[0]
    multi_frame = [
        p for p, s in zip(files, slices, strict=True) if s.GetDimension() == 3 and s.GetSize()[2] > 1
    ]
    if multi_frame:
        if len(files) == 1:
            return DicomSeries(first, files, uid, [], _summary_tags(first))
        raise DataPrepError(f"{multi_frame[0]}: multi-frame file inside a series of {len(files)} files")

    orientation = _floats(first, TAG_ORIENTATION, 6, first_path)
    _check_orientation(orientation, first_path)
    size = first.GetSize()[:2]
    spacing = first.GetSpacing()[:2]
    if not (np.isfinite(spacing).all() and min(spacing) > 0):
        raise DataPrepError(f"{first_path}: pixel spacing {spacing} is not two positive numbers")
    components = first.GetNumberOfComponentsPerPixel()
    normal = np.cross(orientation[:3], orientation[3:])
    positions = []
    for path, image in zip(files, slices, strict=True):
        if image.GetNumberOfComponentsPerPixel() != components:
            raise DataPrepError(
                f"{path}: {image.GetNumberOfComponentsPerPixel()} samples per pixel but {first_path.name} "
                f"has {components}"
            )
        if image.GetSize()[:2] != size:
            raise DataPrepError(
                f"{path}: {image.GetSize()[0]}x{image.GetSize()[1]} pixels (cols x rows) but "
                f"{first_path.name} has {size[0]}x{size[1]}"
            )
        if not np.allclose(image.GetSpacing()[:2], spacing, rtol=1e-5, atol=1e-6):
            raise DataPrepError(
                f"{path}: pixel spacing {image.GetSpacing()[:2]} differs from {first_path.name} {spacing}"
            )
        if not np.allclose(_floats(image, TAG_ORIENTATION, 6, path), orientation, atol=1e-4):
            raise DataPrepError(f"{path}: ImageOrientationPatient differs from {first_path.name}")
        positions.append(float(_floats(image, TAG_POSITION, 3, path) @ normal))

    order = np.argsort(positions, kind="stable")
    files = [files[i] for i in order]
    slices = [slices[i] for i in order]
    positions_sorted = np.asarray(positions)[order]

    if len(slices) > 1:
        slice_step = check_slice_gaps(positions_sorted, files, folder, slice_tolerance)
    else:
        slice_step = first.GetSpacing()[2] if first.GetDimension() == 3 else 1.0

    array = _stack(slices)
    image = sitk.GetImageFromArray(array, isVector=slices[0].GetNumberOfComponentsPerPixel() > 1)
    image.SetSpacing((float(spacing[0]), float(spacing[1]), float(slice_step)))
    image.SetOrigin(slices[0].GetOrigin())
    direction = np.column_stack([orientation[:3], orientation[3:], normal / np.linalg.norm(normal)])
    image.SetDirection(tuple(float(v) for v in direction.flatten()))
    return DicomSeries(image, files, uid, [float(p) for p in positions_sorted], _summary_tags(slices[0]))


def _summary_tags(image: sitk.Image) -> dict[str, str]:
    return {
        "PatientID": _tag(image, TAG_PATIENT_ID),
        "Modality": _tag(image, TAG_MODALITY),
        "SeriesDescription": _tag(image, TAG_SERIES_DESCRIPTION),
    }


def read_single_series_under(root: str | os.PathLike, *, series_uid: str | None = None) -> DicomSeries:
    """Read the one DICOM series found anywhere under ``root`` (nested study/series folders, as TCIA ships).

    Raises ``DataPrepError`` when there is none, or several and ``series_uid`` names none of them.
    """
    root = Path(root)
    folders = find_series_folders(root)
    if not folders:
        raise DataPrepError(f"{root}: no DICOM series found (searched sub-folders too)")
    by_uid: dict[str, Path] = {}
    for folder in folders:
        for uid in list_series(folder):
            by_uid[uid] = folder
    if series_uid is None and len(by_uid) > 1:
        listing = "; ".join(f"{uid} in {folder.relative_to(root)}" for uid, folder in sorted(by_uid.items()))
        raise DataPrepError(f"{root}: {len(by_uid)} DICOM series found, expected one: {listing}")
    uid = series_uid if series_uid is not None else next(iter(by_uid))
    if uid not in by_uid:
        raise DataPrepError(f"{root}: no DICOM series with SeriesInstanceUID {uid}")
    return read_dicom_series(by_uid[uid], uid)


def stems(files: Iterable[Path]) -> list[str]:
    """File names without their last suffix (``IMG-0001-00002.dcm`` -> ``IMG-0001-00002``)."""
    return [Path(f).stem for f in files]
