"""Saving predictions atomically: MONAI's ``SaveImaged`` writing to a temporary sibling, then renaming.

MONAI's image writers write the final file in place, so a run killed mid-write (or a full disk) leaves a
truncated ``case_seg.nii.gz`` that looks like a finished prediction. :class:`AtomicSaveImaged` names the
file exactly as ``SaveImaged`` does (its folder layout, postfix and suffix), hands the writer a temporary
name in the same folder that ends in the same suffix (the suffix picks the format), and renames it over the
final name when the writer is done (:func:`data_prep.io.atomic_write`: umask mode, ``os.replace``). It is
still a ``SaveImaged``, so MONAI Label's filter of saving transforms still drops it.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

from monai.data import MetaTensor
from monai.transforms import SaveImage, SaveImaged
from monai.utils import MetaKeys

from data_prep.errors import DataPrepError
from data_prep.io import atomic_write

__all__ = ["AtomicSaveImaged", "save_atomically"]


def save_atomically(
    saver: SaveImage, img: Any, meta_data: dict | None = None, overwrite: bool = True
) -> Path:
    """Write ``img`` with ``saver`` to the file ``saver`` names, through a temporary sibling; return the file.

    Args:
        saver: a MONAI ``SaveImage`` (its ``folder_layout``, ``fname_formatter`` and ``output_ext`` name
            the file).
        img: the image (a ``MetaTensor`` carries its own metadata).
        meta_data: the metadata of a plain array.
        overwrite: replace a file that exists; when False that is an error naming the file.
    """
    meta = img.meta if isinstance(img, MetaTensor) else meta_data
    target = Path(saver.folder_layout.filename(**saver.fname_formatter(meta, saver)))
    if not overwrite and target.exists():
        raise DataPrepError(f"{target}: exists already; pass --overwrite true to replace it")
    ext = saver.output_ext
    with atomic_write(target, suffix=ext) as tmp:
        stem = os.fspath(tmp)[: len(os.fspath(tmp)) - len(ext)]  # SaveImage appends output_ext
        saver(img, meta_data, filename=stem)
    if saver.savepath_in_metadict and meta is not None:
        meta[MetaKeys.SAVED_TO] = str(target)
    return target


class AtomicSaveImaged(SaveImaged):
    """``SaveImaged`` that writes each file to a temporary name in the output folder, then renames it.

    Args:
        args, kwargs: as MONAI's ``SaveImaged`` (``output_dir``, ``output_postfix``, ``output_ext``, ...).
        overwrite: replace a prediction that exists; when False that is an error naming the file (the
            inference config refuses such a run before it starts; this guards the write itself).
    """

    def __init__(self, *args: Any, overwrite: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.overwrite = bool(overwrite)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key, meta_key, meta_key_postfix in self.key_iterator(d, self.meta_keys, self.meta_key_postfix):
            if meta_key is None and meta_key_postfix is not None:
                meta_key = f"{key}_{meta_key_postfix}"
            meta_data = d.get(meta_key) if meta_key is not None else None
            save_atomically(self.saver, d[key], meta_data, self.overwrite)
        return d
