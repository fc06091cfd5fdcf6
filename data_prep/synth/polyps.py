"""Synthetic colonoscopy pictures with polyps, like Kvasir-SEG's, for demos, tests and benchmarks.

``polyp_pictures(n, seed, size)`` draws ``n`` pictures (RGB uint8, rows x cols x 3) with a soft polyp
mask each. A picture holds what makes real ones hard to segment by colour alone:

- mucosa: a reddish-pink base colour (drawn per picture) with a faint mottled texture;
- light: the endoscope's lamp lights the centre and falls off towards the edges (vignetting), the
  lumen is a dark hole (often off-centre), and haustral folds make soft bright and dark arcs around it;
- vessels: branching darker lines (the zero level set of a smooth random field), fading in and out;
- the polyp: one (sometimes two) irregular blob(s), an ellipse whose boundary is pushed in and out by
  low-order harmonics and smooth noise, 5-35 % of the picture; its colour is the mucosa's, tinted paler
  or redder, so the two overlap in every channel, but its surface differs: a coarser, bumpy
  pit-pattern texture, no vessels, dome shading towards the light and a soft shadow along its rim;
- specular highlights: small saturated white spots on mucosa, more of them near the polyp's apex;
- the frame: often a black border with cut corners, as endoscope pictures have, sometimes with a
  scope-guide inset in the lower left corner (the mask is empty under both).

Each picture's size is the requested (width, height) scaled by 0.9-1.1, as Kvasir's sizes vary.
Picture ``i`` depends on ``seed`` and ``i`` only (one ``SeedSequence`` child each), so ``n=10`` writes the
first ten pictures of ``n=100``. Everything is vectorised numpy: a 256 x 256 picture takes milliseconds.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .fields import fractal_noise, smooth_noise

#: (width, height) of ``python -m data_prep synth kvasir-raw`` pictures when ``--size`` is not given
KVASIR_SIZE = (256, 256)
#: the smallest width or height that still holds a polyp, highlights and a frame
MIN_SIDE = 32
#: JPEG quality of pictures and masks (Kvasir-SEG ships both as JPEG)
JPEG_QUALITY = 90
#: bounds of the polyp's share of the picture; a draw outside them is drawn again
COVERAGE = (0.05, 0.38)

_ALPHABET = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))


@dataclass(frozen=True)
class PolypPicture:
    """One synthetic picture: its Kvasir-like id, the RGB pixels and the soft polyp mask."""

    name: str  # e.g. "cju0qkwl35piu0993l0dewei2"
    rgb: np.ndarray  # (rows, cols, 3) uint8
    mask: np.ndarray  # (rows, cols) float32 in [0, 1]; polyp where >= 0.5


def kvasir_id(rng: np.random.Generator) -> str:
    """A 25-character id like Kvasir-SEG's file stems ("cju" and 22 base-36 characters)."""
    return "cju" + "".join(rng.choice(_ALPHABET, 22))


