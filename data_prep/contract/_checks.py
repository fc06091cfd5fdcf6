"""What the contract's validators share: reading a contract file, its version and fields, the fields that
``fingerprint.json`` and ``plan.json`` both start with (:class:`DatasetHeader`), and the field checks more
than one file needs (index maps, number lists, per-channel intensity).

Every refusal is a :class:`~data_prep.errors.DataPrepError` whose message starts with the file
(``<path>: ...``) and names the field. Standard library only: bundle configs import the plan at inference.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import DataPrepError
from ..json_files import read_json

C = TypeVar("C")

NORMALIZATIONS = ("ct", "zscore")
INTENSITY_STATISTICS = ("mean", "std", "percentile_00_5", "percentile_99_5")


def contract_path(path: str | os.PathLike, file_name: str) -> Path:
    """``path`` itself, or ``path/file_name`` when ``path`` is a folder."""
    path = Path(path)
    return path / file_name if path.is_dir() else path


def load_contract(value: Any, cls: type[C], file_name: str, advice: str, missing: str = "file") -> C:
    """``value`` when it is a ``cls`` already, else ``cls.from_dict`` of a parsed file or of the JSON at a
    path (a folder means ``folder/file_name``; a missing file is refused with ``advice``)."""
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        return cls.from_dict(value)  # type: ignore[attr-defined]
    path = contract_path(value, file_name)
    return cls.from_dict(read_json(path, f"{missing} ({advice})"), path)  # type: ignore[attr-defined]


def check_header(
    data: Any,
    source: str | os.PathLike,
    kind: str,
    names: Iterable[str],
    version: int | None = None,
    command: str = "",
) -> None:
    """``data`` is an object; of version ``version`` (when the file has one) and with every field of ``names``.

    A version other than ``version`` is refused with the advice to run ``python -m data_prep <command>`` again.
    """
    if not isinstance(data, dict):
        raise DataPrepError(f"{source}: a {kind} must be a JSON object, got {type(data).__name__}")
    if version is not None:
        found = data.get("version")
        if found != version or isinstance(found, bool):
            raise DataPrepError(
                f"{source}: {kind} version {found!r} is not the supported version {version}; "
                f"run `python -m data_prep {command} DATASET_DIR` again to write a new one"
            )
    missing = [name for name in names if name not in data]
    if missing:
        of_version = f" ({kind} version {version})" if version is not None else ""
        raise DataPrepError(f"{source}: missing field {missing[0]!r}{of_version}")


def field_error(source: str | os.PathLike, field: str, problem: str) -> DataPrepError:
    """``<source>: field '<field>' <problem>``."""
    return DataPrepError(f"{source}: field {field!r} {problem}")


def is_index_map(value: Any, count: int | None = None, minimum: int = 1) -> bool:
    """``value`` maps ``"0"`` .. ``"n-1"`` to names (non-empty strings); ``n`` is ``count`` or its own size."""
    if not isinstance(value, dict):
        return False
    n = len(value) if count is None else count
    keys_ok = n >= minimum and sorted(value) == sorted(str(i) for i in range(n))
    return keys_ok and all(isinstance(name, str) and name.strip() for name in value.values())


def ordered(index_map: dict[str, str]) -> dict[str, str]:
    """An index map with its keys in value order (``"0"``, ``"1"``, ..., ``"10"``)."""
    return {str(i): index_map[str(i)] for i in range(len(index_map))}


def is_numbers(values: Any, kind: type = float, positive: bool = False, minimum: float | None = None) -> bool:
    """``values`` is a non-empty list of numbers (integers with ``kind=int``), positive or ``>= minimum``."""
    if not isinstance(values, list) or not values:
        return False
    allowed = (int,) if kind is int else (int, float)
    ok = all(isinstance(v, allowed) and not isinstance(v, bool) for v in values)
    ok = ok and (not positive or all(v > 0 for v in values))
    return ok and (minimum is None or all(v >= minimum for v in values))


def is_count(value: Any, minimum: int = 0) -> bool:
    """``value`` is an integer (not a bool) ``>= minimum``."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


@dataclass(frozen=True)
class DatasetHeader:
    """The fields that ``fingerprint.json`` and ``plan.json`` start with, carried over from ``dataset.json``.

    Args:
        version: format version of the file.
        name: dataset name.
        labels: class value (as a string) -> class name, background ``"0"`` first.
        num_classes: number of classes, background included (``len(labels)``).
        modality: input channel (as a string) -> modality name.
        num_channels: input channels.
    """

    version: int
    name: str
    labels: dict[str, str]
    num_classes: int
    modality: dict[str, str]
    num_channels: int

    @property
    def class_names(self) -> list[str]:
        """Class names by label value, background first."""
        return [self.labels[str(i)] for i in range(self.num_classes)]

    def check_dataset_fields(self, source: str | os.PathLike) -> None:
        """``name`` a string; ``num_classes`` (>= 2) with its ``labels``; ``num_channels`` (>= 1) with its
        ``modality``."""
        n, channels = self.num_classes, self.num_channels
        if not isinstance(self.name, str):
            raise field_error(source, "name", f"must be a string, got {self.name!r}")
        for name, value, minimum in (("num_classes", n, 2), ("num_channels", channels, 1)):
            if not is_count(value, minimum):
                raise field_error(source, name, f"must be an integer >= {minimum}, got {value!r}")
        if not is_index_map(self.labels, n):
            raise field_error(source, "labels", f"must map '0'..'{n - 1}' to names, got {self.labels!r}")
        if not is_index_map(self.modality, channels):
            raise field_error(source, "modality", f"must name {channels} channel(s), got {self.modality!r}")


def check_intensity(
    intensity: Any, num_channels: int, source: str | os.PathLike, every_statistic: bool = False
) -> None:
    """One entry per channel, each with a ``normalization`` of :data:`NORMALIZATIONS` and the statistics it
    uses (CT: all of :data:`INTENSITY_STATISTICS`; every scheme when ``every_statistic``, as the fingerprint
    holds them all)."""
    if not isinstance(intensity, list) or len(intensity) != num_channels:
        raise field_error(source, "intensity", f"must hold one entry per channel ({num_channels})")
    for c, entry in enumerate(intensity):
        scheme = entry.get("normalization") if isinstance(entry, dict) else None
        if scheme not in NORMALIZATIONS:
            raise field_error(
                source, "intensity", f"channel {c}: normalization {scheme!r} not in {NORMALIZATIONS}"
            )
        needs = INTENSITY_STATISTICS if every_statistic or scheme == "ct" else ()
        if any(not is_numbers([entry.get(k)]) for k in needs):
            what = "the fingerprint needs" if every_statistic else "CT normalization needs"
            raise field_error(source, "intensity", f"channel {c}: {what} {list(needs)} (numbers)")
