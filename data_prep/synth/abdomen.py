"""The ``"abdominal"`` phantom: a T2-like MR of an upper abdomen (CHAOS-style); see :mod:`data_prep.synth.phantoms`."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from .fields import (
    at_least,
    bias_field,
    blob,
    block_majority,
    block_mean,
    deformed_grid,
    disc,
    jitter,
    rician,
    scale,
    smooth_field,
    supersampling,
    unit_grid,
)

DEFORMATION = 0.08
"""Largest displacement of ``"realistic"`` cases in unit coordinates (4 % of the field of view)."""


def abdomen(
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
    spine = disc(grid, (body_c[0], body_c[1] + 0.45 * body_r[1] / 0.68), at_least((0.1, 0.1), size[:2]))
    aorta = disc(grid, (body_c[0] + 0.06, body_c[1] + 0.22), at_least((0.045, 0.045), size[:2], 1.0))
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
        radii = at_least(scale(rng, radii, 0.85, 1.15), size, 2.0)
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
        at_least(scale(rng, (0.07, 0.08, 0.14), 0.7, 1.3), size, 1.5),
        smooth_field(rng, signal.shape, nodes=3),
        amount=0.1,
    )
    stomach = blob(
        grid,
        jitter(rng, (0.22, -0.22, 0.32), 0.05),
        at_least(scale(rng, (0.2, 0.16, 0.22), 0.75, 1.25), size, 2.0),
        smooth_field(rng, signal.shape, nodes=4),
        amount=0.2,
    )
    for mask, name in ((gallbladder, "gallbladder"), (stomach, "stomach")):
        signal[mask & inner & (label == 0)] = tone[name]
