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
from scipy.ndimage import gaussian_filter

from data_prep.synth.fields import (
    bias_field,
    blob,
    block_majority,
    block_mean,
    deformed_grid,
    ellipsoid_distance,
    jitter,
    rician,
    scale,
    smooth_field,
    supersampling,
    unit_grid,
)

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
DEFORMATION = 0.08
"""Largest displacement of ``"realistic"`` cases in unit coordinates (4 % of the field of view)."""


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


def _min_radius(size: tuple[int, int, int], voxels: float = 1.5) -> np.ndarray:
    """Per-axis radius in unit coordinates that spans ``voxels`` voxels."""
    return np.array([2.0 * voxels / n for n in size], dtype=np.float32)


def _at_least(radii: tuple[float, ...], size: tuple[int, int, int], voxels: float = 1.5) -> tuple[float, ...]:
    return tuple(float(r) for r in np.maximum(np.array(radii), _min_radius(size, voxels)))


def _disc(grid, centre_xy: tuple[float, float], radius_xy: tuple[float, float]) -> np.ndarray:
    """A cylinder along z (spine, aorta): ellipse in the axial plane, every slice."""
    x, y, _ = grid
    return ((x - centre_xy[0]) / radius_xy[0]) ** 2 + ((y - centre_xy[1]) / radius_xy[1]) ** 2 < 1.0


def _abdominal(
    rng: np.random.Generator, look: np.random.Generator, size: tuple[int, int, int], realistic: bool = False
):
    inplane = float(rng.uniform(1.3, 1.7))
    spacing = (round(inplane, 4), round(inplane, 4), float(rng.choice([2.5, 3.0, 3.0, 3.5])))
    if realistic:  # drawn on a finer grid (partial volume), the whole grid deformed (anatomical variation)
        factors = supersampling(size)
        fine = tuple(n * f for n, f in zip(size, factors, strict=True))
        grid = deformed_grid(rng, fine, DEFORMATION)
    else:
        fine, grid = size, unit_grid(size)
    x, y, _ = grid
    body_r = (float(rng.uniform(0.82, 0.92)), float(rng.uniform(0.62, 0.72)))
    body_c = (float(rng.uniform(-0.03, 0.03)), float(rng.uniform(0.0, 0.05)))
    wobble = smooth_field(rng, fine, nodes=4)
    body_d = np.sqrt(((x - body_c[0]) / body_r[0]) ** 2 + ((y - body_c[1]) / body_r[1]) ** 2) + 0.03 * wobble
    body = np.broadcast_to(body_d < 1.0, fine)
    inner = np.broadcast_to(body_d < 1.0 - float(rng.uniform(0.08, 0.13)), fine)
    spine = _disc(grid, (body_c[0], body_c[1] + 0.45 * body_r[1] / 0.68), _at_least((0.1, 0.1), size[:2]))
    aorta = _disc(grid, (body_c[0] + 0.06, body_c[1] + 0.22), _at_least((0.045, 0.045), size[:2], 1.0))
    muscle = (
        blob(grid, (body_c[0] - 0.17, 0.6, 0.0), (0.12, 0.1, 5.0))
        | blob(grid, (body_c[0] + 0.17, 0.6, 0.0), (0.12, 0.1, 5.0))
    ) & inner
    bowel_texture = smooth_field(rng, fine, nodes=7)

    organs = {
        1: ((-0.38, -0.05, 0.3), (0.42, 0.45, 0.6)),  # liver: right upper quadrant, large
        4: ((0.52, 0.28, 0.35), (0.16, 0.22, 0.32)),  # spleen: left, posterior-lateral, high
        2: ((-0.32, 0.4, -0.2), (0.13, 0.14, 0.32)),  # right kidney: posterior, lower than the left
        3: ((0.32, 0.4, -0.1), (0.13, 0.14, 0.32)),  # left kidney
    }
    label = np.zeros(fine, dtype=np.uint8)
    centres = {}
    for value, (centre, radii) in organs.items():
        centre = jitter(rng, centre, 0.05)
        centres[value] = centre
        radii = _at_least(scale(rng, radii, 0.85, 1.15), size, 2.0)
        mask = (
            blob(grid, centre, radii, smooth_field(rng, fine, nodes=4), amount=0.15)
            & inner
            & ~spine
            & ~muscle
        )
        label[mask] = value

    tone = {  # T2 SPIR-like contrasts (fat suppressed), relative units
        "fat": 0.2, "muscle": 0.3, "bowel": 0.5, "spine": 0.15, "aorta": 0.06,
        1: 0.36, 2: 0.85, 3: 0.85, 4: 0.7,
    }  # fmt: skip
    if realistic:
        tone.update(_REALISTIC_TONES)
    spread = 0.06 if realistic else 0.03
    tone = {k: v + float(look.uniform(-spread, spread)) for k, v in tone.items()}
    signal = np.zeros(fine, dtype=np.float32)
    signal[body] = tone["fat"]
    texture = 0.2 if realistic else 0.08
    signal[inner] = tone["bowel"] + texture * bowel_texture[inner]
    signal[muscle] = tone["muscle"]
    signal[spine & inner] = tone["spine"]
    signal[aorta & inner] = tone["aorta"]
    if realistic:
        _paint_look_alikes(rng, grid, size, signal, label, inner, centres, tone)
    for value in (1, 2, 3, 4):
        signal[label == value] = tone[value]
    if realistic:  # vessels and parenchyma: organs are not flat
        organ_texture = smooth_field(rng, fine, nodes=9)
        signal[label > 0] += 0.05 * organ_texture[label > 0]
        signal = block_mean(signal, factors)
        label = block_majority(label, factors, n_labels=5)
    signal = gaussian_filter(signal, sigma=0.6)
    gain = float(look.uniform(300.0, 900.0))
    signal = signal * bias_field(look, size, strength=0.5 if realistic else 0.25) * gain
    noise = float(look.uniform(0.03, 0.06)) if realistic else 0.03
    return rician(look, signal, sigma=noise * gain), label, spacing


