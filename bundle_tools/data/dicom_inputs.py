"""DICOM series as inference inputs: found by SeriesInstanceUID, read with their geometry, staged as NIfTI.

An inference input may be a DICOM series: ``--input_dir`` (and its sub-folders) or a datalist entry that
names a folder. Each series of each folder is one case (GDCM groups the files by SeriesInstanceUID; DICOM
files are those without a suffix or ending in ``.dcm``; NIfTI/MHA/NRRD files and other files beside them
are left to the other readers). A series is read once, before inference starts, by
:func:`data_prep.dicom_source.read_source_series`: slices ordered along the normal, gaps checked, the tags
checked (with ``--output_format dicom_seg`` also those a SEG needs), a bad series named with its file and
tag. It is then written as a NIfTI file in a temporary folder (removed at exit), with a JSON record of its
source series beside it (``<case>.dicom.json``: files, SOP instance UIDs, Frame of Reference, geometry).

Why stage NIfTI instead of handing MONAI's ``ITKReader`` the series folder: the bundles' ``LoadImaged`` and
every transform after it stay as they are (one graph for training and inference, MONAI Label included);
the geometry is the project's own DICOM reader's, the one ``data_prep convert`` uses, with its checks
(ITK's series reader sorts by its own rule, takes one series of a folder and does not refuse a missing
slice); and the record lets the SEG writer (:mod:`bundle_tools.transforms.dicom_seg_save`) find the source
from the prediction's ``filename_or_obj`` alone, so nothing else has to travel through the engine.

The case of a series is named after its folder relative to ``--input_dir`` (``p01/T2`` -> ``p01_T2``),
with ``_<SeriesInstanceUID>`` added when a folder holds several series; its predictions are
``<case>_seg.nii.gz`` and ``<case>_seg.dcm``.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import SimpleITK as sitk

from data_prep.convert import write_nifti_checked
from data_prep.dicom_files import find_series_folders, list_series, read_slice
from data_prep.dicom_source import SourceSeries, read_headers, read_source_series
from data_prep.errors import DataPrepError
from data_prep.io import read_json, write_json

__all__ = ["SIDECAR_SUFFIX", "dicom_series_folders", "source_of", "stage_dicom_inputs"]

SIDECAR_SUFFIX = ".dicom.json"
_STAGE_PREFIX = "seg3d-dicom-inputs-"


def _is_dicom_name(path: Path) -> bool:
    """DICOM files of a series folder: no suffix, or ``.dcm``."""
    return path.suffix == "" or path.suffix.lower() == ".dcm"


def dicom_series_folders(root: str | os.PathLike) -> list[Path]:
    """Every folder under ``root`` (``root`` included) that holds a DICOM series, sorted."""
    return find_series_folders(root)


def _case_name(root: Path | None, folder: Path, uid: str, several: bool) -> str:
    rel = folder.relative_to(root).parts if root is not None and folder != root else ()
    name = "_".join(rel) or folder.name or "series"
    if several:
        name = f"{name}_{uid}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _check_unlisted(folder: Path, listed: set[Path]) -> None:
    """A file named like DICOM that GDCM put in no series is broken or lacks its SeriesInstanceUID."""
    for path in sorted(folder.iterdir()):
        if (
            path.is_file()
            and not path.name.startswith(".")
            and _is_dicom_name(path)
            and path.resolve() not in listed
        ):
            read_slice(
                path
            )  # raises naming the file when it is not DICOM or is truncated (as the series reader)
            read_headers([path], for_seg=False)  # ... or lacks its geometry
            raise DataPrepError(f"{path}: DICOM file without a usable SeriesInstanceUID (0020,000E)")


def _read(folder: Path, uid: str, files: list[Path], for_seg: bool) -> tuple[SourceSeries, sitk.Image]:
    """Read one series of ``folder``; when other files lie beside it, through a folder of links to its files
    (the series reader takes every file of its folder), error messages naming the real folder."""
    others = [
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.resolve() not in {f.resolve() for f in files}
    ]
    if not others:
        return read_source_series(folder, uid, for_seg=for_seg)
    with tempfile.TemporaryDirectory(prefix=_STAGE_PREFIX) as tmp:
        for f in files:
            os.symlink(f.resolve(), Path(tmp) / f.name)
        try:
            record, image = read_source_series(tmp, uid, for_seg=for_seg)
        except DataPrepError as err:
            raise DataPrepError(str(err).replace(tmp, str(folder))) from None
    record.folder = str(folder)
    record.files = [str(folder / Path(f).name) for f in record.files]
    return record, image


def _series_of(entries: Sequence[Path], root: Path | None) -> list[tuple[Path, str, str]]:
    """``(folder, uid, case name)`` of every series in the folders ``entries``."""
    out = []
    for folder in entries:
        groups = list_series(folder)
        if not groups:
            raise DataPrepError(f"{folder}: a folder without a DICOM series (looked for DICOM files by UID)")
        _check_unlisted(folder, {p.resolve() for files in groups.values() for p in files})
        for uid in sorted(groups):
            out.append((folder, uid, _case_name(root, folder, uid, len(groups) > 1)))
    return out


def stage_dicom_inputs(
    inputs: Sequence[str | os.PathLike], root: str | os.PathLike | None = None, *, for_seg: bool = False
) -> list[Path]:
    """``inputs`` with every folder replaced by one staged NIfTI file per DICOM series in it.

    Args:
        inputs: image files and DICOM series folders, as found in ``--input_dir`` or listed by a datalist.
        root: ``--input_dir``, to name cases by their folder relative to it (None: by the folder's name).
        for_seg: require what a DICOM SEG needs of each series (Frame of Reference, SOP and study UIDs).

    Raises:
        DataPrepError: one line per series that cannot be read (file and tag named); nothing is staged then.
    """
    paths = [Path(str(p)) for p in inputs]
    folders = [p for p in paths if p.is_dir()]
    if not folders:
        return paths
    series = _series_of(folders, Path(root) if root is not None else None)
    stage = Path(tempfile.mkdtemp(prefix=_STAGE_PREFIX))
    atexit.register(shutil.rmtree, stage, True)
    problems, staged = [], {}
    for folder, uid, name in series:
        try:
            record, image = _read(folder, uid, list_series(folder)[uid], for_seg)
        except DataPrepError as err:
            problems.append(str(err))
            continue
        nifti = write_nifti_checked(image, stage / f"{name}.nii.gz", source=str(folder))
        write_json(record.to_dict(), stage / f"{name}{SIDECAR_SUFFIX}")
        staged.setdefault(folder, []).append(nifti)
    if problems:
        shutil.rmtree(stage, ignore_errors=True)
        raise DataPrepError(
            f"{len(problems)} of {len(series)} DICOM series cannot be inferred; nothing was written:\n"
            + "\n".join(problems)
        )
    return [q for p in paths for q in (staged[p] if p in staged else [p])]


def source_of(image: str | os.PathLike) -> SourceSeries | None:
    """The source series record of a staged image (its ``filename_or_obj``), None for any other image."""
    path = Path(str(image))
    if not path.name.endswith(".nii.gz"):
        return None
    sidecar = path.with_name(path.name[: -len(".nii.gz")] + SIDECAR_SUFFIX)
    return SourceSeries.from_dict(read_json(sidecar)) if sidecar.is_file() else None
