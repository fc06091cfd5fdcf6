"""Deep-supervision heads in the engines: which head is the prediction once the loss has seen them all.

A network trained with deep supervision returns a list/tuple of per-level logits in train mode (the
loss, e.g. ``monai.losses.DeepSupervisionLoss``, takes the whole list); post-processing, metrics and
inference want one tensor, the full-resolution head.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from monai.utils.enums import CommonKeys as Keys

__all__ = ["full_resolution_head", "keep_full_resolution_head"]


def full_resolution_head(outputs: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """The full-resolution prediction among deep-supervision heads (the first with most voxels).

    Args:
        outputs: a tensor (returned as is) or a list/tuple of per-level logits ``(B, C, *spatial)``.
    """
    if isinstance(outputs, torch.Tensor):
        return outputs
    heads = list(outputs)
    return max(heads, key=lambda t: t.shape[2:].numel())  # max() keeps the first among equals


def keep_full_resolution_head(engine: Any) -> None:
    """Event handler (``IterationEvents.LOSS_COMPLETED``): the full-resolution head replaces a list of heads
    in ``engine.state.output["pred"]``, so post-processing and train metrics see one tensor."""
    output = engine.state.output
    if isinstance(output, dict) and isinstance(output.get(Keys.PRED), (list, tuple)):
        output[Keys.PRED] = full_resolution_head(output[Keys.PRED])
