"""CHAOS MR (Combined Healthy Abdominal Organ Segmentation) -> NIfTI dataset.

Layout as shipped (``CHAOS_Train_Sets/Train_Sets/MR`` or any folder holding ``MR/``)::

    MR/<patient>/T2SPIR/DICOM_anon/IMG-xxxx-yyyyy.dcm      one DICOM series
    MR/<patient>/T2SPIR/Ground/IMG-xxxx-yyyyy.png          one mask per slice, same stem
    MR/<patient>/T1DUAL/DICOM_anon/{InPhase,OutPhase}/     two co-registered series
    MR/<patient>/T1DUAL/Ground/                            masks for both phases

Masks hold grey values 63 liver, 126 right kidney, 189 left kidney, 252 spleen (accepted in the
ranges 55-70, 110-135, 175-200, 240-255). Each mask goes to the slice of the DICOM file with its
stem, in the order the series reader sorts the slices (by position along the normal), never by
file-name order. When no mask is named after a DICOM file, masks and DICOM files are paired by
natural name order instead. All DICOM files of a sequence folder are taken as one series, whatever
their SeriesInstanceUID (anonymised exports may give slices different UIDs); orientation, size and
even slice positions are still checked. Output cases: ``chaos_<patient>_t2spir``, ``chaos_<patient>_t1in``,
``chaos_<patient>_t1out`` (T2SPIR only by default).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from ..convert import geometry_differences, write_nifti_checked
from ..dicom import DicomSeries, read_dicom_series
from ..errors import DataPrepError
from ..labels import CHAOS_LABELS, CHAOS_RANGES, remap_image
from ..parallel import map_cases
from ..slices import list_slice_files, natural_key, order_by_series, read_slice_stack
from ._common import (
    DEFAULT_WORKERS,
    Recipe,
    build_dataset,
    check_raw_dir,
    manifest,
)

SEQUENCES = {
    "t2spir": ("T2SPIR", Path("T2SPIR/DICOM_anon"), None),
    "t1in": ("T1DUAL", Path("T1DUAL/DICOM_anon/InPhase"), Path("T1DUAL/DICOM_anon/OutPhase")),
    "t1out": ("T1DUAL", Path("T1DUAL/DICOM_anon/OutPhase"), Path("T1DUAL/DICOM_anon/InPhase")),
}
#: geometry tolerance (mm, absolute) between the two T1DUAL phases sharing one set of masks
PHASE_TOLERANCE = 1e-3


def find_mr_dir(raw_dir: Path) -> Path:
    """The folder whose sub-folders are the MR patients (``raw/MR``, ``raw/Train_Sets/MR``, or ``raw`` itself)."""
    for candidate in (
        raw_dir / "MR",
        raw_dir / "Train_Sets" / "MR",
        raw_dir / "CHAOS_Train_Sets" / "Train_Sets" / "MR",
        raw_dir,
    ):
        if candidate.is_dir() and any(
            (p / "T2SPIR").is_dir() or (p / "T1DUAL").is_dir() for p in candidate.iterdir() if p.is_dir()
        ):
            return candidate
    raise DataPrepError(
        f"{raw_dir}: no CHAOS MR patients found (expected MR/<patient>/T2SPIR/DICOM_anon and .../Ground)"
    )


def _pair_by_name_order(masks: list[Path], series: DicomSeries) -> list[Path]:
    """Masks in series order when their names do not match: i-th mask by name <-> i-th DICOM file by name."""
    by_name = sorted(series.files, key=lambda p: natural_key(p.name))
    pairs = dict(zip(by_name, sorted(masks, key=lambda p: natural_key(p.name)), strict=True))
    return [pairs[f] for f in series.files]


def mask_volume(
    ground_dir: Path, series: DicomSeries, *, match_by_name_only: bool = False
) -> sitk.Image | None:
    """Stack the PNG masks of ``ground_dir`` on the grid of ``series`` (grey values kept).

    Returns None when ``match_by_name_only`` and no mask is named after a file of ``series``.
    """
    masks = list_slice_files(ground_dir)
    if not masks:
        raise DataPrepError(f"{ground_dir}: no mask pictures (PNG) found")
    if len(masks) != len(series.files):
        raise DataPrepError(
            f"{ground_dir}: {len(masks)} mask slices but the DICOM series {series.files[0].parent} has "
            f"{len(series.files)} slices"
        )
    ordered = order_by_series(masks, series)
    if ordered is None:
        if match_by_name_only:
            return None
        ordered = _pair_by_name_order(masks, series)
    return read_slice_stack(ordered, reference=series, match_by_name=False)


def _t1_masks(patient_dir: Path, series: DicomSeries, other_phase: Path) -> sitk.Image:
    """T1DUAL masks for one phase; they may be named after the other phase's files."""
    ground = patient_dir / "T1DUAL" / "Ground"
    grey = mask_volume(ground, series, match_by_name_only=True)
    if grey is not None:
        return grey
    other = read_dicom_series(patient_dir / other_phase, whole_folder=True)
    grey = mask_volume(ground, other, match_by_name_only=True)
    if grey is None:
        return mask_volume(ground, series)
    problems = geometry_differences(other.image, series.image, tolerance=PHASE_TOLERANCE, relative=False)
    if problems:
        raise DataPrepError(
            f"{ground}: masks are named after {patient_dir / other_phase}, whose grid differs from "
            f"{series.files[0].parent} ({'; '.join(problems)})"
        )
    grey.CopyInformation(series.image)
    return grey


