"""Keep only the largest connected component of a class (the filter that ``decision.py`` decides on).

The filter is computed with ``scipy.ndimage.label`` (full connectivity by default, like MONAI's
``KeepLargestConnectedComponent``, which needs scikit-image, not a dependency of this project).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform
from scipy import ndimage

__all__ = ["KeepLargestComponent", "KeepLargestComponentd", "largest_component"]


def largest_component(mask: np.ndarray, connectivity: int | None = None) -> np.ndarray:
    """The largest connected component of a boolean ``mask`` (ties: the first in raster order).

    Args:
        mask: boolean array of any rank.
        connectivity: maximum number of orthogonal hops between neighbours, 1..ndim; None: ``mask.ndim``
            (26-connectivity in 3D), as ``skimage.measure.label``.
    """
    mask = np.asarray(mask, dtype=bool)
    structure = ndimage.generate_binary_structure(mask.ndim, connectivity or mask.ndim)
    labelled, count = ndimage.label(mask, structure=structure)
    if count <= 1:
        return mask.copy()
    sizes = np.bincount(labelled.ravel())
    sizes[0] = 0
    return labelled == int(sizes.argmax())


class KeepLargestComponent(Transform):
    """Keep only the largest connected component of each of ``applied_labels``; the rest becomes 0.

    The semantics of MONAI's ``KeepLargestConnectedComponent(independent=True)``: on a label map
    ``(1, *spatial)`` the labels are values, on one-hot or multi-label data ``(C, *spatial)`` they are
    channel indices and each channel is filtered on its own. No labels: the input is returned unchanged.

    Args:
        applied_labels: the labels (values or channels) to filter.
        is_onehot: whether the input has one channel per label.
        connectivity: see :func:`largest_component`.
    """

    def __init__(
        self, applied_labels: Sequence[int] = (), is_onehot: bool = False, connectivity: int | None = None
    ) -> None:
        self.applied_labels = tuple(int(label) for label in applied_labels)
        self.is_onehot = bool(is_onehot)
        self.connectivity = connectivity

    def __call__(self, img: Any) -> Any:
        """Filter ``img`` (``(C, *spatial)`` tensor or array); returns a filtered copy of the same type."""
        if not self.applied_labels:
            return img
        out = img.clone() if isinstance(img, torch.Tensor) else np.array(img, copy=True)
        data = out.as_tensor() if isinstance(out, MetaTensor) else out  # shares out's storage
        for label in self.applied_labels:
            if self.is_onehot and not 0 <= label < data.shape[0]:
                raise ValueError(f"label {label}: no such channel in data of shape {tuple(data.shape)}")
            channel = data[label] if self.is_onehot else data[0]
            fg = channel > 0 if self.is_onehot else channel == label
            fg_np = fg.cpu().numpy() if isinstance(fg, torch.Tensor) else np.asarray(fg)
            drop = fg_np & ~largest_component(fg_np, self.connectivity)
            if drop.any():
                is_tensor = isinstance(channel, torch.Tensor)
                channel[torch.from_numpy(drop).to(channel.device) if is_tensor else drop] = 0
        return out


class KeepLargestComponentd(MapTransform):
    """Dictionary version of :class:`KeepLargestComponent`.

    Args:
        keys: keys of the items to filter (``"pred"``).
        applied_labels, is_onehot, connectivity: see :class:`KeepLargestComponent`.
        allow_missing_keys: do not fail on a missing key.
    """

    def __init__(
        self,
        keys: KeysCollection,
        applied_labels: Sequence[int] = (),
        is_onehot: bool = False,
        connectivity: int | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.filter = KeepLargestComponent(applied_labels, is_onehot, connectivity)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.filter(d[key])
        return d
