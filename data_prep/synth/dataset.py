"""Write a whole synthetic dataset folder: NIfTI cases, ``dataset.json``, ``datalist.json``, ``plan.json``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..analyze import analyze_dataset
from ..contract import DATASET_JSON
from ..io import image_from_array, staged_output_dir, write_image, write_json
from ..parallel import map_cases
from ..split import split_dataset
from .phantoms import (
    DIFFICULTIES,
    REALISTIC_TASKS,
    TASK_LABELS,
    TASK_MODALITY,
    TASKS,
    synth_case,
)

_DESCRIPTIONS = {
    "abdominal": "Synthetic T2-like abdominal MR: liver, kidneys and spleen (CHAOS-style labels)",
    "pancreas": "Synthetic contrast CT in Hounsfield units: pancreas and pancreatic tumour (MSD Task07-style)",
    "brain_tumour": "Synthetic 4-channel brain MR (FLAIR, T1w, t1gd, T2w): edema, non-enhancing and "
    "enhancing tumour (MSD Task01-style)",
}


def case_patients(task: str, n_cases: int) -> list[str]:
    """Patient id of every case: one patient per case, except that ``abdominal`` patients with an even
    index get two cases (a second series), so a patient-level split has something to keep together."""
    patients: list[str] = []
    p = 0
    while len(patients) < n_cases:
        repeats = 2 if task == "abdominal" and p % 2 == 0 else 1
        patients.extend([f"p{p:03d}"] * repeats)
        p += 1
    return patients[:n_cases]


def write_synth_dataset(
    task: str,
    out_dir: str | os.PathLike,
    *,
    n_cases: int = 8,
    seed: int = 0,
    size: tuple[int, int, int] = (48, 48, 32),
    overwrite: bool = False,
    workers: int = 1,
    difficulty: str = "standard",
    spacing: tuple[float, float, float] | None = None,
) -> Path:
    """Write a ready-to-train synthetic dataset of ``task`` to ``out_dir``.

    The folder holds ``imagesTr/``, ``labelsTr/`` (``synth_<task>_<nnn>.nii.gz``, with each case's
    spacing, origin and direction; ``brain_tumour`` images are 4D (x, y, z, 4) as MSD ships them),
    ``dataset.json``, ``datalist.json`` (:func:`data_prep.split.split_dataset`, seed ``seed``) and
    ``plan.json`` (:func:`data_prep.analyze.analyze_dataset`). It is built in a staging folder and
    renamed into place at the end, so ``out_dir`` is either whole or untouched.

    Args:
        task: ``"abdominal"``, ``"pancreas"`` or ``"brain_tumour"``.
        out_dir: folder to create; one that already holds files is refused unless ``overwrite``.
        n_cases: number of cases (``abdominal``: some patients have two).
        seed: seed of the cases and of the split; the same seed writes the same dataset.
        size: volume size (x, y, z).
        overwrite: replace an existing ``out_dir``.
        workers: processes drawing and writing cases in parallel.
        difficulty: ``"standard"`` or ``"realistic"`` (``abdominal``: deformed anatomy, partial volume,
            strong bias field, overlapping organ contrasts; see :data:`data_prep.synth.phantoms.DIFFICULTIES`).
        spacing: voxel spacing (mm) of every case instead of the task's drawn one, e.g. ``(1.5, 1.5, 6.0)``
            with few slices for a thick-slice dataset (the anatomy fills the field of view whatever the spacing).

    Returns:
        ``out_dir`` as a ``Path``.

    Example:
        >>> write_synth_dataset("abdominal", "/tmp/synth_abd", n_cases=6)  # doctest: +SKIP
    """
    if task not in TASKS:
        raise ValueError(f"unknown synthetic task {task!r}; choose one of {', '.join(TASKS)}")
    if n_cases < 1:
        raise ValueError(f"n_cases must be at least 1, got {n_cases}")
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"unknown difficulty {difficulty!r}; choose one of {', '.join(DIFFICULTIES)}")
    if difficulty != "standard" and task not in REALISTIC_TASKS:
        raise ValueError(
            f"difficulty {difficulty!r} exists for {', '.join(REALISTIC_TASKS)} only, not {task!r}"
        )
    if spacing is not None:
        spacing = tuple(float(s) for s in spacing)
        if len(spacing) != 3 or not all(np.isfinite(spacing)) or min(spacing) <= 0:
            raise ValueError(f"spacing must be three positive numbers (mm), got {spacing}")
    options = {"difficulty": difficulty, "spacing": spacing}
    out_dir = Path(out_dir)
    patients = case_patients(task, n_cases)
    # one seed per patient for the anatomy, one per case for the appearance
    patient_seeds = {
        p: s
        for p, s in zip(
            sorted(set(patients)), np.random.SeedSequence([seed, 0]).spawn(len(set(patients))), strict=True
        )
    }
    case_seeds = np.random.SeedSequence([seed, 1]).spawn(n_cases)
    with staged_output_dir(out_dir, overwrite=overwrite) as staging:
        jobs = [
            (
                task,
                staging,
                f"synth_{task}_{i:03d}",
                patient_seeds[patients[i]],
                case_seeds[i],
                tuple(size),
                options,
            )
            for i in range(n_cases)
        ]
        map_cases(_write_case, jobs, workers=workers, desc=f"synth {task}")
        training = [
            {"image": f"imagesTr/{name}.nii.gz", "label": f"labelsTr/{name}.nii.gz", "patient": patient}
            for (_, _, name, _, _, _, _), patient in zip(jobs, patients, strict=True)
        ]
        manifest = {
            "name": task,
            "description": _DESCRIPTIONS[task],
            "source": "synthetic",
            "reference": f"data_prep.synth, seed {seed}, size {list(size)}"
            + (f", difficulty {difficulty}" if difficulty != "standard" else "")
            + (f", spacing {list(spacing)}" if spacing is not None else ""),
            "labels": TASK_LABELS[task],
            "modality": TASK_MODALITY[task],
            "numTraining": n_cases,
            "numTest": 0,
            "training": training,
            "test": [],
        }
        write_json(manifest, staging / DATASET_JSON)
        split_dataset(staging, seed=seed)
        analyze_dataset(staging, workers=workers)
    return out_dir


def _write_case(job: tuple) -> None:
    task, folder, name, anatomy_seed, appearance_seed, size, options = job
    case = synth_case(
        task,
        np.random.default_rng(anatomy_seed),
        size,
        appearance_rng=np.random.default_rng(appearance_seed),
        **options,
    )
    geometry = (case.spacing, case.origin, case.direction)
    write_image(image_from_array(case.image, *geometry), Path(folder) / "imagesTr" / f"{name}.nii.gz")
    write_image(image_from_array(case.label, *geometry), Path(folder) / "labelsTr" / f"{name}.nii.gz")
