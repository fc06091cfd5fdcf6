"""The images an inference run reads, checked before anything is loaded, inferred or written.

``inference.json``'s ``dataset#data`` is :func:`inference_data`: the images of ``--input_dir`` (every image
suffix the project reads, :data:`INPUT_SUFFIXES`) or, without it, of the datalist's test split. Before the
first case is inferred the run refuses, with one line per problem that names the file, when

* ``--input_dir`` is not a folder or holds no image;
* an image cannot be read, has the wrong number of axes, or another channel count than the plan the
  weights were trained with (``plan.num_channels``); only the header is read
  (``SimpleITK.ImageFileReader.ReadImageInformation``), so the check costs little;
* a prediction it would write exists already (unless ``--overwrite true``), or two inputs would write the
  same prediction.

So a folder with one bad file stops before the first prediction is written, instead of after hours of
inference with a traceback from a loader thread, or with a folder of predictions half new and half stale.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import SimpleITK as sitk

from data_prep.contract.manifest import IMAGE_SUFFIXES
from data_prep.errors import DataPrepError
from data_prep.plan import Plan, load_plan

from .dicom_inputs import dicom_series_folders, source_of, stage_dicom_inputs

__all__ = [
    "INPUT_SUFFIXES",
    "OUTPUT_FORMATS",
    "check_inputs",
    "existing_predictions",
    "find_inputs",
    "inference_data",
    "input_problem",
    "prediction_path",
]

INPUT_SUFFIXES = tuple(s for s in IMAGE_SUFFIXES if s != ".dcm")
"""Suffixes of the images an input folder is searched for: those of the dataset contract, less DICOM
(a DICOM volume is a series of files, found by SeriesInstanceUID: :mod:`bundle_tools.data.dicom_inputs`)."""

OUTPUT_FORMATS = ("nifti", "dicom_seg")
"""``--output_format``: NIfTI label maps, or DICOM SEG on the source series as well."""


def find_inputs(input_dir: str | os.PathLike) -> list[Path]:
    """The images directly inside ``input_dir`` (by :data:`INPUT_SUFFIXES`), sorted by name, then the folders
    under it (itself included) that hold DICOM series.

    A missing folder, a file in its place and a folder without images are errors that name the folder.
    """
    if not str(input_dir).strip():
        raise DataPrepError("--input_dir: an empty path; name the folder of images to infer")
    folder = Path(input_dir)
    if not folder.is_dir():
        problem = "not a folder" if folder.exists() else "no such folder"
        raise DataPrepError(f"{folder}: {problem} (--input_dir)")
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(INPUT_SUFFIXES))
    found += dicom_series_folders(folder)  # staged as NIfTI by inference_data (dicom_inputs)
    if not found:
        raise DataPrepError(
            f"{folder}: no images to infer (--input_dir; looked for {', '.join(INPUT_SUFFIXES)} and DICOM series)"
        )
    return found


def input_problem(path: str | os.PathLike, num_channels: int, spatial_dims: int = 3) -> str | None:
    """What makes ``path`` unfit for a network of ``num_channels`` input channels, or None.

    The header is read alone. Size-1 axes after the spatial ones are dropped first (``prepare kvasir``
    stores a picture as an ``(x, y, 1, 3)`` NIfTI, which a 2D bundle reads as ``(3, x, y)``). An image of
    ``spatial_dims`` axes has as many channels as pixel components; one of ``spatial_dims + 1`` axes (a 4D NIfTI: MSD's multi-sequence MRI) as its last axis' size, the
    channel axis ``LoadImaged(ensure_channel_first=True)`` makes of it.
    """
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        return f"{path}: cannot be read as an image ({lines[-1] if lines else 'unreadable'})"
    size = list(reader.GetSize())
    while (
        len(size) > spatial_dims + 1 and size[spatial_dims] == 1
    ):  # a 2D case stored as one slice (x, y, 1, C)
        del size[spatial_dims]
    dims, components = len(size), reader.GetNumberOfComponents()
    if dims == spatial_dims:
        channels = components
    elif dims == spatial_dims + 1:
        channels = size[-1] * components
    else:
        return (
            f"{path}: {dims} axes {tuple(size)}; the bundle reads {spatial_dims} spatial axes "
            f"(and optionally a channel axis)"
        )
    if channels != num_channels:
        return (
            f"{path}: {channels} channel{'s' if channels != 1 else ''} (size {tuple(size)}, {components} "
            f"component{'s' if components != 1 else ''} per voxel); the weights take {num_channels} "
            "(plan num_channels)"
        )
    return None


def check_inputs(paths: Iterable[str | os.PathLike], num_channels: int, spatial_dims: int = 3) -> None:
    """Raise :class:`DataPrepError` naming every image of ``paths`` that cannot be inferred (one a line)."""
    paths = list(paths)
    problems = [p for p in (input_problem(path, num_channels, spatial_dims) for path in paths) if p]
    if problems:
        raise DataPrepError(
            f"{len(problems)} of {len(paths)} inputs cannot be inferred; nothing was written:\n"
            + "\n".join(problems)
        )


def prediction_path(
    image: str | os.PathLike, output_dir: str | os.PathLike, postfix: str = "seg", ext: str = ".nii.gz"
) -> Path:
    """Where ``SaveImaged(output_dir, output_postfix=postfix, output_ext=ext, separate_folder=False)``
    writes the prediction of ``image`` (MONAI's own naming, :class:`monai.data.FolderLayout`)."""
    from monai.data import FolderLayout

    layout = FolderLayout(str(output_dir), postfix=postfix, extension=ext, parent=False, makedirs=False)
    return Path(layout.filename(subject=str(image)))


def existing_predictions(
    images: Sequence[str | os.PathLike],
    output_dir: str | os.PathLike,
    postfix: str = "seg",
    ext: str = ".nii.gz",
) -> list[Path]:
    """The predictions of ``images`` that exist already in ``output_dir``.

    Two images that would write the same prediction (``a.nii`` and ``a.mha``) are an error naming both.
    """
    seen: dict[Path, str] = {}
    for image in images:
        target = prediction_path(image, output_dir, postfix, ext)
        if target in seen:
            raise DataPrepError(f"{seen[target]} and {image}: both would be written to {target}")
        seen[target] = str(image)
    return [p for p in seen if p.exists()]


def inference_data(
    input_dir: str | os.PathLike | None,
    images: Sequence[str | os.PathLike] | None,
    plan: Plan | dict | str | os.PathLike,
    output_dir: str | os.PathLike,
    overwrite: bool = False,
    postfix: str = "seg",
    ext: str = ".nii.gz",
    output_format: str = "nifti",
) -> list[dict[str, str]]:
    """``[{"image": path}, ...]`` of an inference run, every image checked, no prediction in the way.

    DICOM series (folders in ``--input_dir`` or in the datalist) are read and staged as NIfTI first
    (:func:`bundle_tools.data.dicom_inputs.stage_dicom_inputs`); with ``output_format="dicom_seg"`` every input
    must be a DICOM series, and its ``<case>_<postfix>.dcm`` must not be in the way either.

    Args:
        input_dir: the folder of images to infer (``--input_dir``); None to infer ``images``.
        images: the images to infer without ``input_dir`` (the datalist's test split).
        plan: the plan the weights were trained with (its ``num_channels`` and spatial axes).
        output_dir: where the predictions go.
        overwrite: replace predictions that exist (``--overwrite true``); otherwise they are refused.
        postfix, ext: the prediction names, as the saving transform's ``output_postfix``/``output_ext``.
        output_format: ``"nifti"`` or ``"dicom_seg"`` (``--output_format``; a SEG is written beside the NIfTI).
    """
    plan = load_plan(plan)
    if output_format not in OUTPUT_FORMATS:
        raise DataPrepError(f"--output_format: {output_format!r}; use one of {', '.join(OUTPUT_FORMATS)}")
    paths = find_inputs(input_dir) if input_dir is not None else [Path(str(i)) for i in images or []]
    if not paths:
        raise DataPrepError("no images to infer: pass --input_dir or a datalist whose split lists images")
    for_seg = output_format == "dicom_seg"
    paths = stage_dicom_inputs(paths, input_dir, for_seg=for_seg)
    not_dicom = [str(p) for p in paths if for_seg and source_of(p) is None]
    if not_dicom:
        raise DataPrepError(
            f"{not_dicom[0]}: not a DICOM series; --output_format dicom_seg references the source series' "
            f"instances ({len(not_dicom)} such input{'s' if len(not_dicom) != 1 else ''}; infer them with nifti)"
        )
    check_inputs(paths, plan.num_channels, plan.spatial_dims)
    existing = existing_predictions(paths, output_dir, postfix, ext)
    if for_seg:
        existing += existing_predictions(paths, output_dir, postfix, ".dcm")
    if existing and not overwrite:
        shown = ", ".join(p.name for p in existing[:10]) + (", ..." if len(existing) > 10 else "")
        raise DataPrepError(
            f"{output_dir}: {len(existing)} prediction{'s' if len(existing) != 1 else ''} exist already "
            f"({shown}); pass --overwrite true to replace them, or another --output_dir"
        )
    return [{"image": str(p)} for p in paths]
