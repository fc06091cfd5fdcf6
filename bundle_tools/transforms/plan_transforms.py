"""Dictionary transforms the bundle configs name, for what MONAI does not already do.

- :class:`NormalizeFromPland`: intensity normalisation per channel from ``plan.json`` (nnU-Net's CT
  scheme with the dataset's foreground statistics, per-image z-score for MR).
- :class:`MSDBrainTumourToMultiLabeld`: MSD Task01 labels to the TC/WT/ET regions.

The plan is :class:`data_prep.plan.Plan`, checked by its one loader ``data_prep.plan.load_plan``; configs
read it once and hand it to every transform: ``"plan": "$data_prep.plan.load_plan(@dataset_dir)"``.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from typing import Any

import torch
from monai.config import DtypeLike, KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, NormalizeIntensity, Transform
from monai.utils import TransformBackends, convert_to_dst_type, convert_to_tensor

from data_prep.plan import Plan, load_plan

__all__ = [
    "MSDBrainTumourToMultiLabel",
    "MSDBrainTumourToMultiLabeld",
    "NormalizeFromPlan",
    "NormalizeFromPland",
]


class NormalizeFromPlan(Transform):
    """Normalise each channel of a channel-first image as ``plan.json`` says (Isensee et al.,
    "nnU-Net", Nature Methods 2021, Suppl. Note 2: intensity normalisation).

    - ``"ct"``: ``x <- (clip(x, p00.5, p99.5) - mean) / std`` with the percentiles, mean and standard
      deviation of the foreground voxels of the whole training set (fixed per dataset).
    - ``"zscore"``: ``x <- (x - mean(x_nz)) / std(x_nz)`` over this image's non-zero voxels
      ``x_nz`` (population std); zero voxels (outside the head/body in skull-stripped MR) stay 0.

    Args:
        plan: the :class:`~data_prep.plan.Plan`, a parsed ``plan.json``, its path, or the folder holding it
            (read and checked by ``data_prep.plan.load_plan``, once).
        channel_dim: the channel axis of the input.

    Returns float32, as a ``MetaTensor`` with the input's metadata when the input is one.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, plan: Plan | dict | str | os.PathLike, channel_dim: int = 0) -> None:
        self.plan = load_plan(plan)
        self.intensity = self.plan.intensity
        self.channel_dim = channel_dim
        self.zscore = NormalizeIntensity(nonzero=True, dtype=torch.float32)

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        x = convert_to_tensor(img, dtype=torch.float32, track_meta=False)
        x = torch.movedim(x, self.channel_dim, 0)
        if x.shape[0] != len(self.intensity):
            raise ValueError(
                f"image has {x.shape[0]} channels on axis {self.channel_dim}, plan.json has "
                f"{len(self.intensity)} intensity entries"
            )
        out = torch.empty_like(x)
        for c, stats in enumerate(self.intensity):
            if stats["normalization"] == "ct":
                clipped = x[c].clamp(float(stats["percentile_00_5"]), float(stats["percentile_99_5"]))
                out[c] = (clipped - float(stats["mean"])) / max(float(stats["std"]), 1e-8)
            else:
                out[c] = self.zscore(x[c])
        out = torch.movedim(out, 0, self.channel_dim)
        return convert_to_dst_type(out, img, dtype=torch.float32)[0]


class NormalizeFromPland(MapTransform):
    """Dictionary wrapper of :class:`NormalizeFromPlan`.

    Args:
        keys: keys of the images to normalise.
        plan: the :class:`~data_prep.plan.Plan`, a parsed ``plan.json``, its path, or the folder holding it.
        channel_dim: the channel axis of the images.
        allow_missing_keys: don't raise if a key is missing.

    Example::

        {"_target_": "bundle_tools.transforms.NormalizeFromPland", "keys": "image", "plan": "$@dataset_dir + '/plan.json'"}
    """

    backend = NormalizeFromPlan.backend

    def __init__(
        self,
        keys: KeysCollection,
        plan: Plan | dict | str | os.PathLike,
        channel_dim: int = 0,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.normalizer = NormalizeFromPlan(plan, channel_dim)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.normalizer(d[key])
        return d


class MSDBrainTumourToMultiLabel(Transform):
    """MSD Task01_BrainTumour labels to the three overlapping BraTS evaluation regions.

    MSD numbers the classes 1 edema, 2 non-enhancing tumour, 3 enhancing tumour (BraTS itself uses
    1 necrosis/NET, 2 edema, 4 enhancing, which MONAI's ``ConvertToMultiChannelBasedOnBratsClasses``
    assumes). Output channels, in this order (Menze et al., IEEE TMI 2015, BraTS regions):

    - TC, tumour core: label 2 or 3
    - WT, whole tumour: label 1, 2 or 3
    - ET, enhancing tumour: label 3

    Args:
        dtype: output dtype (0/1 values); float32 suits losses directly, uint8 caches 4x smaller.

    Input: a label map ``(1, *spatial)`` or ``(*spatial)``; output ``(3, *spatial)``, a ``MetaTensor``
    with the input's metadata when the input is one.
    """

    backend = [TransformBackends.TORCH, TransformBackends.NUMPY]

    def __init__(self, dtype: DtypeLike | torch.dtype = torch.float32) -> None:
        self.dtype = dtype

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        label = convert_to_tensor(img, track_meta=False)
        if label.ndim >= 3 and label.shape[0] == 1:
            label = label[0]
        if label.numel() and (label.min() < 0 or label.max() > 3):
            found = sorted(int(v) for v in torch.unique(label) if v < 0 or v > 3)
            raise ValueError(
                f"label values {found}: MSD Task01 labels are 0..3 (BraTS numbering with 4 = enhancing "
                "needs monai.transforms.ConvertToMultiChannelBasedOnBratsClassesd)"
            )
        regions = torch.stack([(label == 2) | (label == 3), label > 0, label == 3])
        return convert_to_dst_type(regions, img, dtype=self.dtype)[0]


class MSDBrainTumourToMultiLabeld(MapTransform):
    """Dictionary wrapper of :class:`MSDBrainTumourToMultiLabel` (channels TC, WT, ET).

    Args:
        keys: keys of the label maps to convert.
        dtype: output dtype.
        allow_missing_keys: don't raise if a key is missing.
    """

    backend = MSDBrainTumourToMultiLabel.backend

    def __init__(
        self,
        keys: KeysCollection,
        dtype: DtypeLike | torch.dtype = torch.float32,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.converter = MSDBrainTumourToMultiLabel(dtype)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.converter(d[key])
        return d
