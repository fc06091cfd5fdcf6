"""Kvasir-SEG (1000 colonoscopy pictures with polyp masks) -> NIfTI dataset of 2D cases.

Layout as shipped: ``Kvasir-SEG/images/<id>.jpg`` and ``Kvasir-SEG/masks/<id>.jpg`` with the
same names. Masks are JPEG, so their edges hold grey values: a mask pixel is polyp when its grey
value is at least 128. Every picture becomes one case ``kvasir_<id>``: the image as an
(x, y, 1, 3) NIfTI (RGB channels on the 4th axis, as multi-channel MR is stored) and the label
as (x, y, 1) uint8 (0 background, 1 polyp), spacing 1.0 mm, since a picture has no physical size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..convert import write_nifti_checked
from ..errors import DataPrepError
from ..parallel import map_cases
from ..slices import decode_picture, natural_key
from ._common import (
    DEFAULT_WORKERS,
    Recipe,
    build_dataset,
    check_raw_dir,
    manifest,
)

MASK_THRESHOLD = 128
PICTURE_SUFFIXES = (".jpg", ".jpeg", ".png")
LABELS = {"0": "background", "1": "polyp"}
MODALITY = {"0": "endoscopy_red", "1": "endoscopy_green", "2": "endoscopy_blue"}


def find_kvasir_dir(raw_dir: Path) -> Path:
    """``raw_dir`` or ``raw_dir/Kvasir-SEG``: the folder with ``images/`` and ``masks/``."""
    for candidate in (raw_dir, raw_dir / "Kvasir-SEG", raw_dir / "kvasir-seg"):
        if (candidate / "images").is_dir() and (candidate / "masks").is_dir():
            return candidate
    raise DataPrepError(f"{raw_dir}: no images/ and masks/ folders (Kvasir-SEG layout)")


def _pictures(folder: Path) -> dict[str, Path]:
    return {
        p.stem: p
        for p in sorted(folder.iterdir(), key=lambda p: natural_key(p.name))
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in PICTURE_SUFFIXES
    }


def convert_case(job: tuple[str, str, str, str]) -> None:
    """Convert one picture and its mask into the staging folder."""
    image_path, mask_path, stage, name = job
    rgb = decode_picture(Path(image_path), "RGB")  # (rows, cols, 3)
    grey = decode_picture(Path(mask_path), "L")  # (rows, cols)
    if grey.shape != rgb.shape[:2]:
        raise DataPrepError(
            f"{mask_path}: {grey.shape[1]}x{grey.shape[0]} mask but the image {Path(image_path).name} is "
            f"{rgb.shape[1]}x{rgb.shape[0]}"
        )
    image = sitk.GetImageFromArray(
        np.ascontiguousarray(np.moveaxis(rgb, -1, 0)[:, None]), isVector=False
    )  # (C, 1, rows, cols)
    label = sitk.GetImageFromArray((grey >= MASK_THRESHOLD).astype(np.uint8)[None])  # (1, rows, cols)
    write_nifti_checked(image, Path(stage) / "imagesTr" / f"{name}.nii.gz", source=image_path)
    write_nifti_checked(label, Path(stage) / "labelsTr" / f"{name}.nii.gz", source=mask_path)


def prepare_kvasir(
    raw_dir: str | Path,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    seed: int = 0,
    workers: int = DEFAULT_WORKERS,
) -> Path:
    """Build a dataset of 2D cases from Kvasir-SEG (see the module docstring); returns ``out_dir``.

    Args:
        raw_dir: the ``Kvasir-SEG`` folder (or a folder holding it).
        out_dir: dataset folder to write (refused when it holds files, unless ``overwrite``).
        overwrite: replace an existing ``out_dir``.
        seed: seed of the split (every picture is its own patient).
        workers: parallel worker processes over pictures.
    """
    raw_dir, out_dir = check_raw_dir(raw_dir, out_dir)
    root = find_kvasir_dir(raw_dir)
    images, masks = _pictures(root / "images"), _pictures(root / "masks")
    if not images:
        raise DataPrepError(f"{root / 'images'}: no pictures")
    missing = sorted(set(images) - set(masks), key=natural_key)
    if missing:
        raise DataPrepError(
            f"{images[missing[0]]}: no mask of the same name in {root / 'masks'} ({len(missing)} missing)"
        )
    extra = sorted(set(masks) - set(images), key=natural_key)
    if extra:
        raise DataPrepError(
            f"{masks[extra[0]]}: mask without an image of the same name ({len(extra)} such masks)"
        )

    def write_cases(stage: Path) -> dict[str, Any]:
        jobs = [(str(images[s]), str(masks[s]), str(stage), f"kvasir_{s}") for s in images]
        map_cases(convert_case, jobs, workers=workers, desc="kvasir")
        training = [
            {"image": f"imagesTr/kvasir_{s}.nii.gz", "label": f"labelsTr/kvasir_{s}.nii.gz", "patient": s}
            for s in images
        ]
        return manifest(
            "kvasir_seg",
            "Kvasir-SEG colonoscopy polyps, 2D RGB pictures as (x, y, 1, 3) NIfTI",
            "Kvasir-SEG (Jha et al. 2020)",
            dict(LABELS),
            dict(MODALITY),
            training,
        )

    return build_dataset(out_dir, write_cases, overwrite=overwrite, seed=seed, workers=workers)


RECIPE = Recipe(
    name="kvasir",
    help="Kvasir-SEG: images/*.jpg and masks/*.jpg (2D polyp segmentation)",
    description=__doc__ or "",
    run=prepare_kvasir,
)
