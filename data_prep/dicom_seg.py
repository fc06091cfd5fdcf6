"""DICOM SEG: a label map written on its source series (highdicom), and read back into a label map.

**Writing** (:func:`write_dicom_seg`). The label map is on the source series' grid (ITK index order
``x`` = column, ``y`` = row, ``z`` = slice by increasing position along the normal, the order of
:class:`~data_prep.dicom_source.SourceSeries`), so frame ``k`` of each segment is slice ``k`` of the map and
references ``source.files[k]``. One segment per label (background left out) with its name and its codes
(:mod:`data_prep.dicom_codes`), the algorithm (name and version) that made it, BINARY or FRACTIONAL
(FRACTIONAL holds the same masks as probabilities 0 or 1). Every frame is kept, empty ones too, so the SEG
alone gives the whole source grid back. The patient, study and Frame of Reference come from the source
headers (highdicom copies the Patient and General Study modules). The file is written to a temporary
sibling and renamed (:func:`data_prep.io.atomic_write`): never half-written.

**Reading** (:func:`read_dicom_seg`). Frames are placed by their ImagePositionPatient projected on the slice
normal, as :mod:`data_prep.dicom` places slices; a frame of segment ``n`` sets label ``n`` (a fractional
frame where it is at least half its maximum). Overlapping segments cannot be one label map: refused.

Example::

    write_dicom_seg(labels_zyx, source, {1: "liver"}, "p01_seg.dcm", algorithm=("my bundle", "0.2.0"))
    image = read_dicom_seg("p01_seg.dcm")   # uint8 label map, source geometry
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk

from .dicom import check_slice_gaps
from .dicom_codes import Concept, segment_code
from .dicom_source import SourceSeries
from .errors import DataPrepError
from .io import atomic_write

__all__ = ["SEG_SOP_CLASS_UID", "SEGMENTATION_TYPES", "is_dicom_seg", "read_dicom_seg", "write_dicom_seg"]

SEG_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.66.4"
SEGMENTATION_TYPES = ("binary", "fractional")
#: SeriesNumber of a SEG: the source's plus this (keeps it next to its source in a viewer's series list)
SERIES_NUMBER_OFFSET = 1000


def _code(concept: Concept):
    from highdicom.sr import CodedConcept

    return CodedConcept(concept.value, concept.scheme, concept.meaning)


def _descriptions(labels: Mapping[int, str], algorithm: tuple[str, str]) -> list:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    identification = hd.AlgorithmIdentificationSequence(
        name=algorithm[0], version=algorithm[1], family=codes.cid7162.ArtificialIntelligence
    )
    out = []
    for number, name in sorted(labels.items()):
        code = segment_code(name)
        description = hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=name[:64],
            segmented_property_category=_code(code.category),
            segmented_property_type=_code(code.type),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=identification,
        )
        if code.modifier is not None:
            description.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [
                _code(code.modifier)
            ]
        out.append(description)
    return out


def write_dicom_seg(
    label_map: np.ndarray,
    source: SourceSeries,
    labels: Mapping[int, str],
    path: str | os.PathLike,
    *,
    algorithm: tuple[str, str],
    segmentation_type: str = "binary",
    series_description: str = "",
) -> Path:
    """Write ``label_map`` as a DICOM SEG on ``source`` at ``path`` (atomically); return ``path``.

    Args:
        label_map: ``(slices, rows, columns)`` integers, slice ``k`` on ``source.files[k]``.
        source: the source series record (its headers are read again for the copied tags).
        labels: label value (1..N) -> segment name; background (0) is not a segment.
        path: the SEG file to write.
        algorithm: ``(name, version)`` of what made the segmentation (the bundle).
        segmentation_type: ``"binary"`` or ``"fractional"``.
        series_description: SeriesDescription of the SEG (default: ``"<name> segmentation"``).
    """
    import highdicom as hd

    kind = str(segmentation_type).lower()
    if kind not in SEGMENTATION_TYPES:
        raise DataPrepError(
            f"{path}: segmentation type {segmentation_type!r}; use one of {SEGMENTATION_TYPES}"
        )
    expected = (len(source.files), source.size[1], source.size[0])
    if tuple(label_map.shape) != expected:
        raise DataPrepError(
            f"{path}: label map of shape {tuple(label_map.shape)} (slices, rows, columns) but the source series "
            f"{source.folder} has {expected}"
        )
    labels = {int(k): str(v) for k, v in labels.items() if int(k) != 0}
    if sorted(labels) != list(range(1, len(labels) + 1)):
        raise DataPrepError(f"{path}: segment labels must be 1..N, got {sorted(labels)}")
    unknown = sorted(set(np.unique(label_map).tolist()) - set(labels) - {0})
    if unknown:
        raise DataPrepError(f"{path}: label values {unknown} have no name (labels {labels})")
    if kind == "binary":
        pixels = label_map.astype(np.uint8 if len(labels) < 256 else np.uint16)
    else:
        pixels = np.stack([label_map == n for n in sorted(labels)], axis=-1).astype(np.float32)
    headers = source.headers()
    try:
        seg = _segmentation(hd, headers, pixels, kind, labels, algorithm, source, series_description)
    except (ValueError, KeyError, TypeError, AttributeError) as err:  # highdicom on odd source headers
        raise DataPrepError(f"{source.folder}: no DICOM SEG can be made on this series ({err})") from None
    path = Path(path)
    with atomic_write(path, suffix=".dcm") as tmp:
        seg.save_as(tmp)
    return path


def _segmentation(hd, headers, pixels, kind, labels, algorithm, source, series_description):
    return hd.seg.Segmentation(
        source_images=headers,
        pixel_array=pixels,
        segmentation_type=kind.upper(),
        segment_descriptions=_descriptions(labels, algorithm),
        series_instance_uid=hd.UID(),
        series_number=source.series_number + SERIES_NUMBER_OFFSET,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="seg3d-bundles",
        manufacturer_model_name=algorithm[0][:64],
        software_versions=algorithm[1],
        device_serial_number="none",
        series_description=(series_description or f"{algorithm[0]} segmentation")[:64],
        omit_empty_frames=False,
    )


def is_dicom_seg(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a file holding a DICOM Segmentation Storage instance."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
    except Exception:  # not DICOM at all
        return False
    return str(ds.get("SOPClassUID", "")) == SEG_SOP_CLASS_UID


def _item(ds: pydicom.Dataset, frame: pydicom.Dataset, sequence: str, keyword: str, path: Path):
    """``keyword`` of the functional group ``sequence``, per frame first, then shared."""
    for groups in (frame, ds.get("SharedFunctionalGroupsSequence", [None])[0]):
        if groups is not None and sequence in groups and keyword in groups[sequence][0]:
            return groups[sequence][0][keyword].value
    raise DataPrepError(
        f"{path}: no {keyword} in {sequence} (per-frame or shared); the frames cannot be placed"
    )


def read_dicom_seg(path: str | os.PathLike) -> sitk.Image:
    """The label map of the DICOM SEG ``path`` (uint8, label = segment number) on the SEG's grid.

    Raises ``DataPrepError`` for a file that is not a SEG, frames without position, orientation or spacing,
    uneven or duplicate frame positions, or overlapping segments.
    """
    path = Path(path)
    try:
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array
    except Exception as err:
        raise DataPrepError(f"{path}: not a DICOM file, or truncated ({type(err).__name__})") from None
    if str(ds.get("SOPClassUID", "")) != SEG_SOP_CLASS_UID:
        raise DataPrepError(f"{path}: not a DICOM SEG (SOPClassUID {ds.get('SOPClassUID', '')})")
    frames = ds.get("PerFrameFunctionalGroupsSequence", [])
    pixels = pixels.reshape((len(frames), ds.Rows, ds.Columns))
    if len(ds.SegmentSequence) > 255:
        raise DataPrepError(f"{path}: {len(ds.SegmentSequence)} segments do not fit a uint8 label map")
    orientation = np.array(
        [float(v) for v in _item(ds, frames[0], "PlaneOrientationSequence", "ImageOrientationPatient", path)]
    )
    normal = np.cross(orientation[:3], orientation[3:])
    positions = [
        np.array([float(v) for v in _item(ds, f, "PlanePositionSequence", "ImagePositionPatient", path)])
        for f in frames
    ]
    along = np.array([p @ normal for p in positions])
    unique = np.unique(np.round(along, 4))
    spacing_rc = [float(v) for v in _item(ds, frames[0], "PixelMeasuresSequence", "PixelSpacing", path)]
    if len(unique) > 1:
        step = check_slice_gaps(unique, [path] * len(unique), path)
    else:
        step = float(
            getattr(ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0], "SliceThickness", 1)
        )
    fractional = str(ds.SegmentationType).upper() == "FRACTIONAL"
    threshold = (float(ds.get("MaximumFractionalValue", 255)) / 2) if fractional else 0
    volume = np.zeros((len(unique), ds.Rows, ds.Columns), np.uint8)
    for frame, value, plane in zip(frames, along, pixels, strict=True):
        number = int(frame.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        k = int(np.argmin(np.abs(unique - value)))
        mask = plane >= threshold if fractional else plane > 0
        clash = mask & (volume[k] != 0) & (volume[k] != number)
        if clash.any():
            other = int(volume[k][clash][0])
            raise DataPrepError(
                f"{path}: segments {other} and {number} overlap; a label map holds one label per voxel"
            )
        volume[k][mask] = number
    image = sitk.GetImageFromArray(volume)
    image.SetSpacing((spacing_rc[1], spacing_rc[0], step))
    first = positions[int(np.argmin(along))]
    image.SetOrigin(tuple(float(v) for v in first))
    direction = np.column_stack([orientation[:3], orientation[3:], normal / np.linalg.norm(normal)])
    image.SetDirection(tuple(float(v) for v in direction.flatten()))
    return image
