"""The worst cases of an evaluation, as one picture: ``worst_cases.png`` (see
:mod:`bundle_tools.visualize.gallery`).

:class:`WorstCasesGallery` scores every decollated case of the evaluator's output by its mean Dice over the
foreground classes found in its ground truth or prediction, keeps the ``count`` lowest (their picture or
representative axial slice only, so memory stays small) and draws them when the evaluation completes.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ignite.engine import Engine, Events

from ..visualize.gallery import save_worst_cases
from ..visualize.overlays import View, case_views
from ..visualize.slices import label_map
from ._case_items import item_name, output_items

__all__ = ["WorstCasesGallery", "view_dice"]


def view_dice(gt: np.ndarray, pred: np.ndarray) -> float:
    """Mean Dice over the foreground classes in ``gt`` or ``pred`` (label maps); 1.0 when both are empty."""
    classes = (set(np.unique(gt).tolist()) | set(np.unique(pred).tolist())) - {0}
    scores = [2.0 * np.sum((gt == c) & (pred == c)) / (np.sum(gt == c) + np.sum(pred == c)) for c in classes]
    return float(np.mean(scores)) if scores else 1.0


class WorstCasesGallery:
    """Evaluator handler: ``<output_dir>/worst_cases.png`` with the ``count`` cases of lowest Dice.

    Args:
        output_dir: folder of the PNG.
        class_names: names by label (dict or list, background first).
        count: how many cases the gallery shows.
        filename: name of the PNG.
        image_key: key of the image in each output item.
        label_key: key of the ground truth.
        pred_key: key of the prediction (one-hot or label map).
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        class_names: Mapping[Any, str] | Sequence[str] | None = None,
        count: int = 4,
        filename: str = "worst_cases.png",
        image_key: str = "image",
        label_key: str = "label",
        pred_key: str = "pred",
    ) -> None:
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        self.path = Path(output_dir) / filename
        self.class_names = class_names
        self.count = int(count)
        self.image_key, self.label_key, self.pred_key = image_key, label_key, pred_key
        self._worst: list[tuple[float, int, str, View]] = []  # a heap of (-dice, order, name, view)
        self._seen = 0

    def attach(self, engine: Engine) -> None:
        """Register on an evaluator.

        Args:
            engine: the evaluator.
        """
        engine.add_event_handler(Events.EPOCH_STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._collect)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._draw)

    def _reset(self, engine: Engine) -> None:
        self._worst, self._seen = [], 0

    def _collect(self, engine: Engine) -> None:
        for item in output_items(engine):
            name = item_name(item, self.image_key, self.label_key, self._seen)
            self._seen += 1
            image, label, pred = item[self.image_key], item[self.label_key], item[self.pred_key]
            dims = image.ndim - 1
            dice = view_dice(label_map(label, dims), label_map(pred, dims))  # the whole case, not the slice
            entry = (-dice, -self._seen, name, case_views(image, label, pred)[0])
            if len(self._worst) < self.count:
                heapq.heappush(self._worst, entry)
            else:  # the heap's top is the best of the kept cases: replace it when this one is worse
                heapq.heappushpop(self._worst, entry)

    def _draw(self, engine: Engine) -> None:
        if not self._worst:
            return
        ranked = sorted(self._worst, key=lambda e: (-e[0], -e[1]))  # lowest Dice first
        save_worst_cases([(name, -neg, view) for neg, _, name, view in ranked], self.path, self.class_names)
