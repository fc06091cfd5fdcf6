"""2D cases stored as 3D volumes with one slice: the spatial rank a network of ``spatial_dims`` expects.

``data_prep prepare kvasir`` stores a picture as an ``(x, y, 1, 3)`` NIfTI (RGB on the 4th axis, as
multi-channel MR), so MONAI loads it channel-first as ``(3, x, y, 1)``; a picture read from a JPG or PNG is
already ``(3, x, y)``. :class:`DropSingletonAxesd` drops trailing spatial axes of size 1 until the case
has ``spatial_dims`` of them (a no-op for 3D bundles and for pictures), and refuses, naming the file, a
case that cannot become one (a real 3D volume given to a 2D bundle).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from monai.config import KeysCollection
from monai.transforms import MapTransform, SqueezeDim

from data_prep.errors import DataPrepError

__all__ = ["DropSingletonAxesd"]


class DropSingletonAxesd(MapTransform):
    """Drop trailing size-1 spatial axes of channel-first ``keys`` until ``spatial_dims`` remain.

    Args:
        keys: the items to change (channel-first tensors, e.g. ``["image", "label"]``).
        spatial_dims: the spatial rank the network takes (2 or 3).
        allow_missing_keys: as in MONAI.
    """

    def __init__(self, keys: KeysCollection, spatial_dims: int, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.spatial_dims = int(spatial_dims)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            image = d[key]
            while image.ndim - 1 > self.spatial_dims and image.shape[-1] == 1:
                image = SqueezeDim(dim=image.ndim - 1)(image)
            if image.ndim - 1 != self.spatial_dims:
                meta = getattr(image, "meta", {}) or {}
                source = meta.get("filename_or_obj", key)
                raise DataPrepError(
                    f"{source}: {key} has spatial shape {tuple(image.shape[1:])}, which is not "
                    f"{self.spatial_dims}D (a {self.spatial_dims}D bundle takes {self.spatial_dims}D cases)"
                )
            d[key] = image
        return d
