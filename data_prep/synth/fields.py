"""Building blocks of the synthetic data: coordinate grids, smooth random fields, blobs, noise (3D phantoms),
and the smooth and fractal noise of the 2D polyp pictures (:func:`smooth_noise`, :func:`fractal_noise`)."""

from __future__ import annotations

import numpy as np


def unit_grid(size: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Voxel-centre coordinates in [-1, 1] along each axis, as broadcastable (x, 1, 1), (1, y, 1), (1, 1, z)."""
    axes = [((np.arange(n, dtype=np.float32) + 0.5) / n) * 2.0 - 1.0 for n in size]
    return axes[0][:, None, None], axes[1][None, :, None], axes[2][None, None, :]


def _smooth_basis(n: int, nodes: int) -> np.ndarray:
    """(n, nodes) Gaussian interpolation weights from ``nodes`` control points to ``n`` voxels."""
    u = (np.arange(n, dtype=np.float32) + 0.5) / n
    centres = np.linspace(0.0, 1.0, nodes, dtype=np.float32)
    width = 1.0 / max(nodes - 1, 1)
    weights = np.exp(-(((u[:, None] - centres[None, :]) / width) ** 2))
    return weights / weights.sum(axis=1, keepdims=True)


def smooth_field(rng: np.random.Generator, size: tuple[int, int, int], nodes: int = 4) -> np.ndarray:
    """A smooth random field (x, y, z) of about unit amplitude: random control points, Gaussian-interpolated."""
    coarse = rng.standard_normal((nodes, nodes, nodes)).astype(np.float32)
    bx, by, bz = (_smooth_basis(n, nodes) for n in size)
    field = np.einsum("ia,abc->ibc", bx, coarse)
    field = np.einsum("jb,ibc->ijc", by, field)
    field = np.einsum("kc,ijc->ijk", bz, field)
    return field / max(float(np.abs(field).max()), 1e-6)


def ellipsoid_distance(
    grid: tuple[np.ndarray, np.ndarray, np.ndarray],
    centre: tuple[float, float, float],
    radii: tuple[float, float, float],
) -> np.ndarray:
    """Normalised ellipsoid distance: < 1 inside the ellipsoid with ``centre`` and ``radii`` (unit coordinates)."""
    x, y, z = grid
    return np.sqrt(
        ((x - centre[0]) / radii[0]) ** 2
        + ((y - centre[1]) / radii[1]) ** 2
        + ((z - centre[2]) / radii[2]) ** 2
    )


def blob(
    grid: tuple[np.ndarray, np.ndarray, np.ndarray],
    centre: tuple[float, float, float],
    radii: tuple[float, float, float],
    wobble: np.ndarray | None = None,
    amount: float = 0.15,
) -> np.ndarray:
    """Boolean mask of a smooth blob: an ellipsoid whose surface is pushed in and out by ``wobble``."""
    distance = ellipsoid_distance(grid, centre, radii)
    if wobble is not None:
        distance = distance + amount * wobble
    return distance < 1.0


def rician(rng: np.random.Generator, signal: np.ndarray, sigma: float) -> np.ndarray:
    """Magnitude MR noise: ``|signal + n1 + i n2|`` with Gaussian ``n1, n2`` of std ``sigma``."""
    real = signal + rng.normal(0.0, sigma, signal.shape).astype(np.float32)
    imag = rng.normal(0.0, sigma, signal.shape).astype(np.float32)
    return np.sqrt(real * real + imag * imag)


def bias_field(rng: np.random.Generator, size: tuple[int, int, int], strength: float = 0.2) -> np.ndarray:
    """Multiplicative smooth intensity non-uniformity, ``exp(strength * field)``."""
    return np.exp(strength * smooth_field(rng, size, nodes=3)).astype(np.float32)


def jitter(rng: np.random.Generator, values: tuple[float, ...], amount: float) -> tuple[float, ...]:
    """``values`` each shifted by a uniform draw in [-amount, amount]."""
    return tuple(float(v + rng.uniform(-amount, amount)) for v in values)


def scale(
    rng: np.random.Generator, values: tuple[float, ...], low: float = 0.85, high: float = 1.15
) -> tuple[float, ...]:
    """``values`` multiplied by one uniform factor in [low, high] (shape kept, size varied)."""
    factor = rng.uniform(low, high)
    return tuple(float(v * factor) for v in values)


def deformed_grid(
    rng: np.random.Generator, size: tuple[int, int, int], amplitude: float, nodes: int = 4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`unit_grid` pushed by a smooth random displacement, as three full (x, y, z) arrays.

    A shape drawn on this grid is the shape drawn on the plain grid and then resampled through the
    displacement ``u`` (``f'(p) = f(p + u(p))``), with no interpolation: every structure, labels included,
    moves together. ``u`` is one :func:`smooth_field` per axis scaled to at most ``amplitude`` (unit
    coordinates: the field of view spans 2).
    """
    axes = unit_grid(size)
    return tuple(  # type: ignore[return-value]
        (np.broadcast_to(a, size) + amplitude * smooth_field(rng, size, nodes)).astype(np.float32)
        for a in axes
    )


def supersampling(size: tuple[int, int, int], base: int = 2, most: int = 4) -> tuple[int, int, int]:
    """Sub-voxels per voxel and axis to render partial volume: ``base`` along the finest axis and
    proportionally more (up to ``most``) along axes whose voxels cover more of the field of view (fewer,
    thicker slices)."""
    finest = max(size)
    return tuple(int(min(most, max(base, round(base * finest / n)))) for n in size)  # type: ignore[return-value]


def block_mean(values: np.ndarray, factors: tuple[int, int, int]) -> np.ndarray:
    """Mean over non-overlapping blocks of ``factors`` voxels: a fine rendering -> voxels whose value mixes
    the tissues they hold (partial volume)."""
    (x, y, z), (fx, fy, fz) = values.shape, factors
    return values.reshape(x // fx, fx, y // fy, fy, z // fz, fz).mean(axis=(1, 3, 5), dtype=np.float32)


def block_majority(labels: np.ndarray, factors: tuple[int, int, int], n_labels: int) -> np.ndarray:
    """The label that fills most of each block of ``factors`` voxels (ties go to the lower label)."""
    (x, y, z), (fx, fy, fz) = labels.shape, factors
    blocks = labels.reshape(x // fx, fx, y // fy, fy, z // fz, fz)
    counts = np.stack([(blocks == v).sum(axis=(1, 3, 5), dtype=np.int16) for v in range(n_labels)])
    return counts.argmax(axis=0).astype(labels.dtype)


def min_radius(size: tuple[int, int, int], voxels: float = 1.5) -> np.ndarray:
    """Per-axis radius in unit coordinates that spans ``voxels`` voxels."""
    return np.array([2.0 * voxels / n for n in size], dtype=np.float32)


def at_least(radii: tuple[float, ...], size: tuple[int, int, int], voxels: float = 1.5) -> tuple[float, ...]:
    """``radii`` raised to :func:`min_radius` where smaller (the smallest structures stay visible)."""
    return tuple(float(r) for r in np.maximum(np.array(radii), min_radius(size, voxels)))


def disc(grid, centre_xy: tuple[float, float], radius_xy: tuple[float, float]) -> np.ndarray:
    """A cylinder along z (spine, aorta): ellipse in the axial plane, every slice."""
    x, y, _ = grid
    return ((x - centre_xy[0]) / radius_xy[0]) ** 2 + ((y - centre_xy[1]) / radius_xy[1]) ** 2 < 1.0


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], nodes: int) -> np.ndarray:
    """A smooth random field (rows, cols) float32 of unit peak amplitude with about ``nodes`` bumps per side.

    Random control values on a lattice, interpolated by a separable cubic B-spline (C2-smooth) as four
    gathers per axis: no matrix product, as OpenBLAS threads cost more than they save at this size.
    """
    coarse = rng.standard_normal((nodes + 3, nodes + 3)).astype(np.float32)
    taps_r, weights_r = _bspline_taps(shape[0], nodes)
    taps_c, weights_c = _bspline_taps(shape[1], nodes)
    along_rows = sum(w[:, None] * coarse[t] for t, w in zip(taps_r, weights_r, strict=True))  # (rows, n + 3)
    field = sum(w[None, :] * along_rows[:, t] for t, w in zip(taps_c, weights_c, strict=True))
    return field / max(float(np.abs(field).max()), 1e-6)


def _bspline_taps(n: int, nodes: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Lattice indices and uniform cubic B-spline weights of ``n`` pixels over ``nodes`` lattice spans."""
    position = (np.arange(n, dtype=np.float32) + 0.5) / n * nodes
    index = np.minimum(position.astype(np.int64), nodes - 1)
    t = position - index.astype(np.float32)
    weights = [
        (1 - t) ** 3 / 6,
        (3 * t**3 - 6 * t**2 + 4) / 6,
        (-3 * t**3 + 3 * t**2 + 3 * t + 1) / 6,
        t**3 / 6,
    ]
    return [index + k for k in range(4)], weights


def fractal_noise(
    rng: np.random.Generator, shape: tuple[int, int], nodes: tuple[int, ...], falloff: float = 0.6
) -> np.ndarray:
    """Sum of :func:`smooth_noise` octaves (amplitude ``falloff`` ** k), scaled to unit peak amplitude."""
    total = sum(falloff**k * smooth_noise(rng, shape, n) for k, n in enumerate(nodes))
    return total / max(float(np.abs(total).max()), 1e-6)
