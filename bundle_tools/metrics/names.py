"""Names of cases and classes, as the report, the folder evaluation and the pictures show them.

* :func:`class_name_map` - ``{class_index: name}`` from ``dataset.json``'s ``labels`` or a list;
* :func:`case_name` - a case's name from its file name (``/d/p01.nii.gz`` -> ``p01``);
* :func:`item_case_name` - the case name of one decollated engine output item, from its meta.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from monai.data import MetaTensor

from data_prep.contract.manifest import case_name

__all__ = ["case_name", "class_name_map", "item_case_name"]


def class_name_map(
    class_names: Mapping[Any, str] | Sequence[str], include_background: bool = False
) -> dict[int, str]:
    """``{class_index: name}`` of the scored classes.

    Args:
        class_names: names by label value - a dict (keys may be strings, as in ``dataset.json``'s
            ``labels``) or a list whose item ``i`` names label ``i`` (background first).
        include_background: keep label 0.
    """
    items = class_names.items() if isinstance(class_names, Mapping) else enumerate(class_names)
    names = {int(k): str(v) for k, v in items}
    return {k: v for k, v in sorted(names.items()) if include_background or k != 0}


def item_case_name(item: Mapping[str, Any], keys: Sequence[str] = ("image", "label")) -> str | None:
    """The case name of a decollated engine output item, from ``meta["filename_or_obj"]``.

    Args:
        item: one case's dict (``MetaTensor`` values, or ``<key>_meta_dict`` entries).
        keys: the keys to look at, in order.

    Returns:
        :func:`case_name` of the first file name found, else None.
    """
    for key in keys:
        value = item.get(key)
        meta = value.meta if isinstance(value, MetaTensor) else item.get(f"{key}_meta_dict")
        filename = meta.get("filename_or_obj") if isinstance(meta, Mapping) else None
        if isinstance(filename, (list, tuple)):
            filename = filename[0] if filename else None
        if filename:
            return case_name(str(filename))
    return None
