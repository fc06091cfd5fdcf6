"""Post-processing decided after training: keep only the largest connected component of a class.

As in nnU-Net's post-processing step, the decision is made once, after training, on the validation cases
with the best model (``models/model.pt``): for each foreground class the predictions are scored with and
without keeping only the largest connected component of that class, and the filter is kept for the class
when it does not lower the class's mean validation Dice. The decision is written next to the weights as
``models/postprocessing.json`` (:func:`bundle_tools.postprocess.after_training.decide_after_training`);
inference and evaluation apply it with :class:`KeepLargestComponentd`.

Rule (per class ``c``): Dice per case is ``2|P∩G| / (|P| + |G|)``, NaN when both are empty (the case says
nothing about ``c`` and is left out, as in nnU-Net); the filter is kept when the mean over the cases with
it is >= the mean without it. Equality keeps it (nnU-Net's choice: same Dice, fewer stray islands on
unseen cases); a class with no scored case at all is not filtered. Classes are independent: removing
islands of one class turns them into background, which changes no other class's Dice.

``models/postprocessing.json`` (``version`` 1)::

    {"version": 1, "method": "keep_largest_component", "label_kind": "label_map",
     "keep_largest_component": [1, 3],          # label values (label_kind "multi_label": output channels)
     "classes": {"1": "liver", ...},
     "validation_dice": {"raw": {"1": 0.91, ...}, "largest_component": {"1": 0.93, ...},
                         "mean_foreground": {"raw": 0.85, "postprocessed": 0.86}},
     "cases": 4, "model": {"epoch": 27, "metric": 0.87}}

``largest_component`` is the mean Dice of each class with its filter on; ``mean_foreground`` the mean
over classes without any filter and with the decision applied. NaN is written as ``null``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .largest_component import largest_component

__all__ = [
    "FILENAME",
    "LargestComponentDecision",
    "case_dice",
    "decide_from_scores",
    "decide_largest_component",
    "keep_largest_component_labels",
    "read_postprocessing",
    "score_rows",
    "write_postprocessing",
]

FILENAME = "postprocessing.json"
VERSION = 1
_log = logging.getLogger(__name__)


def _masks(x: Any, labels: Sequence[int], multi_label: bool) -> np.ndarray:
    """``(K, *spatial)`` booleans: channel ``labels[k] > 0`` (multi-label) or ``x[0] == labels[k]``."""
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if multi_label:
        return np.stack([x[label] > 0 for label in labels])
    return np.stack([x[0] == label for label in labels])


def _dice(pred: np.ndarray, truth: np.ndarray) -> float:
    denominator = int(pred.sum()) + int(truth.sum())
    return 2.0 * int(np.logical_and(pred, truth).sum()) / denominator if denominator else math.nan


def case_dice(
    pred: Any, label: Any, labels: Sequence[int], multi_label: bool = False, connectivity: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-class Dice of one case without and with the largest-component filter of that class.

    Args:
        pred: the discrete prediction: a label map ``(1, *spatial)``, or ``(C, *spatial)`` binary
            channels with ``multi_label``.
        label: the ground truth in the same form.
        labels: the classes to score (label values, or channel indices with ``multi_label``).
        multi_label: channels instead of label values.
        connectivity: see :func:`largest_component`.

    Returns:
        ``(raw, filtered)``: two ``(len(labels),)`` arrays; NaN where prediction and truth are both empty.
    """
    pred_masks, truth = _masks(pred, labels, multi_label), _masks(label, labels, multi_label)
    raw = np.array([_dice(p, t) for p, t in zip(pred_masks, truth)])
    filtered = np.array([_dice(largest_component(p, connectivity), t) for p, t in zip(pred_masks, truth)])
    return raw, filtered


def _nanmean(x: np.ndarray, axis: int | None = None) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "Mean of empty slice": NaN is the answer
        return np.nanmean(x, axis=axis)


