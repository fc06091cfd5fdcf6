"""``fingerprint.json``: the facts ``analyze`` gathers about a dataset's labelled cases.

:class:`Fingerprint` is its one typed view, :func:`load_fingerprint` its one loader and
:meth:`Fingerprint.from_dict` its one validator; ``analyze`` builds the fingerprint through it and makes the
plan (:mod:`data_prep.contract.plan`) from it. A fingerprint of another version, a missing field or a field
of the wrong kind is refused naming the file and the field: run ``analyze`` again. Every field is
documented in ``docs/dataset_format.md``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from typing import Any

from ._checks import (
    DatasetHeader,
    check_header,
    check_intensity,
    field_error,
    is_count,
    is_numbers,
    load_contract,
)

__all__ = ["FINGERPRINT_JSON", "FINGERPRINT_VERSION", "Fingerprint", "load_fingerprint"]

FINGERPRINT_JSON = "fingerprint.json"
FINGERPRINT_VERSION = 1
AXIS_STATISTICS = ("median", "min", "max")


@dataclass(frozen=True)
class Fingerprint(DatasetHeader):
    """The facts of a dataset (``fingerprint.json``, version :data:`FINGERPRINT_VERSION`).

    Args:
        version, name, labels, num_classes, modality, num_channels: as in
            :class:`~data_prep.contract._checks.DatasetHeader`; only version :data:`FINGERPRINT_VERSION` is read.
        num_cases: labelled cases read.
        class_voxels: voxels of every class over all cases.
        class_frequencies: ``class_voxels`` as fractions of all voxels.
        spacing: per axis (x, y, z) ``median``, ``min`` and ``max`` spacing over cases, in mm.
        shape: per axis ``median``, ``min`` and ``max`` case shape in voxels.
        case_spacings: every case's spacing, in ``dataset.json``'s order.
        case_shapes: every case's shape.
        intensity: per channel: ``modality``, ``normalization`` and the foreground statistics.
    """

    num_cases: int
    class_voxels: list[int]
    class_frequencies: list[float]
    spacing: dict[str, list[float]]
    shape: dict[str, list[int]]
    case_spacings: list[list[float]]
    case_shapes: list[list[int]]
    intensity: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """The fingerprint as ``fingerprint.json`` holds it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, source: str | os.PathLike = FINGERPRINT_JSON) -> Fingerprint:
        """Check ``data`` (a parsed ``fingerprint.json``) and build the fingerprint; errors name ``source``
        and the field."""
        check_header(
            data, source, "fingerprint", [f.name for f in fields(cls)], FINGERPRINT_VERSION, "analyze"
        )
        fingerprint = cls(**{f.name: data[f.name] for f in fields(cls)})
        _check(fingerprint, source)
        return fingerprint


def load_fingerprint(fingerprint: Fingerprint | dict | str | os.PathLike) -> Fingerprint:
    """The :class:`Fingerprint` of ``fingerprint``: a fingerprint, a parsed ``fingerprint.json``, its path,
    or the folder holding it."""
    advice = "write it with `python -m data_prep analyze DATASET_DIR`"
    return load_contract(fingerprint, Fingerprint, FINGERPRINT_JSON, advice)


def _check(fp: Fingerprint, source: str | os.PathLike) -> None:
    def bad(name: str, problem: str) -> Exception:
        return field_error(source, name, problem)

    fp.check_dataset_fields(source)
    n, channels, cases = fp.num_classes, fp.num_channels, fp.num_cases
    if not is_count(cases, 1):
        raise bad("num_cases", f"must be an integer >= 1, got {cases!r}")
    if not is_numbers(fp.class_voxels, int, minimum=0) or len(fp.class_voxels) != n:
        raise bad("class_voxels", f"must list {n} voxel counts (one per class), got {fp.class_voxels!r}")
    if not is_numbers(fp.class_frequencies, minimum=0) or len(fp.class_frequencies) != n:
        raise bad(
            "class_frequencies", f"must list {n} fractions (one per class), got {fp.class_frequencies!r}"
        )
    for name in ("spacing", "shape"):
        value = getattr(fp, name)
        if not isinstance(value, dict) or not all(_axes(value.get(k)) for k in AXIS_STATISTICS):
            raise bad(name, f"must hold {list(AXIS_STATISTICS)}, 3 positive numbers each, got {value!r}")
    for name in ("case_spacings", "case_shapes"):
        value = getattr(fp, name)
        if not isinstance(value, list) or len(value) != cases or not all(_axes(row) for row in value):
            raise bad(name, f"must list {cases} entries (one per case) of 3 positive numbers")
    check_intensity(fp.intensity, channels, source, every_statistic=True)


def _axes(values: Any) -> bool:
    return is_numbers(values, positive=True) and len(values) == 3
