"""Remapping label values: grey levels of a mask -> class indices 0..N-1.

Two kinds of maps, which can be combined:

- exact: ``{63: 1, 126: 2, 189: 3, 252: 4}`` (CHAOS MR masks as shipped);
- ranges: ``[(55, 70, 1), (110, 135, 2), (175, 200, 3), (240, 255, 4)]`` (masks that went through
  interpolation or lossy compression and hold grey values around the nominal ones).

Value 0 is background (class 0) unless the map says otherwise. A value that the map does not
cover is an error that lists every such value and its voxel count, unless ``nearest=True``: then
it takes the class whose value or range is nearest (ties go to the lower value).

Example::

    label = remap_image(sitk.ReadImage("mask.nii.gz"), CHAOS_RANGES, source="mask.nii.gz")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from .errors import DataPrepError


@dataclass(frozen=True)
class LabelMap:
    """Value -> class map. ``exact`` maps single values, ``ranges`` closed intervals ``(low, high, class)``.

    Exact values are looked up first. ``background_zero`` adds ``0 -> 0`` unless 0 is mapped already.
    """

    exact: Mapping[float, int] = field(default_factory=dict)
    ranges: tuple[tuple[float, float, int], ...] = ()
    background_zero: bool = True

    def __post_init__(self) -> None:
        ranges = tuple(sorted((float(lo), float(hi), int(c)) for lo, hi, c in self.ranges))
        for lo, hi, _ in ranges:
            if lo > hi:
                raise DataPrepError(f"label range {lo:g}-{hi:g}: low end above high end")
        for (lo1, hi1, _), (lo2, hi2, _) in zip(ranges, ranges[1:], strict=False):
            if lo2 <= hi1:
                raise DataPrepError(f"label ranges {lo1:g}-{hi1:g} and {lo2:g}-{hi2:g} overlap")
        exact = {float(k): int(v) for k, v in self.exact.items()}
        if self.background_zero and 0.0 not in exact and not any(lo <= 0 <= hi for lo, hi, _ in ranges):
            exact[0.0] = 0
        object.__setattr__(self, "ranges", ranges)
        object.__setattr__(self, "exact", exact)

    @property
    def classes(self) -> list[int]:
        """The class indices this map produces, sorted."""
        return sorted(set(self.exact.values()) | {c for _, _, c in self.ranges})

    def lookup(self, value: float) -> int | None:
        """The class of ``value``, or None when the map does not cover it."""
        if value in self.exact:
            return self.exact[value]
        for lo, hi, c in self.ranges:
            if lo <= value <= hi:
                return c
        return None

    def nearest(self, value: float) -> int:
        """The class whose exact value or range is nearest to ``value`` (ties: the lower value)."""
        candidates = [(abs(value - k), k, c) for k, c in self.exact.items()]
        candidates += [(max(lo - value, 0.0, value - hi), lo, c) for lo, hi, c in self.ranges]
        if not candidates:
            raise DataPrepError("empty label map")
        return min(candidates)[2]

    def describe(self) -> str:
        """A short text form, e.g. ``0->0, 63->1, 110-135->2``."""
        parts = [f"{k:g}->{c}" for k, c in sorted(self.exact.items())]
        parts += [f"{lo:g}-{hi:g}->{c}" for lo, hi, c in self.ranges]
        return ", ".join(parts)


#: CHAOS MR masks as shipped: liver, right kidney, left kidney, spleen
CHAOS_EXACT = LabelMap(exact={63: 1, 126: 2, 189: 3, 252: 4})
#: CHAOS MR masks with interpolated grey values around the nominal ones
CHAOS_RANGES = LabelMap(ranges=((55, 70, 1), (110, 135, 2), (175, 200, 3), (240, 255, 4)))
CHAOS_LABELS = {"0": "background", "1": "liver", "2": "right_kidney", "3": "left_kidney", "4": "spleen"}

PRESETS: dict[str, LabelMap] = {"chaos": CHAOS_EXACT, "chaos-ranges": CHAOS_RANGES}


def _format_value(value: float) -> str:
    return f"{value:g}"


def remap_array(
    array: np.ndarray, label_map: LabelMap, *, nearest: bool = False, source: str = "labels"
) -> np.ndarray:
    """Map every value of ``array`` to its class; returns uint8 (uint16 when a class exceeds 255).

    Raises ``DataPrepError`` naming ``source`` and listing every unmapped value with its voxel
    count (and NaN/Inf, which no map covers), unless ``nearest`` is set.
    """
    values, inverse, counts = np.unique(array, return_inverse=True, return_counts=True)
    non_finite = (
        ~np.isfinite(values.astype(np.float64)) if values.dtype.kind == "f" else np.zeros(values.shape, bool)
    )
    if non_finite.any():
        raise DataPrepError(f"{source}: {int(counts[non_finite].sum())} voxels are NaN or infinite")
    classes = np.empty(values.shape, dtype=np.int64)
    unmapped = []
    for i, value in enumerate(values.tolist()):
        c = label_map.lookup(float(value))
        if c is None:
            unmapped.append(i)
            c = label_map.nearest(float(value)) if nearest else 0
        classes[i] = c
    if unmapped and not nearest:
        listing = ", ".join(f"{_format_value(values[i])} ({counts[i]} voxels)" for i in unmapped[:20])
        more = f" and {len(unmapped) - 20} more" if len(unmapped) > 20 else ""
        raise DataPrepError(
            f"{source}: values outside the label map: {listing}{more}; map is {label_map.describe()} "
            "(use nearest to send them to the nearest class)"
        )
    dtype = np.uint8 if classes.max(initial=0) <= 255 else np.uint16
    return classes.astype(dtype)[inverse.reshape(array.shape)]


def remap_image(
    image: sitk.Image, label_map: LabelMap, *, nearest: bool = False, source: str = "labels"
) -> sitk.Image:
    """``remap_array`` on a SimpleITK image; spacing, origin and direction are kept."""
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise DataPrepError(
            f"{source}: a label image has one value per voxel, found {image.GetNumberOfComponentsPerPixel()}"
        )
    out = sitk.GetImageFromArray(
        remap_array(sitk.GetArrayViewFromImage(image), label_map, nearest=nearest, source=source)
    )
    out.CopyInformation(image)
    return out


def parse_exact(items: Iterable[str]) -> dict[float, int]:
    """``["63=1", "126=2"]`` -> ``{63.0: 1, 126.0: 2}``."""
    mapping = {}
    for item in items:
        try:
            value, cls = item.split("=")
            mapping[float(value)] = int(cls)
        except ValueError:
            raise DataPrepError(f"--map {item!r}: expected VALUE=CLASS, e.g. 63=1") from None
    return mapping


def parse_ranges(items: Iterable[str]) -> tuple[tuple[float, float, int], ...]:
    """``["55-70=1", "110-135=2"]`` -> ``((55.0, 70.0, 1), (110.0, 135.0, 2))``."""
    ranges = []
    for item in items:
        try:
            span, cls = item.split("=")
            lo, hi = span.split("-")
            ranges.append((float(lo), float(hi), int(cls)))
        except ValueError:
            raise DataPrepError(f"--ranges {item!r}: expected LOW-HIGH=CLASS, e.g. 55-70=1") from None
    return tuple(ranges)
