"""Shared fixtures of the data_prep tests. Ingest fixtures (DICOM, slices, prepare) start with ``ingest_``."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from data_prep.synth.dicom_series import make_uid, oblique_direction, write_dicom_series


def _tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def ingest_tree_hash() -> Callable[[Path], str]:
    """``hash(root)``: a digest of every name and byte under ``root``, to prove inputs stay unchanged."""
    return _tree_hash


class IngestSeries:
    """A DICOM series written by ``ingest_write_series`` and the truth it was written from."""

    def __init__(
        self, folder: Path, volume: np.ndarray, spacing, origin, direction, files: list[Path], uid: str
    ):
        self.folder = folder
        self.volume = volume  # (x, y, z) in slice-position order
        self.spacing = np.asarray(spacing, dtype=float)
        self.origin = np.asarray(origin, dtype=float)
        self.direction = np.asarray(direction, dtype=float)
        self.files = files  # in slice-position order
        self.uid = uid


@pytest.fixture
def ingest_write_series() -> Callable[..., IngestSeries]:
    """``write(folder, size=(32, 32, 12), seed=0, reverse_names=False, names=None)`` -> IngestSeries.

    An MR series (uint16) with an oblique direction and anisotropic spacing (x 1.25, y 1.5, z 4.0);
    with ``reverse_names`` the file numbers run against the slice position.
    """

    def write(
        folder: Path,
        size: tuple[int, int, int] = (32, 32, 12),
        seed: int = 0,
        reverse_names: bool = False,
        names: list[str] | None = None,
        uid: str | None = None,
    ) -> IngestSeries:
        rng = np.random.default_rng(seed)
        volume = rng.integers(0, 4000, size=size, dtype=np.uint16)
        spacing, origin = (1.25, 1.5, 4.0), (-101.5, 37.25, 12.75)
        direction = oblique_direction(rng)
        if names is None:
            names = [f"IMG-0002-{k + 1:05d}.dcm" for k in range(size[2])]
            if reverse_names:
                names.reverse()
        uid = uid or make_uid(rng)
        files = write_dicom_series(
            volume,
            folder,
            spacing=spacing,
            origin=origin,
            direction=direction,
            file_names=names,
            patient_id="p01",
            study_uid=make_uid(rng),
            series_uid=uid,
            rng=rng,
        )
        return IngestSeries(Path(folder), volume, spacing, origin, direction, files, uid)

    return write


def ingest_assert_same_grid(image, spacing, origin, direction, tol: float = 1e-5) -> None:
    """Assert that a SimpleITK image has the given geometry (float32 precision of NIfTI)."""
    np.testing.assert_allclose(image.GetSpacing(), spacing, rtol=tol, atol=tol)
    np.testing.assert_allclose(image.GetOrigin(), origin, rtol=tol, atol=tol)
    np.testing.assert_allclose(image.GetDirection(), np.asarray(direction).flatten(), atol=tol)


@pytest.fixture
def ingest_same_grid() -> Callable[..., None]:
    """``check(image, spacing, origin, direction)``: geometry equal to float32 precision."""
    return ingest_assert_same_grid


@pytest.fixture
def ingest_no_leftovers() -> Callable[[Path], None]:
    """``check(parent)``: no staging folder or temporary file is left in ``parent``."""

    def check(parent: Path) -> None:
        leftovers = [p.name for p in Path(parent).iterdir() if p.name.startswith(".")]
        assert leftovers == [], f"left behind: {leftovers}"

    return check