def picture_size(rng: np.random.Generator, size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of one picture: ``size`` scaled by 0.9-1.1, the aspect ratio jittered by 5 %."""
    scale, aspect = rng.uniform(0.9, 1.1), rng.uniform(0.95, 1.05)
    return max(MIN_SIDE, round(size[0] * scale * aspect)), max(MIN_SIDE, round(size[1] * scale / aspect))


class _Canvas:
    """Pixel coordinates of one picture: ``x``, ``y`` in units of half the shorter side, centre 0."""

    def __init__(self, width: int, height: int):
        self.shape = (height, width)
        self.half = min(width, height) / 2.0
        self.y = ((np.arange(height, dtype=np.float32) + 0.5 - height / 2) / self.half)[:, None]
        self.x = ((np.arange(width, dtype=np.float32) + 0.5 - width / 2) / self.half)[None, :]
        self.extent = (width / 2 / self.half, height / 2 / self.half)  # x and y of the picture's edges


def _frame(rng: np.random.Generator, c: _Canvas) -> tuple[np.ndarray, tuple[slice, slice] | None]:
    """Where the scene shows (bool): everywhere, or (60 %) inside a black border with cut corners; and the
    scope guide's box in the lower left corner (40 % of framed pictures) as (rows, cols) slices, or None."""
    inside = np.ones(c.shape, dtype=bool)
    box = None
    if rng.random() < 0.6:
        u, v = np.abs(c.x) / c.extent[0], np.abs(c.y) / c.extent[1]  # [0, 1] at the edges
        side = rng.uniform(0.0, 0.06)
        inside = (u <= 1.0 - side) & (v <= 1.0) & (u + v <= rng.uniform(1.45, 1.8))
        if rng.random() < 0.4:
            rows, cols = c.shape
            box_h, box_w = int(rows * rng.uniform(0.18, 0.26)), int(cols * rng.uniform(0.18, 0.26))
            box = (slice(rows - box_h, rows), slice(0, box_w))
            inside[box] = False
    return inside, box


def _paint_frame(
    rng: np.random.Generator, rgb: np.ndarray, outside: np.ndarray, box: tuple[slice, slice] | None
) -> None:
    """Paint the border near-black, and a green scope-guide curve (the endoscope's shape) in ``box``."""
    rgb[outside] = rng.uniform(0.0, 6.0, (int(outside.sum()), 3))
    if box is None:
        return
    patch = rgb[box]
    rows, cols = patch.shape[:2]
    r = np.arange(rows, dtype=np.float32)[:, None]
    t = np.linspace(0.1, 0.9, cols, dtype=np.float32)[None, :]
    curve = rows * (0.5 + 0.3 * np.sin(2.5 * np.pi * t + rng.uniform(0, 2 * np.pi)))
    on = (np.abs(r - curve) < max(1.0, rows * 0.06)) & (t > 0.15) & (t < 0.85)
    patch[on] = (40.0, 190.0, 70.0)


def _polyp_shape(
    rng: np.random.Generator, c: _Canvas, fraction: float, centre: np.ndarray
) -> tuple[np.ndarray, float]:
    """Normalised distance of an irregular blob (< 1 inside) of about ``fraction`` of the picture, and its
    mean radius in canvas units.

    An ellipse (aspect 0.6-1, any angle) whose radius follows ``1 + sum_k a_k cos(k phi + p_k)``, k = 2..5,
    plus smooth noise on the distance, so the boundary is irregular but smooth.
    """
    aspect = rng.uniform(0.6, 1.0)
    radius = _radius(c, fraction)
    a, b = radius / np.sqrt(aspect), radius * np.sqrt(aspect)
    angle = rng.uniform(0, np.pi)
    dx, dy = c.x - centre[0], c.y - centre[1]
    along = dx * np.cos(angle) + dy * np.sin(angle)
    across = -dx * np.sin(angle) + dy * np.cos(angle)
    phi = np.arctan2(across / b, along / a)
    wobble = 1.0 + sum(
        rng.uniform(0.0, 0.14) / k * np.cos(k * phi + rng.uniform(0, 2 * np.pi)) for k in range(2, 6)
    )
    distance = np.sqrt((along / a) ** 2 + (across / b) ** 2) / wobble
    distance = distance + 0.07 * smooth_noise(rng, c.shape, 7)
    return distance.astype(np.float32), radius


def _polyps(
    rng: np.random.Generator, c: _Canvas, inside: np.ndarray
) -> list[tuple[np.ndarray, float, np.ndarray]]:
    """One polyp (85 %) or two apart, as (distance, radius, centre), covering :data:`COVERAGE` of the picture.

    A draw whose two polyps would touch, or whose visible share falls outside :data:`COVERAGE` (a polyp
    half out of the frame), is drawn again.
    """
    count = 1 if rng.random() < 0.85 else 2
    for _ in range(200):
        total = rng.uniform(0.05, 0.35 if count == 1 else 0.3)
        shares = [total] if count == 1 else [total * (s := rng.uniform(0.55, 0.75)), total * (1 - s)]
        centres = (rng.uniform(-0.6, 0.6, (len(shares), 2)) * c.extent).astype(np.float32)
        if len(shares) == 2:
            reach = sum(_radius(c, share) for share in shares) * 1.3  # the boundary wobbles by up to 30 %
            if np.linalg.norm(centres[0] - centres[1]) < reach:
                continue
        polyps = [(*_polyp_shape(rng, c, share, centre), centre) for share, centre in zip(shares, centres)]
        covered = np.mean(inside & (np.min([p[0] for p in polyps], axis=0) < 1.0))
        if COVERAGE[0] <= covered <= COVERAGE[1]:
            return polyps
    raise RuntimeError(
        f"no polyp within {COVERAGE} of a {c.shape[1]}x{c.shape[0]} picture"
    )  # pragma: no cover


def _radius(c: _Canvas, fraction: float) -> float:
    """Radius (canvas units) of a disc covering ``fraction`` of the picture."""
    return float(np.sqrt(fraction * (2 * c.extent[0]) * (2 * c.extent[1]) / np.pi))


def _spots(
    rng: np.random.Generator, c: _Canvas, centres: np.ndarray, sizes: np.ndarray, out: np.ndarray
) -> None:
    """Add elongated Gaussian highlights (canvas-unit ``centres`` and ``sizes``) to ``out``, each drawn in a
    window around it only."""
    rows, cols = c.shape
    for (cx, cy), size in zip(centres, sizes, strict=True):
        sigma = max(size * c.half, 0.6)
        r0, c0 = cy * c.half + rows / 2, cx * c.half + cols / 2
        reach = int(np.ceil(4 * sigma)) + 1
        r_lo, r_hi = max(int(r0) - reach, 0), min(int(r0) + reach + 1, rows)
        k_lo, k_hi = max(int(c0) - reach, 0), min(int(c0) + reach + 1, cols)
        if r_lo >= r_hi or k_lo >= k_hi:
            continue
        dr = np.arange(r_lo, r_hi, dtype=np.float32)[:, None] + 0.5 - r0
        dk = np.arange(k_lo, k_hi, dtype=np.float32)[None, :] + 0.5 - c0
        angle, stretch = rng.uniform(0, np.pi), rng.uniform(1.0, 2.5)
        along = dk * np.cos(angle) + dr * np.sin(angle)
        across = -dk * np.sin(angle) + dr * np.cos(angle)
        out[r_lo:r_hi, k_lo:k_hi] += 1.6 * np.exp(-((along / (sigma * stretch)) ** 2 + (across / sigma) ** 2))


def polyp_picture(rng: np.random.Generator, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """One colonoscopy-like picture (rows, cols, 3) uint8 and its soft polyp mask (rows, cols) float32."""
    c = _Canvas(width, height)
    inside, box = _frame(rng, c)
    polyps = _polyps(rng, c, inside)
    distance = np.min([p[0] for p in polyps], axis=0)
    radius_px = min(p[1] for p in polyps) * c.half
    soft = np.clip((1.0 - distance) * radius_px / 1.5 + 0.5, 0.0, 1.0)  # the mask: a ramp of 1.5 pixels
    look = np.clip((1.0 - distance) / 0.08 + 0.5, 0.0, 1.0)  # the polyp's look fades in more gently
    light = rng.normal(0.0, 1.0, 2).astype(np.float32)
    light /= max(float(np.linalg.norm(light)), 1e-6)

    base = np.array([rng.uniform(185, 235), rng.uniform(90, 140), rng.uniform(75, 120)], dtype=np.float32)
    side = min(c.shape)
    mucosa = (
        1.0 + 0.06 * fractal_noise(rng, c.shape, (5, 11, 23)) + 0.025 * smooth_noise(rng, c.shape, side // 5)
    )
    colour = base * mucosa[..., None]
    colour *= 1.0 - (_vessels(rng, c) * (1.0 - look))[..., None] * np.array([0.7, 1.0, 0.9], np.float32)
    colour *= 1.0 + look[..., None] * (_polyp_surface(rng, c, distance, radius_px, light) - 1.0)
    for p_distance, _radius, p_centre in polyps:
        colour *= 1.0 - _rim_shadow(rng, c, p_distance, p_centre, light)[..., None]
    colour *= _illumination(rng, c, look)[..., None]
    shine = _highlights(rng, c, polyps, light)[..., None]
    colour = colour * (1.0 - shine) + np.array([252.0, 252.0, 255.0], np.float32) * shine
    colour += rng.normal(0.0, rng.uniform(1.5, 4.0), colour.shape).astype(np.float32)  # sensor noise
    if not inside.all():
        _paint_frame(rng, colour, ~inside, box)
    return np.clip(np.round(colour), 0, 255).astype(np.uint8), (soft * inside).astype(np.float32)


def _vessels(rng: np.random.Generator, c: _Canvas) -> np.ndarray:
    """Darkening (0 to about 0.45) along branching lines: where two smooth fields cross zero, fading in and
    out along their length."""
    vessels = np.zeros(c.shape, dtype=np.float32)
    for nodes, width in ((6, 0.05), (11, 0.035)):
        field = smooth_noise(rng, c.shape, nodes) + 0.15 * smooth_noise(rng, c.shape, nodes * 3)
        visible = np.clip(1.2 * smooth_noise(rng, c.shape, 4) + rng.uniform(0.0, 0.5), 0.0, 1.0)
        vessels = np.maximum(vessels, np.exp(-((field / width) ** 2)) * visible)
    return vessels * rng.uniform(0.2, 0.45)


def _polyp_surface(
    rng: np.random.Generator, c: _Canvas, distance: np.ndarray, radius_px: float, light: np.ndarray
) -> np.ndarray:
    """The polyp's colour relative to the mucosa's (rows, cols, 3): a paler or redder tint that stays
    within the mucosa's range, a bumpy pit-pattern texture and dome shading lit from ``light``."""
    paleness = rng.uniform(-0.08, 0.15)
    tint = np.array([1 - 0.3 * paleness, 1 + paleness, 1 + 0.9 * paleness], np.float32)
    tint *= rng.uniform(0.97, 1.03, 3).astype(np.float32)
    side = min(c.shape)
    bumps = rng.uniform(0.08, 0.14) * fractal_noise(
        rng, c.shape, (max(4, side // 10), max(8, side // 5)), 0.8
    )
    dome = np.sqrt(np.clip(1.0 - distance**2, 0.0, 1.0))
    gy, gx = np.gradient(dome)
    relief = 0.2 * np.tanh(0.3 * radius_px * (gx * light[0] + gy * light[1]))
    return tint * (1.0 + bumps + rng.uniform(0.03, 0.15) * dome - relief)[..., None]


def _rim_shadow(
    rng: np.random.Generator, c: _Canvas, distance: np.ndarray, centre: np.ndarray, light: np.ndarray
) -> np.ndarray:
    """Darkening just outside a polyp's edge, on the side away from the light (the shadow it casts)."""
    away = np.clip(-((c.x - centre[0]) * light[0] + (c.y - centre[1]) * light[1]), 0.0, None)
    away /= max(float(away.max()), 1e-6)
    return rng.uniform(0.1, 0.3) * np.exp(-(((distance - 1.1) / 0.12) ** 2)) * (distance > 1.0) * away


def _illumination(rng: np.random.Generator, c: _Canvas, look: np.ndarray) -> np.ndarray:
    """Brightness (rows, cols): the lamp's falloff from near the centre (vignetting) and, in 75 % of
    pictures, a dark lumen with haustral folds as soft rings around it (the polyp stands out of it)."""
    lamp = rng.normal(0.0, 0.15, 2).astype(np.float32)
    illumination = 1.0 / (1.0 + rng.uniform(0.3, 0.9) * ((c.x - lamp[0]) ** 2 + (c.y - lamp[1]) ** 2))
    if rng.random() < 0.75:
        lumen = (rng.uniform(-0.8, 0.8, 2) * c.extent).astype(np.float32)
        reach = np.sqrt((c.x - lumen[0]) ** 2 + (c.y - lumen[1]) ** 2) + 0.15 * smooth_noise(rng, c.shape, 5)
        hole = np.exp(-((reach / rng.uniform(0.2, 0.5)) ** 2))
        illumination = illumination * (1.0 - rng.uniform(0.55, 0.9) * hole * (1.0 - 0.7 * look))
        folds = np.sin(2 * np.pi * reach * rng.uniform(1.2, 2.2) + rng.uniform(0, 2 * np.pi))
        illumination *= 1.0 + rng.uniform(0.04, 0.12) * folds * (1.0 - hole)
    return illumination * rng.uniform(0.95, 1.05)


def _highlights(
    rng: np.random.Generator,
    c: _Canvas,
    polyps: list[tuple[np.ndarray, float, np.ndarray]],
    light: np.ndarray,
) -> np.ndarray:
    """Specular highlights (rows, cols, 0 to 1): small spots on the mucosa, 1-5 near each polyp's apex."""
    shine = np.zeros(c.shape, dtype=np.float32)
    n_mucosa = int(rng.poisson(6))
    _spots(rng, c, rng.uniform(-1, 1, (n_mucosa, 2)) * c.extent, rng.uniform(0.005, 0.02, n_mucosa), shine)
    for _distance, radius, centre in polyps:
        n_polyp = int(rng.integers(1, 6))
        apex = centre + radius * 0.3 * light
        _spots(
            rng,
            c,
            apex + rng.normal(0.0, 0.3 * radius, (n_polyp, 2)),
            rng.uniform(0.006, 0.025, n_polyp),
            shine,
        )
    return np.clip(shine, 0.0, 1.0)


def polyp_pictures(n: int, seed: int = 0, size: tuple[int, int] = KVASIR_SIZE) -> Iterator[PolypPicture]:
    """``n`` pictures around (width, height) ``size``, with distinct Kvasir-like names; deterministic for
    ``seed``, picture ``i`` depending on ``seed`` and ``i`` only."""
    if min(size) < MIN_SIDE:
        raise ValueError(f"picture size must be at least {MIN_SIDE} x {MIN_SIDE}, got {size[0]} x {size[1]}")
    names: set[str] = set()
    for child in np.random.SeedSequence(seed).spawn(n):
        rng = np.random.default_rng(child)
        name = kvasir_id(rng)
        while name in names:
            name = kvasir_id(rng)
        names.add(name)
        width, height = picture_size(rng, size)
        rgb, mask = polyp_picture(rng, width, height)
        yield PolypPicture(name, rgb, mask)


def jpeg_bytes(pixels: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """``pixels`` (rows, cols) or (rows, cols, 3) uint8 encoded as JPEG (deterministic for the same input)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
