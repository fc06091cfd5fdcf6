"""The ``"pancreas"`` phantom: a contrast CT in Hounsfield units (MSD Task07-style); see
:mod:`data_prep.synth.phantoms`."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from .fields import (
    at_least,
    blob,
    disc,
    jitter,
    min_radius,
    scale,
    smooth_field,
    unit_grid,
)


def pancreas_curve(rng: np.random.Generator, size: tuple[int, int, int], points: int = 16):
    """Points and radii along the pancreas: head (patient's right) -> body (midline, anterior) -> tail (left)."""
    z0 = float(rng.uniform(-0.15, 0.15))
    head = np.array([rng.uniform(-0.3, -0.18), rng.uniform(0.0, 0.1), z0 - 0.1])
    bend = np.array([rng.uniform(-0.05, 0.05), rng.uniform(-0.15, -0.05), z0])
    tail = np.array([rng.uniform(0.3, 0.42), rng.uniform(0.15, 0.25), z0 + rng.uniform(0.05, 0.2)])
    t = np.linspace(0.0, 1.0, points)[:, None]
    centres = (1 - t) ** 2 * head + 2 * (1 - t) * t * bend + t**2 * tail
    thickness = float(rng.uniform(0.85, 1.2))
    radii = np.stack([0.13 - 0.055 * t[:, 0]] * 2 + [np.full(points, 0.2)], axis=1) * thickness
    return centres, np.maximum(radii, min_radius(size, 1.5)[None, :])


def pancreas(rng: np.random.Generator, look: np.random.Generator, size: tuple[int, int, int]):
    grid = unit_grid(size)
    x, y, z = grid
    inplane = float(rng.uniform(0.7, 0.95))
    spacing = (round(inplane, 4), round(inplane, 4), float(rng.choice([2.0, 2.5, 2.5, 3.0])))
    body_r = (float(rng.uniform(0.85, 0.93)), float(rng.uniform(0.64, 0.72)))
    body_d = np.sqrt((x / body_r[0]) ** 2 + ((y - 0.03) / body_r[1]) ** 2) + 0.03 * smooth_field(rng, size, 4)
    body = np.broadcast_to(body_d < 1.0, size)
    inner = np.broadcast_to(body_d < 1.0 - float(rng.uniform(0.07, 0.14)), size)
    spine = disc(grid, (0.0, 0.45), at_least((0.11, 0.11), size[:2]))
    aorta = disc(grid, (0.05, 0.24), at_least((0.055, 0.055), size[:2], 1.0))
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

    centres, radii = pancreas_curve(rng, size)
    distance = np.full(size, np.inf, dtype=np.float32)
    for c, r in zip(centres, radii, strict=True):
        d = np.sqrt(((x - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((z - c[2]) / r[2]) ** 2)
        np.minimum(distance, d, out=distance)
    pancreas = (distance + 0.2 * smooth_field(rng, size, nodes=5) < 1.0) & inner & ~aorta & ~spine
    label = np.zeros(size, dtype=np.uint8)
    label[pancreas] = 1
    if rng.uniform() < 0.75:  # a hypodense tumour in the head or body
        k = int(rng.integers(1, len(centres) * 2 // 3))
        tumour_r = at_least(tuple(radii[k] * rng.uniform(0.45, 0.7)), size, 1.5)
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
