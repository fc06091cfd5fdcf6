"""Convert a DICOM series, a slice stack or any ITK-readable volume to NIfTI, geometry kept.

The NIfTI file is written under a temporary name, read back and compared with what was meant to be
written (size, spacing, origin, direction, voxel values) before it takes its final name, so a
format that cannot hold the geometry (a sheared direction, say) is an error, not a silent change.
NIfTI keeps geometry in 32-bit floats, so "the same" means equal to float32 precision.

Example::

    convert_to_nifti("MR/p01/T2SPIR/DICOM_anon", "p01_t2spir.nii.gz")
    convert_to_nifti("MR/p01/T2SPIR/Ground", "p01_mask.nii.gz", reference_dicom="MR/p01/T2SPIR/DICOM_anon")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .dicom import read_dicom_series
from .dicom_files import is_dicom_folder
from .errors import DataPrepError
from .io import atomic_write, read_image
from .outputs import check_output_path, refuse_output_onto_input
from .slices import list_slice_files, read_slice_list, read_slice_stack

NIFTI_SUFFIXES = (".nii.gz", ".nii")
#: relative and absolute tolerance of the round-trip check (NIfTI stores geometry as float32)
ROUND_TRIP_TOLERANCE = 1e-6


def geometry_differences(
    a: sitk.Image, b: sitk.Image, *, tolerance: float = ROUND_TRIP_TOLERANCE, relative: bool = True
) -> list[str]:
    """What differs between the grids of ``a`` and ``b`` (size, spacing, origin, direction); empty when equal.

    Values are compared with ``|a - b| <= tolerance * (1 + |b|)`` when ``relative``, else ``<= tolerance``.
    """
    problems = []
    if a.GetDimension() != b.GetDimension():
        return [f"{a.GetDimension()}D vs {b.GetDimension()}D"]
    if a.GetSize() != b.GetSize():
        problems.append(f"size {a.GetSize()} vs {b.GetSize()}")
    for name, va, vb in (
        ("spacing", a.GetSpacing(), b.GetSpacing()),
        ("origin", a.GetOrigin(), b.GetOrigin()),
        ("direction", a.GetDirection(), b.GetDirection()),
    ):
        va, vb = np.asarray(va), np.asarray(vb)
        scale = (1 + np.abs(vb)) if relative else 1.0
        if not (np.abs(va - vb) <= tolerance * scale).all():
            problems.append(f"{name} {_fmt(va)} vs {_fmt(vb)}")
    return problems


def _fmt(values: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:.6g}" for v in values) + ")"


def write_nifti_checked(image: sitk.Image, output: str | os.PathLike, *, source: str | None = None) -> Path:
    """Write ``image`` as NIfTI at ``output``, read it back, and rename into place only when identical.

    Raises ``DataPrepError`` (naming ``source`` or the output) when the read-back geometry or
    voxels differ; nothing is left at ``output`` then.
    """
    output = Path(output)
    if not output.name.endswith(NIFTI_SUFFIXES):
        raise DataPrepError(f"{output}: output must be a NIfTI file (.nii.gz or .nii)")
    check_output_path(output)
    if image.GetPixelID() in (
        sitk.sitkFloat32,
        sitk.sitkFloat64,
        sitk.sitkVectorFloat32,
        sitk.sitkVectorFloat64,
    ):
        bad = int(np.count_nonzero(~np.isfinite(sitk.GetArrayViewFromImage(image))))
        if bad:
            raise DataPrepError(
                f"{source or output}: {bad} voxels are NaN or infinite (NIfTI readers disagree on them: ITK reads 0)"
            )
    suffix = ".nii.gz" if output.name.endswith(".nii.gz") else ".nii"
    with atomic_write(output, suffix) as tmp:  # read back before the rename: a refused image leaves nothing
        sitk.WriteImage(image, str(tmp), True)
        back = read_image(tmp)
        problems = geometry_differences(back, image)
        if back.GetNumberOfComponentsPerPixel() != image.GetNumberOfComponentsPerPixel():
            problems.append("number of channels changed")
        elif not problems and not np.array_equal(
            sitk.GetArrayViewFromImage(back), sitk.GetArrayViewFromImage(image)
        ):
            problems.append("voxel values changed")
        if problems:
            raise DataPrepError(
                f"{source or output}: NIfTI cannot hold this image exactly ({'; '.join(problems)}; read back vs input)"
            )
    return output


def load_input(
    source: str | os.PathLike,
    *,
    series_uid: str | None = None,
    slice_list: str | os.PathLike | None = None,
    reference_dicom: str | os.PathLike | None = None,
    spacing: Sequence[float] | None = None,
) -> sitk.Image:
    """Read ``source`` as a volume, whatever it is.

    - a folder of DICOM files: the series in it (``series_uid`` picks one of several);
    - a folder of PNG/JPEG/TIFF slices (natural name order), or ``slice_list`` naming them in
      order (relative names are relative to ``source``): stacked, with the geometry of
      ``reference_dicom`` or the given ``spacing``;
    - a DICOM SEG file: its label map (label = segment number) on the grid of its frames, which for the
      bundles' SEGs (every frame kept) is the source series' grid;
    - a file: any ITK-readable volume (NIfTI, MHA, NRRD, ...).
    """
    source = Path(source)
    if not source.exists():
        raise DataPrepError(f"{source}: no such file or folder")
    slice_options = slice_list is not None or reference_dicom is not None or spacing is not None
    if source.is_dir() and not slice_options and is_dicom_folder(source):
        return read_dicom_series(source, series_uid).image
    if source.is_dir():
        files = (
            read_slice_list(slice_list, base_dir=source)
            if slice_list is not None
            else list_slice_files(source)
        )
        if not files:
            raise DataPrepError(f"{source}: holds neither a DICOM series nor slice pictures (PNG/JPEG/TIFF)")
        reference = read_dicom_series(reference_dicom, series_uid) if reference_dicom is not None else None
        if reference is None and spacing is None:
            raise DataPrepError(
                f"{source}: a stack of slice pictures has no geometry; give --reference-dicom DIR or --spacing X Y Z"
            )
        return read_slice_stack(files, reference=reference, spacing=spacing)
    if slice_options:
        raise DataPrepError(
            f"{source}: --slices-from-list, --reference-dicom and --spacing need a folder of slices"
        )
    from .dicom_seg import is_dicom_seg, read_dicom_seg  # pydicom only when needed

    if is_dicom_seg(source):
        return read_dicom_seg(source)
    return read_image(source)


def convert_to_nifti(
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    series_uid: str | None = None,
    slice_list: str | os.PathLike | None = None,
    reference_dicom: str | os.PathLike | None = None,
    spacing: Sequence[float] | None = None,
    overwrite: bool = False,
) -> Path:
    """Convert ``source`` (see :func:`load_input`) to the NIfTI file ``output``, geometry checked by reading back.

    An existing ``output`` is refused unless ``overwrite``; an ``output`` that is an input (``source``, the
    slice list, the reference series) or lies inside an input folder is always refused.
    """
    output = Path(output)
    if not output.name.endswith(NIFTI_SUFFIXES):
        raise DataPrepError(f"{output}: output must be a NIfTI file (.nii.gz or .nii)")
    refuse_output_onto_input(output, (source, slice_list, reference_dicom))
    check_output_path(output)
    if output.exists() and not overwrite:
        raise DataPrepError(f"{output}: already exists; choose another name or pass --overwrite")
    image = load_input(
        source, series_uid=series_uid, slice_list=slice_list, reference_dicom=reference_dicom, spacing=spacing
    )
    return write_nifti_checked(image, output, source=str(source))


def _index_map(moving: sitk.Image, reference: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """``(A, b)`` with reference index ``j = A @ i + b`` for moving index ``i`` (both grids in the same world)."""

    def affine(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
        d = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
        return d * np.asarray(image.GetSpacing(), dtype=float), np.asarray(image.GetOrigin(), dtype=float)

    m_moving, o_moving = affine(moving)
    m_ref, o_ref = affine(reference)
    inverse = np.linalg.inv(m_ref)
    return inverse @ m_moving, inverse @ (o_moving - o_ref)


def align_to_reference(
    moving: sitk.Image,
    reference: sitk.Image,
    *,
    tolerance: float = 1e-3,
    source: str = "label",
    reference_name: str = "the image",
) -> sitk.Image:
    """Put ``moving`` (a label) on the voxel grid of ``reference``, exactly, or refuse.

    When both describe the same voxels (same physical points) but ``moving`` stores its axes
    permuted or reversed (e.g. slices stored top to bottom, or x and y swapped), its voxels are
    transposed and flipped to the reference's order: a pure re-indexing, no interpolation. The
    result carries the reference's geometry. Any other difference (spacing, shift, rotation,
    size) raises ``DataPrepError`` naming ``source`` and what differs.

    Args:
        moving: 3D image to align.
        reference: 3D image whose grid is kept.
        tolerance: largest accepted deviation, in voxels, of the index mapping from a signed
            permutation with integer offsets.
        source, reference_name: names used in error messages.
    """
    if moving.GetDimension() != 3 or reference.GetDimension() != 3:
        raise DataPrepError(
            f"{source}: {moving.GetDimension()}D, {reference_name} {reference.GetDimension()}D; both must be 3D"
        )
    a, b = _index_map(moving, reference)
    perm = np.argmax(np.abs(a), axis=1)  # output axis r takes moving axis perm[r]
    signs = np.sign(a[np.arange(3), perm])
    signed_perm = np.zeros((3, 3))
    signed_perm[np.arange(3), perm] = signs
    size_moving = np.asarray(moving.GetSize())
    size_ref = np.asarray(reference.GetSize())
    expected_b = np.where(signs < 0, size_moving[perm] - 1, 0)
    same_grid = (
        sorted(perm.tolist()) == [0, 1, 2]
        and np.abs(a - signed_perm).max() <= tolerance
        and (size_moving[perm] == size_ref).all()
        and np.abs(b - expected_b).max() <= tolerance
    )
    if not same_grid:
        problems = geometry_differences(moving, reference, tolerance=tolerance, relative=False)
        raise DataPrepError(
            f"{source}: not on the voxel grid of {reference_name}, nor a permutation or flip of it "
            f"({'; '.join(problems) or 'grids differ'}; label vs image)"
        )
    array = sitk.GetArrayFromImage(moving).T  # (x, y, z)
    array = np.transpose(array, perm)
    flips = tuple(int(r) for r in np.flatnonzero(signs < 0))
    if flips:
        array = np.flip(array, axis=flips)
    aligned = sitk.GetImageFromArray(np.ascontiguousarray(array.T))
    aligned.CopyInformation(reference)
    return aligned
