"""The ``"brain_tumour"`` phantom: four MR channels of a head with a glioma (MSD Task01-style); see
:mod:`data_prep.synth.phantoms`."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from .fields import (
    at_least,
    bias_field,
    blob,
    ellipsoid_distance,
    jitter,
    rician,
    scale,
    smooth_field,
    unit_grid,
)

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


def brain_tumour(rng: np.random.Generator, look: np.random.Generator, size: tuple[int, int, int]):
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
            at_least((0.06, 0.25, 0.12), size, 1.0),
        )
        | blob(
            grid,
            (head_c[0] + 0.09, head_c[1] - 0.05, head_c[2] + 0.1),
            at_least((0.06, 0.25, 0.12), size, 1.0),
        )
    ) & brain

    side = 1.0 if rng.uniform() < 0.5 else -1.0
    centre = (side * rng.uniform(0.2, 0.42), rng.uniform(-0.3, 0.3), rng.uniform(-0.2, 0.3))
    r_edema = float(rng.uniform(0.28, 0.4))
    r_core = r_edema * float(rng.uniform(0.5, 0.65))
    r_enh = r_core * float(rng.uniform(0.55, 0.75))
    edema = blob(grid, centre, at_least((r_edema,) * 3, size, 3.0), smooth_field(rng, size, 5), 0.25) & brain
    core_centre = jitter(rng, centre, 0.3 * (r_edema - r_core))
    core = (
        blob(grid, core_centre, at_least((r_core,) * 3, size, 2.0), smooth_field(rng, size, 5), 0.2) & edema
    )
    enhancing = blob(grid, core_centre, at_least((r_enh,) * 3, size, 1.5)) & core
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
