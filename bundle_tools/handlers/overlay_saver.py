"""Segmentation overlays of an evaluator's cases: ``<case>_overlay.png`` for the first cases of every run.

:class:`OverlaySaver` draws :func:`bundle_tools.visualize.overlays.save_segmentation_overlay` (ground truth
as contours, prediction as a fill) for each decollated item of the evaluator's output.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ignite.engine import Engine, Events

from ..visualize.overlays import save_segmentation_overlay
from ..visualize.slices import PLANES
from ._case_items import item_name, output_items

__all__ = ["OverlaySaver"]


class OverlaySaver:
    """Evaluator handler: one overlay PNG per case (the first ``max_cases`` of every run).

    Each decollated item of ``engine.state.output`` gives the image, label and prediction; the case is
    named from the image's ``meta["filename_or_obj"]`` -> ``<output_dir>/<case>_overlay.png``.

    Args:
        output_dir: folder of the PNGs.
        class_names: names by label (dict or list, background first).
        max_cases: how many cases per run get a picture (None: all).
        planes: ``("axial",)`` or any of ``"axial"``, ``"coronal"``, ``"sagittal"`` (3D only).
        image_key: key of the image in each output item.
        label_key: key of the ground truth.
        pred_key: key of the prediction (one-hot or label map).
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        class_names: Mapping[Any, str] | Sequence[str] | None = None,
        max_cases: int | None = 8,
        planes: Sequence[str] = ("axial",),
        image_key: str = "image",
        label_key: str = "label",
        pred_key: str = "pred",
    ) -> None:
        unknown = set(planes) - set(PLANES)
        if unknown:
            raise ValueError(f"unknown planes {sorted(unknown)}; choose from {list(PLANES)}")
        self.output_dir = Path(output_dir)
        self.class_names = class_names
        self.max_cases = max_cases
        self.planes = tuple(planes)
        self.image_key, self.label_key, self.pred_key = image_key, label_key, pred_key
        self.saved: list[Path] = []

    def attach(self, engine: Engine) -> None:
        """Register on an evaluator.

        Args:
            engine: the evaluator.
        """
        engine.add_event_handler(Events.EPOCH_STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def _reset(self, engine: Engine) -> None:
        self.saved = []

    def __call__(self, engine: Engine) -> None:
        """Draw the cases of the current iteration (until ``max_cases`` are drawn)."""
        for item in output_items(engine):
            if self.max_cases is not None and len(self.saved) >= self.max_cases:
                return
            case = item_name(item, self.image_key, self.label_key, len(self.saved))
            path = self.output_dir / f"{case}_overlay.png"
            image = item[self.image_key]
            save_segmentation_overlay(
                image,
                item[self.label_key],
                item[self.pred_key],
                path,
                self.class_names,
                planes=self.planes,
                title=case,
            )
            self.saved.append(path)
