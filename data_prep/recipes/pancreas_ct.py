"""TCIA Pancreas-CT (NIH, 82 contrast CT scans) -> NIfTI dataset.

Layout as TCIA ships it::

    Pancreas-CT/PANCREAS_0001/<study>/<series>/1-001.dcm ...     one CT series per patient
    <labels folder>/label0001.nii.gz ...                          pancreas = 1

The labels folder is ``--labels DIR`` or, by default, the one folder under the raw folder whose
name contains "label" and that holds ``label*.nii.gz``. Each label is put on the grid of its CT
series: when the grids agree within the tolerance the label takes the series' geometry; when
the label stores the same voxels with axes permuted or reversed (a known quirk of these labels),
it is re-indexed exactly; any other mismatch is refused. Patients without a label become test
images. Output cases: ``pancreas_ct_<NNNN>``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from ..convert import align_to_reference, write_nifti_checked
from ..dicom import read_single_series_under
from ..errors import DataPrepError
from ..io import read_image
from ..labels import LabelMap, remap_image
from ..parallel import map_cases
from ._common import (
    DEFAULT_WORKERS,
    Recipe,
    build_dataset,
    check_raw_dir,
    manifest,
)

PATIENT_DIR = re.compile(r"^PANCREAS_(\d+)$", re.IGNORECASE)
LABEL_FILE = re.compile(r"^label(\d+)\.nii(\.gz)?$", re.IGNORECASE)
LABELS = {"0": "background", "1": "pancreas"}
#: largest accepted deviation, in voxels, of the label grid from the series grid
GRID_TOLERANCE = 1e-3


def find_patients(raw_dir: Path) -> dict[str, Path]:
    """``{"0001": .../PANCREAS_0001}`` for the patient folders in ``raw_dir`` or ``raw_dir/Pancreas-CT``."""
    for root in (raw_dir / "Pancreas-CT", raw_dir):
        if root.is_dir():
            found = {m.group(1): p for p in root.iterdir() if p.is_dir() and (m := PATIENT_DIR.match(p.name))}
            if found:
                return dict(sorted(found.items()))
    raise DataPrepError(f"{raw_dir}: no PANCREAS_NNNN patient folders found (looked in Pancreas-CT/ too)")


def find_labels_dir(raw_dir: Path) -> Path:
    """The one folder under ``raw_dir`` (two levels deep at most) whose name has "label" and holds label files."""
    candidates = [
        p
        for p in list(raw_dir.iterdir()) + [q for d in raw_dir.iterdir() if d.is_dir() for q in d.iterdir()]
        if p.is_dir() and "label" in p.name.lower() and any(LABEL_FILE.match(f.name) for f in p.iterdir())
    ]
    if len(candidates) != 1:
        found = ", ".join(str(p) for p in candidates) or "none"
        raise DataPrepError(
            f"{raw_dir}: expected one labels folder with labelNNNN.nii.gz (found: {found}); use --labels"
        )
    return candidates[0]


def convert_case(job: tuple[str, str, str | None, str]) -> None:
    """Read one patient's series (and label), align the label, write both into the staging folder."""
    patient_dir, pid, label_path, stage = job
    series = read_single_series_under(patient_dir)
    name = f"pancreas_ct_{pid}.nii.gz"
    folder = "imagesTr" if label_path is not None else "imagesTs"
    if label_path is not None:
        label = read_image(label_path)
        aligned = align_to_reference(
            label,
            series.image,
            tolerance=GRID_TOLERANCE,
            source=label_path,
            reference_name=f"the CT series in {patient_dir}",
        )
        aligned = remap_image(aligned, LabelMap(exact={1: 1}), source=label_path)
        write_nifti_checked(aligned, Path(stage) / "labelsTr" / name, source=label_path)
    write_nifti_checked(series.image, Path(stage) / folder / name, source=str(series.files[0].parent))


def prepare_pancreas_ct(
    raw_dir: str | Path,
    out_dir: str | Path,
    *,
    labels: str | Path | None = None,
    overwrite: bool = False,
    seed: int = 0,
    workers: int = DEFAULT_WORKERS,
) -> Path:
    """Build a dataset from TCIA Pancreas-CT (see the module docstring); returns ``out_dir``.

    Args:
        raw_dir: folder holding ``Pancreas-CT/PANCREAS_NNNN`` (or the patient folders themselves).
        out_dir: dataset folder to write (refused when it holds files, unless ``overwrite``).
        labels: folder of ``labelNNNN.nii.gz``; found under ``raw_dir`` when not given.
        overwrite: replace an existing ``out_dir``.
        seed: seed of the patient-level split.
        workers: parallel worker processes over patients.
    """
    raw_dir, out_dir = check_raw_dir(raw_dir, out_dir)
    patients = find_patients(raw_dir)
    labels_dir = Path(labels) if labels is not None else find_labels_dir(raw_dir)
    if not labels_dir.is_dir():
        raise DataPrepError(f"{labels_dir}: no such labels folder")
    label_files = {m.group(1): p for p in labels_dir.iterdir() if (m := LABEL_FILE.match(p.name))}
    orphans = sorted(set(label_files) - set(patients))
    if orphans:
        raise DataPrepError(f"{label_files[orphans[0]]}: no patient folder PANCREAS_{orphans[0]}")

    def write_cases(stage: Path) -> dict[str, Any]:
        jobs = [
            (str(path), pid, str(label_files[pid]) if pid in label_files else None, str(stage))
            for pid, path in patients.items()
        ]
        map_cases(convert_case, jobs, workers=workers, desc="pancreas-ct")
        training = [
            {
                "image": f"imagesTr/pancreas_ct_{pid}.nii.gz",
                "label": f"labelsTr/pancreas_ct_{pid}.nii.gz",
                "patient": pid,
            }
            for pid in patients
            if pid in label_files
        ]
        test = [f"imagesTs/pancreas_ct_{pid}.nii.gz" for pid in patients if pid not in label_files]
        return manifest(
            "pancreas_ct",
            "NIH Pancreas-CT: contrast-enhanced abdominal CT with manual pancreas labels",
            "TCIA Pancreas-CT (Roth et al. 2016)",
            dict(LABELS),
            {"0": "CT"},
            training,
            test,
        )

    return build_dataset(out_dir, write_cases, overwrite=overwrite, seed=seed, workers=workers)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--labels",
        metavar="DIR",
        help="folder of labelNNNN.nii.gz (default: the folder under RAW_DIR whose name contains 'label')",
    )


RECIPE = Recipe(
    name="pancreas-ct",
    help="TCIA Pancreas-CT: nested DICOM series per patient + labelNNNN.nii.gz",
    description=__doc__ or "",
    add_arguments=add_arguments,
    run=prepare_pancreas_ct,
    option_names=("labels",),
)
