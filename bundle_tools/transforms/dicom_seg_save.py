"""Saving a prediction as a DICOM SEG on its source series (``--output_format dicom_seg``).

The prediction reaching this transform is the label map the NIfTI writer saves: after ``Invertd`` it is on
the grid of the staged input (:mod:`bundle_tools.data.dicom_inputs`), which is the source series' grid. The
transform finds the source series from the prediction's ``filename_or_obj`` (the staged file's record),
checks that the prediction's affine is the series' geometry (so no voxel can land on another slice), and
hands :func:`data_prep.dicom_seg.write_dicom_seg` the label map as ``(slices, rows, columns)``: MONAI's
``(x, y, z)`` array transposed, slice ``z`` being the series' ``z``-th file by position along the normal.
The SEG is ``<case>_<postfix>.dcm`` beside the NIfTI prediction, written whole or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from monai.transforms import MapTransform

from data_prep.dicom_seg import SEGMENTATION_TYPES, write_dicom_seg
from data_prep.dicom_source import SourceSeries
from data_prep.errors import DataPrepError

from ..data.dicom_inputs import source_of
from ..data.inference_inputs import prediction_path

__all__ = ["SaveDicomSegd", "source_affine_ras"]

#: largest accepted difference (mm) between the prediction's affine and the source geometry
AFFINE_TOLERANCE_MM = 1e-3


def source_affine_ras(source: SourceSeries) -> np.ndarray:
    """The 4x4 RAS affine (MONAI's convention) of the source series' grid (ITK's is LPS)."""
    direction = np.asarray(source.direction, dtype=float).reshape(3, 3)
    lps = np.eye(4)
    lps[:3, :3] = direction * np.asarray(source.spacing, dtype=float)
    lps[:3, 3] = source.origin
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps


def _algorithm(metadata_file: str | None, fallback: str) -> tuple[str, str]:
    """``(name, version)`` of the bundle from its ``metadata.json`` (the fallback name and "unknown" without)."""
    if metadata_file and Path(metadata_file).is_file():
        meta = json.loads(Path(metadata_file).read_text(encoding="utf-8"))
        return str(meta.get("name") or fallback), str(meta.get("version") or "unknown")
    return fallback, "unknown"


class SaveDicomSegd(MapTransform):
    """Write each ``keys`` label map as a DICOM SEG on the source series of its input.

    Args:
        keys: the label map(s) (``(1, x, y, z)`` on the input's grid, after ``Invertd``).
        output_dir, output_postfix: where and under which name, as ``SaveImaged`` (``<case>_<postfix>.dcm``).
        labels: label value -> name (the plan's ``labels``; ``"0"``, the background, is not a segment).
        metadata_file: the bundle's ``configs/metadata.json`` (its ``name`` and ``version`` identify the
            algorithm in the SEG).
        segmentation_type: ``"binary"`` or ``"fractional"``.
        overwrite: replace a SEG that exists; when False that is an error naming the file.
    """

    def __init__(
        self,
        keys: Any,
        output_dir: str,
        labels: Mapping[Any, str],
        output_postfix: str = "seg",
        metadata_file: str | None = None,
        segmentation_type: str = "binary",
        overwrite: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if str(segmentation_type).lower() not in SEGMENTATION_TYPES:
            raise DataPrepError(
                f"--dicom_seg_type: {segmentation_type!r}; use one of {', '.join(SEGMENTATION_TYPES)}"
            )
        self.output_dir = str(output_dir)
        self.output_postfix = output_postfix
        self.labels = {int(k): str(v) for k, v in labels.items() if int(k) != 0}
        self.algorithm = _algorithm(
            metadata_file, fallback=Path(str(metadata_file or "bundle")).parent.parent.name
        )
        self.segmentation_type = str(segmentation_type).lower()
        self.overwrite = bool(overwrite)

    def _label_map(self, pred: Any, source: SourceSeries, name: str) -> np.ndarray:
        array = np.asarray(pred.detach().cpu() if hasattr(pred, "detach") else pred)
        if array.ndim == 4 and array.shape[0] == 1:
            array = array[0]
        if array.shape != tuple(source.size):
            raise DataPrepError(
                f"{name}: prediction of shape {array.shape} but the source series {source.folder} is {tuple(source.size)}"
            )
        affine = np.asarray(getattr(pred, "affine", np.eye(4)), dtype=float)
        expected = source_affine_ras(source)
        if not np.allclose(affine, expected, atol=AFFINE_TOLERANCE_MM, rtol=0):
            raise DataPrepError(
                f"{name}: the prediction's grid is not the source series' ({source.folder}); affine "
                f"{affine.round(4).tolist()} vs {expected.round(4).tolist()}"
            )
        rounded = np.rint(array)
        if not np.array_equal(rounded, array) or rounded.min() < 0:
            raise DataPrepError(f"{name}: the prediction is not a label map (non-integer or negative values)")
        return np.ascontiguousarray(
            rounded.astype(np.uint16).transpose(2, 1, 0)
        )  # (x, y, z) -> (z, rows, cols)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            pred = d[key]
            name = str(getattr(pred, "meta", {}).get("filename_or_obj", ""))
            source = source_of(name)
            if source is None:
                raise DataPrepError(
                    f"{name or key}: not a DICOM series input; a DICOM SEG needs its source series"
                )
            target = prediction_path(name, self.output_dir, self.output_postfix, ".dcm")
            if not self.overwrite and target.exists():
                raise DataPrepError(f"{target}: exists already; pass --overwrite true to replace it")
            write_dicom_seg(
                self._label_map(pred, source, name),
                source,
                self.labels,
                target,
                algorithm=self.algorithm,
                segmentation_type=self.segmentation_type,
            )
        return d
