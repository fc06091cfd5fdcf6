"""Raw dataset layouts, as the public datasets ship them, filled with synthetic phantoms.

For tests and demos of ``prepare``: each writer builds the folder tree, the file formats and the
quirks of one public dataset from ``data_prep.synth.phantoms.synth_case`` volumes:

- ``write_chaos_raw``: CHAOS MR, real DICOM series (PatientID, Study/SeriesInstanceUID,
  ImagePositionPatient, oblique ImageOrientationPatient, anisotropic PixelSpacing) and one PNG
  mask per slice with grey values 63/126/189/252; file numbers run against the slice position
  for every other patient, as the series reader must sort by position, not by name.
- ``write_msd_raw``: a Medical Segmentation Decathlon task folder (``dataset.json``, imagesTr,
  labelsTr, imagesTs, and macOS ``._*`` files beside the volumes).
- ``write_pancreas_ct_raw``: TCIA Pancreas-CT, nested ``<patient>/<study>/<series>/*.dcm`` plus a
  labels folder of ``labelNNNN.nii.gz``, some stored with a flipped slice axis.
- ``write_kvasir_raw``: Kvasir-SEG, ``images/*.jpg`` and ``masks/*.jpg`` with the same names, the
  pictures drawn by ``data_prep.synth.polyps``.

The DICOM series are written by :func:`data_prep.synth.dicom_series.write_dicom_series`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from PIL import Image

from ..io import image_from_array, write_bytes, write_json
from .dicom_series import make_uid, oblique_direction, write_dicom_series
from .phantoms import synth_case
from .polyps import jpeg_bytes, polyp_pictures

#: CHAOS MR mask grey value of each class (background, liver, right kidney, left kidney, spleen)
CHAOS_GREY = np.array([0, 63, 126, 189, 252], dtype=np.uint8)
#: CHAOS MR patient numbers, in the order of the training set
CHAOS_PATIENTS = (1, 2, 3, 5, 8, 10, 13, 15, 19, 20, 21, 22, 31, 32, 33, 34, 36, 37, 38, 39)


def _mr_pixels(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image), 0, 65535).astype(np.uint16)


def _png(array_xy: np.ndarray, path: Path) -> None:
    """Write an (x, y) slice as a (rows=y, cols=x) picture."""
    Image.fromarray(np.ascontiguousarray(array_xy.T)).save(path)


def write_chaos_patient(
    mr_dir: str | os.PathLike,
    patient: str,
    rng: np.random.Generator,
    size: tuple[int, int, int] = (48, 48, 16),
    *,
    reverse_file_order: bool = False,
    t1dual: bool = True,
) -> dict[str, np.ndarray]:
    """Write one CHAOS MR patient under ``mr_dir/<patient>``; returns its class labels (x, y, z) in slice-position order.

    The returned dict has ``"label"`` plus ``"spacing"``, ``"origin"``, ``"direction"`` of the series
    (as arrays), so a test can compare what ``prepare chaos`` made of it.
    """
    case = synth_case("abdominal", rng, size)
    base = Path(mr_dir) / patient
    spacing = (case.spacing[0], round(case.spacing[1] * 1.12, 4), case.spacing[2] * 2)
    direction = oblique_direction(rng)
    study_uid = make_uid(rng)
    n = size[2]

    def names(series_number: int, step: int = 1, offset: int = 0) -> list[str]:
        numbers = [offset + step * (k + 1) for k in range(n)]
        if reverse_file_order:
            numbers.reverse()
        return [f"IMG-{series_number:04d}-{num:05d}" for num in numbers]

    grey = CHAOS_GREY[case.label]
    t2_names = names(2)
    write_dicom_series(
        _mr_pixels(case.image), base / "T2SPIR" / "DICOM_anon", spacing=spacing, origin=case.origin,
        direction=direction, file_names=[f"{s}.dcm" for s in t2_names], patient_id=patient, study_uid=study_uid,
        series_uid=make_uid(rng), rng=rng, description="T2SPIR", series_number=2,
    )  # fmt: skip
    ground = base / "T2SPIR" / "Ground"
    ground.mkdir(parents=True, exist_ok=True)
    for k, stem in enumerate(t2_names):
        _png(grey[:, :, k], ground / f"{stem}.png")

    if t1dual:
        in_names, out_names = names(4, 2, 0), names(4, 2, -1)
        for phase, phase_names in (("InPhase", in_names), ("OutPhase", out_names)):
            look = synth_case("abdominal", np.random.default_rng(rng.integers(2**32)), size).image
            write_dicom_series(
                _mr_pixels(look), base / "T1DUAL" / "DICOM_anon" / phase, spacing=spacing, origin=case.origin,
                direction=direction, file_names=[f"{s}.dcm" for s in phase_names], patient_id=patient,
                study_uid=study_uid, series_uid=make_uid(rng), rng=rng, description=f"T1DUAL {phase}",
                series_number=4,
            )  # fmt: skip
        t1_ground = base / "T1DUAL" / "Ground"
        t1_ground.mkdir(parents=True, exist_ok=True)
        for k, stem in enumerate(in_names):
            _png(grey[:, :, k], t1_ground / f"{stem}.png")
    return {
        "label": case.label,
        "spacing": np.array(spacing),
        "origin": np.array(case.origin),
        "direction": np.array(direction),
    }


def write_chaos_raw(
    out_dir: str | os.PathLike, n_patients: int = 4, seed: int = 0, size: tuple[int, int, int] = (48, 48, 16)
) -> Path:
    """Write a CHAOS-like MR training set under ``out_dir`` (``out_dir/MR/<patient>/...``); returns ``out_dir``.

    Patients are numbered as in CHAOS (1, 2, 3, 5, 8, ...); each has T2SPIR and T1DUAL
    (InPhase/OutPhase, one Ground for both, named after InPhase). Every other patient has its
    file numbers running against the slice position.
    """
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    numbers = list(CHAOS_PATIENTS) + list(range(CHAOS_PATIENTS[-1] + 1, CHAOS_PATIENTS[-1] + 1 + n_patients))
    for i in range(n_patients):
        write_chaos_patient(out_dir / "MR", str(numbers[i]), rng, size, reverse_file_order=i % 2 == 0)
    return out_dir


#: MSD task -> (file prefix, phantom task, labels, modality) as in the Decathlon's dataset.json
MSD_TASKS = {
    "Task07_Pancreas": (
        "pancreas",
        "pancreas",
        {"0": "background", "1": "pancreas", "2": "cancer"},
        {"0": "CT"},
    ),
    "Task01_BrainTumour": (
        "BRATS",
        "brain_tumour",
        {"0": "background", "1": "edema", "2": "non-enhancing tumor", "3": "enhancing tumour"},
        {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"},
    ),
}


def _write_volume(case_image: np.ndarray, case, path: Path, dtype) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(
        image_from_array(case_image.astype(dtype), case.spacing, case.origin, case.direction), str(path)
    )


def write_msd_raw(
    out_dir: str | os.PathLike,
    task: str = "Task07_Pancreas",
    n_cases: int = 4,
    seed: int = 0,
    size: tuple[int, int, int] = (48, 48, 24),
    n_test: int = 1,
) -> Path:
    """Write an MSD task folder ``out_dir/<task>`` (``Task07_Pancreas`` or ``Task01_BrainTumour``); returns it.

    Brain tumour images are 4D (x, y, z, 4) float32; pancreas images int16 HU. Cases are numbered
    with gaps as in the Decathlon; each volume has a macOS ``._`` twin that is not a volume.
    """
    if task not in MSD_TASKS:
        raise ValueError(f"unknown MSD task {task!r}; choose one of {', '.join(MSD_TASKS)}")
    prefix, phantom, labels, modality = MSD_TASKS[task]
    rng = np.random.default_rng(seed)
    root = Path(out_dir) / task
    training, test = [], []
    number = 0
    for i in range(n_cases + n_test):
        number += int(rng.integers(1, 4))
        name = f"{prefix}_{number:03d}.nii.gz"
        case = synth_case(phantom, rng, size)
        dtype = np.int16 if modality["0"] == "CT" else np.float32
        folder = "imagesTr" if i < n_cases else "imagesTs"
        _write_volume(
            case.image if dtype is np.float32 else np.round(case.image), case, root / folder / name, dtype
        )
        (root / folder / f"._{name}").write_bytes(b"\x00\x05\x16\x07" + rng.bytes(200))
        if i < n_cases:
            _write_volume(case.label, case, root / "labelsTr" / name, np.uint8)
            (root / "labelsTr" / f"._{name}").write_bytes(b"\x00\x05\x16\x07" + rng.bytes(200))
            training.append({"image": f"./imagesTr/{name}", "label": f"./labelsTr/{name}"})
        else:
            test.append(f"./imagesTs/{name}")
    write_json(
        {
            "name": task.split("_", 1)[1],
            "description": f"synthetic stand-in for MSD {task}",
            "reference": "synthetic",
            "licence": "CC-BY-SA 4.0",
            "release": "1.0",
            "tensorImageSize": "4D" if len(modality) > 1 else "3D",
            "modality": modality,
            "labels": labels,
            "numTraining": len(training),
            "numTest": len(test),
            "training": training,
            "test": test,
        },
        root / "dataset.json",
    )
    return root


def write_pancreas_ct_raw(
    out_dir: str | os.PathLike,
    n_patients: int = 3,
    seed: int = 0,
    size: tuple[int, int, int] = (48, 48, 24),
    *,
    flipped_labels: Sequence[int] = (1,),
) -> Path:
    """Write a TCIA Pancreas-CT-like tree under ``out_dir``; returns ``out_dir``.

    ``out_dir/Pancreas-CT/PANCREAS_000N/<study>/<series>/1-0KK.dcm`` (one CT series per patient)
    and ``out_dir/TCIA_pancreas_labels-02-05-2017/label000N.nii.gz`` (pancreas = 1). The labels of
    the patients whose index is in ``flipped_labels`` are stored with the slice axis reversed
    (same physical grid: origin at the last slice, slice direction negated).
    """
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    labels_dir = out_dir / "TCIA_pancreas_labels-02-05-2017"
    for i in range(n_patients):
        pid = f"{i + 1:04d}"
        case = synth_case("pancreas", rng, size)
        series_dir = (
            out_dir / "Pancreas-CT" / f"PANCREAS_{pid}" / f"11-24-2015-PANCREAS{pid}-Pancreas-{i + 101}"
        )
        series_dir = series_dir / f"Pancreas-{i + 201}"
        write_dicom_series(
            np.round(case.image).astype(np.int16), series_dir, spacing=case.spacing, origin=case.origin,
            direction=case.direction, file_names=[f"1-{k + 1:03d}.dcm" for k in range(size[2])], patient_id=f"PANCREAS_{pid}",
            study_uid=make_uid(rng), series_uid=make_uid(rng), rng=rng, modality="CT", description="Pancreas",
        )  # fmt: skip
        label = (case.label > 0).astype(np.uint8)
        image = image_from_array(label, case.spacing, case.origin, case.direction)
        if i in flipped_labels:
            last = image.TransformIndexToPhysicalPoint((0, 0, size[2] - 1))
            direction = np.asarray(case.direction, dtype=float).reshape(3, 3) * (1.0, 1.0, -1.0)
            image = image_from_array(label[:, :, ::-1], case.spacing, last, tuple(direction.flatten()))
        labels_dir.mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(image, str(labels_dir / f"label{pid}.nii.gz"))
    return out_dir


def write_kvasir_raw(
    out_dir: str | os.PathLike, n_images: int = 4, seed: int = 0, size: tuple[int, int] = (64, 48)
) -> Path:
    """Write a Kvasir-SEG-like folder ``out_dir/Kvasir-SEG`` with ``images/*.jpg`` and ``masks/*.jpg``; returns it.

    Pictures (``data_prep.synth.polyps``: mucosa, light, vessels, highlights, one or two polyps) are
    about (width, height) ``size``, varying per image, and named by Kvasir-like ids; the masks are
    JPEG too, so their edges hold grey values between 0 and 255. Every file is written atomically.
    """
    root = Path(out_dir) / "Kvasir-SEG"
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for picture in polyp_pictures(n_images, seed, tuple(size)):
        write_bytes(jpeg_bytes(picture.rgb), root / "images" / f"{picture.name}.jpg")
        mask = np.round(picture.mask * 255).astype(np.uint8)
        write_bytes(jpeg_bytes(mask), root / "masks" / f"{picture.name}.jpg")
    return root