def convert_case(job: tuple[str, str, str, str, bool]) -> dict[str, str]:
    """Convert one patient's sequence into ``stage/imagesTr`` and ``stage/labelsTr``; returns its manifest entry."""
    mr_dir, patient, sequence, stage, nearest = job
    patient_dir = Path(mr_dir) / patient
    folder, dicom_dir, other_phase = SEQUENCES[sequence]
    if not (patient_dir / dicom_dir).is_dir():
        raise DataPrepError(f"{patient_dir / dicom_dir}: missing (sequence {sequence} of patient {patient})")
    series = read_dicom_series(patient_dir / dicom_dir, whole_folder=True)
    if other_phase is None:
        grey = mask_volume(patient_dir / folder / "Ground", series)
    else:
        grey = _t1_masks(patient_dir, series, other_phase)
    label = remap_image(grey, CHAOS_RANGES, nearest=nearest, source=str(patient_dir / folder / "Ground"))
    name = f"chaos_{patient}_{sequence}.nii.gz"
    write_nifti_checked(series.image, Path(stage) / "imagesTr" / name, source=str(patient_dir / dicom_dir))
    write_nifti_checked(label, Path(stage) / "labelsTr" / name, source=str(patient_dir / folder / "Ground"))
    return {"image": f"imagesTr/{name}", "label": f"labelsTr/{name}", "patient": patient}


def prepare_chaos(
    raw_dir: str | Path,
    out_dir: str | Path,
    *,
    sequences: tuple[str, ...] = ("t2spir",),
    nearest: bool = False,
    overwrite: bool = False,
    seed: int = 0,
    workers: int = DEFAULT_WORKERS,
) -> Path:
    """Build a NIfTI dataset from a CHAOS MR download (see the module docstring); returns ``out_dir``.

    Args:
        raw_dir: folder holding ``MR/`` (or the ``MR`` folder itself).
        out_dir: dataset folder to write (refused when it holds files, unless ``overwrite``).
        sequences: any of ``t2spir``, ``t1in``, ``t1out``.
        nearest: map mask grey values outside the CHAOS ranges to the nearest class instead of failing.
        overwrite: replace an existing ``out_dir``.
        seed: seed of the patient-level split (``datalist.json``).
        workers: parallel worker processes over cases.
    """
    raw_dir, out_dir = check_raw_dir(raw_dir, out_dir)
    unknown = sorted(set(sequences) - set(SEQUENCES))
    if unknown or not sequences:
        raise DataPrepError(f"unknown CHAOS sequence(s) {unknown}; choose from {', '.join(SEQUENCES)}")
    mr_dir = find_mr_dir(raw_dir)
    patients = sorted(
        (p.name for p in mr_dir.iterdir() if p.is_dir() and not p.name.startswith(".")), key=natural_key
    )

    def write_cases(stage: Path) -> dict[str, Any]:
        jobs = [(str(mr_dir), p, s, str(stage), nearest) for p in patients for s in sequences]
        training = map_cases(convert_case, jobs, workers=workers, desc="chaos")
        return manifest(
            "chaos_mr",
            f"CHAOS MR ({', '.join(sequences)}), masks remapped to class indices",
            "CHAOS (Kavur et al. 2021), https://chaos.grand-challenge.org",
            dict(CHAOS_LABELS),
            {"0": "MR"},
            training,
        )

    return build_dataset(out_dir, write_cases, overwrite=overwrite, seed=seed, workers=workers)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sequences",
        nargs="+",
        choices=sorted(SEQUENCES),
        default=["t2spir"],
        help="MR sequences to convert, each a case of its own (default: t2spir)",
    )
    parser.add_argument(
        "--nearest",
        action="store_true",
        help="map mask grey values outside the CHAOS ranges to the nearest class instead of failing",
    )


RECIPE = Recipe(
    name="chaos",
    help="CHAOS MR: DICOM series + PNG masks per slice",
    description=__doc__ or "",
    add_arguments=add_arguments,
    run=prepare_chaos,
    option_names=("sequences", "nearest"),
)