class LargestComponentDecision:
    """Which classes keep only their largest component, and the validation Dice behind it.

    Args:
        labels: the candidate classes (label values or channels).
        raw: mean validation Dice of each class without the filter (NaN: no scored case).
        filtered: the same with the class's filter on.
        cases: number of validation cases.
    """

    def __init__(self, labels: Sequence[int], raw: Sequence[float], filtered: Sequence[float], cases: int):
        self.labels = tuple(int(label) for label in labels)
        self.raw = {label: float(v) for label, v in zip(self.labels, raw)}
        self.filtered = {label: float(v) for label, v in zip(self.labels, filtered)}
        self.cases = int(cases)
        self.keep = tuple(
            label
            for label in self.labels
            if not math.isnan(self.raw[label]) and self.filtered[label] >= self.raw[label]
        )

    def mean_foreground(self) -> tuple[float, float]:
        """Mean over classes of the validation Dice without any filter and with the decision applied."""
        raw = [self.raw[c] for c in self.labels]
        decided = [self.filtered[c] if c in self.keep else self.raw[c] for c in self.labels]
        return float(_nanmean(np.array(raw or [math.nan]))), float(_nanmean(np.array(decided or [math.nan])))

    def to_dict(
        self,
        class_names: Sequence[str] | None = None,
        multi_label: bool = False,
        model: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The content of ``postprocessing.json`` (NaN as None)."""

        def num(v: float) -> float | None:
            return None if math.isnan(v) else round(v, 6)

        raw_mean, decided_mean = self.mean_foreground()
        out: dict[str, Any] = {
            "version": VERSION,
            "method": "keep_largest_component",
            "rule": "keep a class's filter when its mean validation Dice with it >= without it",
            "label_kind": "multi_label" if multi_label else "label_map",
            "keep_largest_component": list(self.keep),
        }
        if class_names is not None:
            out["classes"] = {str(c): str(class_names[c]) for c in self.labels if 0 <= c < len(class_names)}
        out["validation_dice"] = {
            "raw": {str(c): num(v) for c, v in self.raw.items()},
            "largest_component": {str(c): num(v) for c, v in self.filtered.items()},
            "mean_foreground": {"raw": num(raw_mean), "postprocessed": num(decided_mean)},
        }
        out["cases"] = self.cases
        if model:
            out["model"] = dict(model)
        return out


def score_rows(scores: Any, k: int) -> np.ndarray:
    scores = np.asarray(scores, dtype=float)
    return scores.reshape(0, k) if scores.size == 0 else scores.reshape(-1, k)


def decide_from_scores(raw: Any, filtered: Any, labels: Sequence[int]) -> LargestComponentDecision:
    """The decision from per-case Dice arrays ``(cases, len(labels))`` (see :func:`case_dice`)."""
    raw, filtered = score_rows(raw, len(labels)), score_rows(filtered, len(labels))
    return LargestComponentDecision(labels, _nanmean(raw, axis=0), _nanmean(filtered, axis=0), len(raw))


def decide_largest_component(
    preds: Iterable[Any],
    labels: Iterable[Any],
    classes: Sequence[int],
    multi_label: bool = False,
    connectivity: int | None = None,
) -> LargestComponentDecision:
    """Decide per class whether keeping its largest component helps, from validation predictions.

    Args:
        preds: discrete predictions, one per case (see :func:`case_dice`).
        labels: the ground truth of the same cases.
        classes: the foreground classes (label values, or channels with ``multi_label``).
        multi_label: predictions and labels are binary channels.
        connectivity: see :func:`largest_component`.
    """
    scores = [case_dice(p, t, classes, multi_label, connectivity) for p, t in zip(preds, labels, strict=True)]
    return decide_from_scores([s[0] for s in scores], [s[1] for s in scores], classes)


def write_postprocessing(content: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write ``content`` as JSON to ``path`` atomically (``data_prep.io.write_json``), mode from the umask."""
    from data_prep.io import remove_stale_temporaries, write_json  # not at import: inference only reads

    remove_stale_temporaries(path)  # a run killed while writing it
    return write_json(dict(content), path)


def read_postprocessing(path: str | os.PathLike) -> dict[str, Any] | None:
    """The content of a ``postprocessing.json``; None when there is no such file.

    Raises:
        ValueError: the file is not a version-1 decision (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(content, dict) or content.get("version") != VERSION:
        found = content.get("version") if isinstance(content, dict) else type(content).__name__
        raise ValueError(f"{path}: not a version-{VERSION} post-processing decision (version {found!r})")
    labels = content.get("keep_largest_component", [])
    if not isinstance(labels, list) or not all(
        isinstance(x, int) and not isinstance(x, bool) for x in labels
    ):
        raise ValueError(f"{path}: keep_largest_component must be a list of integers, got {labels!r}")
    return content


def keep_largest_component_labels(path: str | os.PathLike) -> list[int]:
    """The labels whose largest component inference keeps: ``[]`` (no filtering) without the file."""
    content = read_postprocessing(path)
    return [] if content is None else list(content.get("keep_largest_component", []))
