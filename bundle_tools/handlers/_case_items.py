"""The cases of an evaluator's iteration, for the handlers that draw one picture per case."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monai.data import decollate_batch

from ..metrics.names import item_case_name

__all__ = ["item_name", "output_items"]


def output_items(engine: Any) -> list[Mapping[str, Any]]:
    """The items of ``engine.state.output``: a batch dict decollated, or the list MONAI already decollated."""
    output = engine.state.output
    return decollate_batch(output) if isinstance(output, Mapping) else list(output or [])


def item_name(item: Mapping[str, Any], image_key: str, label_key: str, index: int) -> str:
    """The case's name from its image's (or label's) file name, else ``case_<index>``.

    Args:
        item: one decollated output item.
        image_key: key of the image.
        label_key: key of the label, tried when the image has no file name.
        index: the number of the case in this run, for the fallback name.
    """
    return item_case_name(item, (image_key, label_key)) or f"case_{index:04d}"