_REALISTIC_TONES = {  # neighbours that look alike: spleen ~ kidneys ~ stomach fluid, liver ~ muscle
    "muscle": 0.32, "bowel": 0.48, "gallbladder": 0.95, "stomach": 0.66,
    1: 0.38, 2: 0.72, 3: 0.72, 4: 0.64,
}  # fmt: skip


def _paint_look_alikes(rng, grid, size, signal, label, inner, centres, tone) -> None:
    """Unlabelled structures with organ-like intensities next to the organs: a gallbladder under the
    liver (brighter) and a fluid-filled stomach between the liver and the spleen (as bright as the spleen
    and kidneys). They take background voxels only."""
    liver = centres[1]
    gallbladder = blob(
        grid,
        jitter(rng, (liver[0] + 0.2, liver[1] - 0.25, liver[2] - 0.3), 0.04),
        _at_least(scale(rng, (0.07, 0.08, 0.14), 0.7, 1.3), size, 1.5),
        smooth_field(rng, signal.shape, nodes=3),
        amount=0.1,
    )
    stomach = blob(
        grid,
        jitter(rng, (0.22, -0.22, 0.32), 0.05),
        _at_least(scale(rng, (0.2, 0.16, 0.22), 0.75, 1.25), size, 2.0),
        smooth_field(rng, signal.shape, nodes=4),
        amount=0.2,
    )
    for mask, name in ((gallbladder, "gallbladder"), (stomach, "stomach")):
        signal[mask & inner & (label == 0)] = tone[name]


def _pancreas_curve(rng: np.random.Generator, size: tuple[int, int, int], points: int = 16):
    """Points and radii along the pancreas: head (patient's right) -> body (midline, anterior) -> tail (left)."""
    z0 = float(rng.uniform(-0.15, 0.15))
    head = np.array([rng.uniform(-0.3, -0.18), rng.uniform(0.0, 0.1), z0 - 0.1])
    bend = np.array([rng.uniform(-0.05, 0.05), rng.uniform(-0.15, -0.05), z0])
    tail = np.array([rng.uniform(0.3, 0.42), rng.uniform(0.15, 0.25), z0 + rng.uniform(0.05, 0.2)])
    t = np.linspace(0.0, 1.0, points)[:, None]
    centres = (1 - t) ** 2 * head + 2 * (1 - t) * t * bend + t**2 * tail
    thickness = float(rng.uniform(0.85, 1.2))
    radii = np.stack([0.13 - 0.055 * t[:, 0]] * 2 + [np.full(points, 0.2)], axis=1) * thickness
    return centres, np.maximum(radii, _min_radius(size, 1.5)[None, :])


