"""DICOM series of synthetic volumes, as scanners write them: one file per slice with the tags a reader needs
(Patient/Study/Series UIDs, ImagePositionPatient, an oblique ImageOrientationPatient, anisotropic
PixelSpacing), for the raw layouts (:mod:`data_prep.synth.raw_layouts`) and the tests of the DICOM readers."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..io import image_from_array

__all__ = ["make_uid", "oblique_direction", "write_dicom_series"]

_SOP_CLASS = {"MR": "1.2.840.10008.5.1.4.1.1.4", "CT": "1.2.840.10008.5.1.4.1.1.2"}


def make_uid(rng: np.random.Generator) -> str:
    """A DICOM UID under the ``2.25`` (UUID-derived) root, drawn from ``rng``."""
    return "2.25." + str(int.from_bytes(rng.bytes(15), "big"))


def oblique_direction(rng: np.random.Generator, max_degrees: float = 25.0) -> tuple[float, ...]:
    """A rotation (9 floats, row-major) of 10..``max_degrees`` degrees about a random axis."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = np.deg2rad(rng.uniform(10.0, max_degrees))
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)
    return tuple(float(v) for v in rotation.flatten())


def _ds(values: Sequence[float]) -> str:
    """DICOM decimal strings (at most 16 characters each), backslash separated."""
    return "\\".join(f"{v:.10g}"[:16] for v in values)


def write_dicom_series(
    volume: np.ndarray,
    folder: str | os.PathLike,
    *,
    spacing: Sequence[float],
    origin: Sequence[float],
    direction: Sequence[float],
    file_names: Sequence[str],
    patient_id: str,
    study_uid: str,
    series_uid: str,
    rng: np.random.Generator,
    modality: str = "MR",
    description: str = "",
    series_number: int = 1,
    extra_tags: dict[str, str] | None = None,
) -> list[Path]:
    """Write ``volume`` (x, y, z; int16 or uint16) as one DICOM file per slice, slice ``k`` to ``file_names[k]``.

    ImagePositionPatient of slice ``k`` is ``origin + k * spacing[2] * normal``; the
    orientation is the first two columns of ``direction`` (row-major 3x3). Returns the paths.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if len(file_names) != volume.shape[2]:
        raise ValueError(f"{len(file_names)} file names for {volume.shape[2]} slices")
    image = image_from_array(volume, spacing, origin, direction)
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    orientation = _ds([*d[:, 0], *d[:, 1]])
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    paths = []
    for k, name in enumerate(file_names):
        slice_2d = image[:, :, k]
        position = image.TransformIndexToPhysicalPoint((0, 0, k))
        tags = {
            "0008|0008": "ORIGINAL\\PRIMARY\\AXIAL",
            "0008|0016": _SOP_CLASS.get(modality, _SOP_CLASS["MR"]),
            "0008|0018": make_uid(rng),
            "0008|0060": modality,
            "0008|103e": description,
            "0010|0010": f"anon^{patient_id}",
            "0010|0020": patient_id,
            "0018|0050": _ds([spacing[2]]),
            "0018|0088": _ds([spacing[2]]),
            "0020|000d": study_uid,
            "0020|000e": series_uid,
            "0020|0011": str(series_number),
            "0020|0013": str(k + 1),
            "0020|0032": _ds(position),
            "0020|0037": orientation,
            "0028|0030": _ds([spacing[1], spacing[0]]),  # row spacing (y), column spacing (x)
            **(extra_tags or {}),
        }
        for tag, value in tags.items():
            slice_2d.SetMetaData(tag, value)
        path = folder / name
        writer.SetFileName(str(path))
        writer.Execute(slice_2d)
        paths.append(path)
    return paths
