"""Synthetic 3D phantoms with plausible anatomy, for tests, demos and benchmarks.

``synth_case(task, rng, size)`` draws one case of a task:

- ``"abdominal"``: T2-like MR (CHAOS-style) of an upper abdomen: body ellipse with a subcutaneous fat
  ring, spine, aorta, paraspinal muscles, textured bowel, and the labelled organs at sensible places
  (liver large on the patient's right, spleen on the left, kidneys posterior); multiplicative smooth
  bias field and Rician noise. Labels 1 liver, 2 right_kidney, 3 left_kidney, 4 spleen.
- ``"pancreas"``: contrast CT in Hounsfield units (MSD Task07-style): air -1000, fat about -100,
  soft tissue about 40, a curved pancreas about 100 from head (patient's right) to tail, and often
  a small hypodense tumour (about 20 HU) inside it. Labels 1 pancreas, 2 tumour.
- ``"brain_tumour"``: four MR channels FLAIR, T1w, t1gd, T2w (MSD Task01 order) of a head: scalp,
  skull, CSF, grey and white matter, ventricles and a glioma of nested regions: edema (1) holds a
  non-enhancing core (2) that holds an enhancing tumour (3); edema is bright in FLAIR/T2, enhancing
  tumour bright in T1Gd.

Axes are (x, y, z) with identity direction in ITK's LPS world: x grows to the patient's left,
y to posterior, z to superior. Shapes are drawn in unit coordinates ([-1, 1] over the field of
view), so a case works at any size from 32^3 up; the smallest structures are kept at least about
1.5 voxels in radius. Each case varies organ size, position and intensities; ``appearance_rng``
lets two cases share one anatomy (two series of one patient) with different intensities and noise.

``difficulty="realistic"`` (``abdominal``) makes cases harder in the ways real scans are, for accuracy
benchmarks (:data:`DIFFICULTIES`); the default ``"standard"`` stays easy enough for a demo to learn in a few
short epochs. ``spacing=`` writes a given voxel spacing (e.g. thick slices) instead of the drawn one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .abdomen import DEFORMATION, abdomen
from .brain import brain_tumour
from .pancreas import pancreas

__all__ = [
    "DEFORMATION",
    "DIFFICULTIES",
    "REALISTIC_TASKS",
    "TASKS",
    "TASK_LABELS",
    "SynthCase",
    "synth_case",
]

IDENTITY_DIRECTION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

TASK_LABELS = {
    "abdominal": {"0": "background", "1": "liver", "2": "right_kidney", "3": "left_kidney", "4": "spleen"},
    "pancreas": {"0": "background", "1": "pancreas", "2": "tumour"},
    "brain_tumour": {"0": "background", "1": "edema", "2": "non_enhancing_tumour", "3": "enhancing_tumour"},
}
TASK_MODALITY = {
    "abdominal": {"0": "MR"},
    "pancreas": {"0": "CT"},
    "brain_tumour": {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"},
}
TASKS = tuple(TASK_LABELS)

DIFFICULTIES = ("standard", "realistic")
"""``synth_case(difficulty=...)``. ``"realistic"`` (``abdominal``) adds what makes real scans harder than the
standard phantom: the whole case deformed by a smooth random displacement (anatomy varies beyond organ
size and place; :data:`DEFORMATION`), partial volume (rendered on a finer grid, :func:`~data_prep.synth.fields.supersampling`,
then averaged into voxels, so boundary voxels mix tissues; labels take the tissue that fills most of a
voxel), a bias field twice as strong, more noise, organ contrasts that overlap their neighbours' (spleen
and kidneys alike, liver near muscle, textured bowel spanning all of them, per-case tone shifts larger
than the gaps) and unlabelled look-alikes (a bright gallbladder against the liver, a fluid-filled stomach
next to the spleen)."""
REALISTIC_TASKS = ("abdominal",)


@dataclass
class SynthCase:
    """One synthetic case: voxels, labels and the geometry to write them with."""

    image: np.ndarray  # float32 (x, y, z) or (x, y, z, C)
    label: np.ndarray  # uint8 (x, y, z)
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...] = IDENTITY_DIRECTION
    labels: dict[str, str] = field(default_factory=dict)
    modality: dict[str, str] = field(default_factory=dict)


def synth_case(
    task: str,
    rng: np.random.Generator,
    size: tuple[int, int, int] = (48, 48, 32),
    *,
    appearance_rng: np.random.Generator | None = None,
    difficulty: str = "standard",
    spacing: tuple[float, float, float] | None = None,
) -> SynthCase:
    """Draw one synthetic case of ``task`` (``"abdominal"``, ``"pancreas"`` or ``"brain_tumour"``).

    Args:
        task: which phantom; see the module docstring.
        rng: random generator for the anatomy (and, without ``appearance_rng``, the appearance).
        size: volume size (x, y, z), each at least 16 (32 or more recommended).
        appearance_rng: optional separate generator for intensities, bias field and noise, so
            that one anatomy can be imaged twice.
        difficulty: ``"standard"`` (the default: clean contrasts that a network learns in a few short
            epochs, for demos and smoke tests) or ``"realistic"`` (``abdominal`` only; see
            :data:`DIFFICULTIES`): deformed anatomy, partial volume, a strong bias field and organ
            intensities that overlap their neighbours'.
        spacing: voxel spacing (mm) written for the case instead of the task's drawn one. The anatomy
            fills the field of view whatever the spacing, so a thick-slice scan is fewer slices with a
            larger z spacing, e.g. ``size=(160, 160, 32), spacing=(1.5, 1.5, 6.0)``.

    Returns:
        A :class:`SynthCase` with float32 ``image`` ((x, y, z, 4) for ``brain_tumour``), uint8
        ``label``, spacing, origin, direction, ``labels`` and ``modality``.

    Example:
        >>> case = synth_case("abdominal", np.random.default_rng(0), (48, 48, 32))
        >>> case.image.shape, sorted(np.unique(case.label).tolist())
        ((48, 48, 32), [0, 1, 2, 3, 4])
    """
    if task not in _BUILDERS:
        raise ValueError(f"unknown synthetic task {task!r}; choose one of {', '.join(TASKS)}")
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"unknown difficulty {difficulty!r}; choose one of {', '.join(DIFFICULTIES)}")
    if difficulty != "standard" and task not in REALISTIC_TASKS:
        raise ValueError(
            f"difficulty {difficulty!r} exists for {', '.join(REALISTIC_TASKS)} only, not {task!r}"
        )
    size = tuple(int(s) for s in size)
    if len(size) != 3 or min(size) < 16:
        raise ValueError(f"size must be three numbers >= 16, got {size}")
    if spacing is not None:
        spacing = tuple(float(s) for s in spacing)
        if len(spacing) != 3 or not all(np.isfinite(spacing)) or min(spacing) <= 0:
            raise ValueError(f"spacing must be three positive numbers (mm), got {spacing}")
    options = {"realistic": True} if difficulty == "realistic" else {}
    image, label, drawn_spacing = _BUILDERS[task](rng, appearance_rng or rng, size, **options)
    spacing = spacing or drawn_spacing
    half_extent = [(n - 1) * s / 2.0 for n, s in zip(size, spacing, strict=True)]
    origin = tuple(round(-h + float(rng.uniform(-5, 5)), 3) for h in half_extent)
    return SynthCase(
        image=image.astype(np.float32, copy=False),
        label=label.astype(np.uint8, copy=False),
        spacing=spacing,
        origin=origin,
        labels=dict(TASK_LABELS[task]),
        modality=dict(TASK_MODALITY[task]),
    )


_BUILDERS: dict[str, Callable] = {
    "abdominal": abdomen,
    "pancreas": pancreas,
    "brain_tumour": brain_tumour,
}
