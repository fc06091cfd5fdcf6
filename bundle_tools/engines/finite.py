"""Training stops at the first non-finite loss, and nothing non-finite is ever written as a checkpoint.

A NaN or infinite loss (a NaN voxel that slipped through, a learning rate that diverges, an overflow) makes
every weight non-finite after the optimizer step; MONAI trains on, validation Dice drops to 0 and the run
exits 0 with a useless ``model.pt``. :func:`stop_on_non_finite_loss` runs on MONAI's
``IterationEvents.LOSS_COMPLETED``, before the backward pass and the step, and raises
:class:`NonFiniteError` naming the iteration and the cases of the batch; :func:`non_finite_tensors` lets
the checkpoint savers refuse a state with a NaN or infinity in it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["NonFiniteError", "batch_case_names", "non_finite_tensors", "stop_on_non_finite_loss"]


class NonFiniteError(RuntimeError):
    """A loss or a state that holds NaN or infinity; the message says where it came from."""


def batch_case_names(batch: Any, key: str = "image") -> list[str]:
    """The source files of the cases in a collated batch (from the ``MetaTensor``'s ``filename_or_obj``)."""
    if isinstance(batch, (list, tuple)):  # decollated, or several crops per case
        return [name for item in batch for name in batch_case_names(item, key)]
    if not isinstance(batch, Mapping) or key not in batch:
        return []
    meta = getattr(batch[key], "meta", None) or batch.get(f"{key}_meta_dict") or {}
    names = meta.get("filename_or_obj", [])
    names = [names] if isinstance(names, str) else list(names)
    return list(dict.fromkeys(str(n) for n in names))  # a case cropped N times is named once


def stop_on_non_finite_loss(engine: Any) -> None:
    """Raise :class:`NonFiniteError` when ``engine.state.output["loss"]`` is NaN or infinite.

    Attach to ``IterationEvents.LOSS_COMPLETED`` of a MONAI trainer: the backward pass and the optimizer
    step of that iteration never run, so the weights stay as the last finite step left them.
    """
    loss = engine.state.output.get("loss") if isinstance(engine.state.output, Mapping) else None
    if loss is None:
        return
    value = float(loss.detach().float().sum()) if isinstance(loss, torch.Tensor) else float(loss)
    if math.isfinite(value):
        return
    cases = ", ".join(batch_case_names(engine.state.batch)) or "unknown cases"
    raise NonFiniteError(
        f"{cases}: training loss is {value} at iteration {engine.state.iteration} (epoch "
        f"{engine.state.epoch}); training stopped before the weights were updated. Check these images for "
        "NaN/infinite voxels (`python -m data_prep validate`) or lower the learning rate"
    )


def non_finite_tensors(state: Any, prefix: str = "") -> list[str]:
    """Names (``"model.conv.weight"``) of the floating-point tensors in a nested state that hold NaN or inf."""
    if isinstance(state, torch.Tensor):
        if state.is_floating_point() or state.is_complex():
            return [] if bool(torch.isfinite(state).all()) else [prefix or "tensor"]
        return []
    if isinstance(state, Mapping):
        items = state.items()
    elif isinstance(state, (list, tuple)):
        items = enumerate(state)
    else:
        return []
    return [name for k, v in items for name in non_finite_tensors(v, f"{prefix}.{k}" if prefix else str(k))]