def _pancreas(rng: np.random.Generator, look: np.random.Generator, size: tuple[int, int, int]):
    grid = unit_grid(size)
    x, y, z = grid
    inplane = float(rng.uniform(0.7, 0.95))
    spacing = (round(inplane, 4), round(inplane, 4), float(rng.choice([2.0, 2.5, 2.5, 3.0])))
    body_r = (float(rng.uniform(0.85, 0.93)), float(rng.uniform(0.64, 0.72)))
    body_d = np.sqrt((x / body_r[0]) ** 2 + ((y - 0.03) / body_r[1]) ** 2) + 0.03 * smooth_field(rng, size, 4)
    body = np.broadcast_to(body_d < 1.0, size)
    inner = np.broadcast_to(body_d < 1.0 - float(rng.uniform(0.07, 0.14)), size)
    spine = _disc(grid, (0.0, 0.45), _at_least((0.11, 0.11), size[:2]))
    aorta = _disc(grid, (0.05, 0.24), _at_least((0.055, 0.055), size[:2], 1.0))
    liver = blob(
        grid,
        jitter(rng, (-0.45, -0.05, 0.35), 0.05),
        scale(rng, (0.4, 0.45, 0.7)),
        smooth_field(rng, size, 4),
    )
    kidneys = blob(grid, jitter(rng, (-0.38, 0.42, -0.2), 0.04), (0.13, 0.14, 0.3)) | blob(
        grid, jitter(rng, (0.38, 0.42, -0.1), 0.04), (0.13, 0.14, 0.3)
    )
    visceral_fat = smooth_field(rng, size, nodes=8) > 0.35

    centres, radii = _pancreas_curve(rng, size)
    distance = np.full(size, np.inf, dtype=np.float32)
    for c, r in zip(centres, radii, strict=True):
        d = np.sqrt(((x - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((z - c[2]) / r[2]) ** 2)
        np.minimum(distance, d, out=distance)
    pancreas = (distance + 0.2 * smooth_field(rng, size, nodes=5) < 1.0) & inner & ~aorta & ~spine
    label = np.zeros(size, dtype=np.uint8)
    label[pancreas] = 1
    if rng.uniform() < 0.75:  # a hypodense tumour in the head or body
        k = int(rng.integers(1, len(centres) * 2 // 3))
        tumour_r = _at_least(tuple(radii[k] * rng.uniform(0.45, 0.7)), size, 1.5)
        centre = tuple(centres[k] + rng.uniform(-0.3, 0.3, 3) * radii[k])
        label[blob(grid, centre, tumour_r) & pancreas] = 2

    hu = {"fat": -100.0, "soft": 40.0, "visceral_fat": -90.0, "bone": 450.0, "aorta": 180.0, "liver": 65.0,
          "kidney": 160.0, "pancreas": 100.0, "tumour": 20.0}  # fmt: skip
    hu = {k: v + float(look.uniform(-8, 8)) for k, v in hu.items()}
    signal = np.full(size, -1000.0, dtype=np.float32)
    signal[body] = hu["fat"]
    signal[inner] = hu["soft"]
    signal[inner & visceral_fat] = hu["visceral_fat"]
    signal[liver & inner] = hu["liver"]
    signal[kidneys & inner] = hu["kidney"]
    signal[spine & inner] = hu["bone"]
    signal[aorta & inner] = hu["aorta"]
    signal[label == 1] = hu["pancreas"]
    signal[label == 2] = hu["tumour"]
    signal = gaussian_filter(signal, sigma=0.7)
    signal += look.normal(0.0, look.uniform(8.0, 15.0), size).astype(np.float32)
    return np.clip(signal, -1024.0, 3071.0), label, spacing


#: brain tissue contrasts per channel (FLAIR, T1w, t1gd, T2w), relative units
_BRAIN_TONES = {
    "scalp": (0.55, 0.9, 0.9, 0.6),
    "skull": (0.05, 0.05, 0.05, 0.05),
    "csf": (0.08, 0.15, 0.15, 1.0),
    "grey": (0.55, 0.45, 0.45, 0.55),
    "white": (0.45, 0.65, 0.65, 0.4),
    1: (0.95, 0.38, 0.4, 0.85),  # edema: bright in FLAIR and T2
    2: (0.7, 0.28, 0.3, 0.7),  # non-enhancing core
    3: (0.75, 0.4, 1.1, 0.6),  # enhancing tumour: bright in T1Gd
}


def _brain_tumour(rng: np.random.Generator, look: np.random.Generator, size: tuple[int, int, int]):
    grid = unit_grid(size)
    spacing = (1.0, 1.0, 1.0)
    head_r = scale(rng, (0.82, 0.92, 0.85), 0.93, 1.05)
    head_c = jitter(rng, (0.0, 0.0, 0.0), 0.04)
    d = ellipsoid_distance(grid, head_c, head_r) + 0.02 * smooth_field(rng, size, 4)
    head, inside_skull = d < 1.0, d < 0.93
    brain = d + 0.03 * smooth_field(rng, size, 5) < 0.87
    white = brain & (d + 0.05 * smooth_field(rng, size, 6) < 0.7)
    ventricles = (
        blob(
            grid,
            (head_c[0] - 0.09, head_c[1] - 0.05, head_c[2] + 0.1),
            _at_least((0.06, 0.25, 0.12), size, 1.0),
        )
        | blob(
            grid,
            (head_c[0] + 0.09, head_c[1] - 0.05, head_c[2] + 0.1),
            _at_least((0.06, 0.25, 0.12), size, 1.0),
        )
    ) & brain

    side = 1.0 if rng.uniform() < 0.5 else -1.0
    centre = (side * rng.uniform(0.2, 0.42), rng.uniform(-0.3, 0.3), rng.uniform(-0.2, 0.3))
    r_edema = float(rng.uniform(0.28, 0.4))
    r_core = r_edema * float(rng.uniform(0.5, 0.65))
    r_enh = r_core * float(rng.uniform(0.55, 0.75))
    edema = blob(grid, centre, _at_least((r_edema,) * 3, size, 3.0), smooth_field(rng, size, 5), 0.25) & brain
    core_centre = jitter(rng, centre, 0.3 * (r_edema - r_core))
    core = (
        blob(grid, core_centre, _at_least((r_core,) * 3, size, 2.0), smooth_field(rng, size, 5), 0.2) & edema
    )
    enhancing = blob(grid, core_centre, _at_least((r_enh,) * 3, size, 1.5)) & core
    label = np.zeros(size, dtype=np.uint8)
    label[edema] = 1
    label[core] = 2
    label[enhancing] = 3

    bias = bias_field(look, size, strength=0.2)
    channels = []
    for c in range(4):
        tone = {k: v[c] * float(look.uniform(0.93, 1.07)) for k, v in _BRAIN_TONES.items()}
        signal = np.zeros(size, dtype=np.float32)
        signal[head] = tone["scalp"]
        signal[inside_skull] = tone["skull"]
        signal[inside_skull & (d < 0.9)] = tone["csf"]
        signal[brain] = tone["grey"]
        signal[white] = tone["white"]
        signal[ventricles] = tone["csf"]
        for value in (1, 2, 3):
            signal[label == value] = tone[value]
        signal = gaussian_filter(signal, sigma=0.6)
        gain = float(look.uniform(300.0, 1200.0))
        channels.append(rician(look, signal * bias * gain, sigma=0.025 * gain))
    return np.stack(channels, axis=-1), label, spacing


_BUILDERS: dict[str, Callable] = {
    "abdominal": _abdominal,
    "pancreas": _pancreas,
    "brain_tumour": _brain_tumour,
}
