"""Dice + binary cross-entropy for multi-label (overlapping-region) segmentation.

MONAI's ``DiceCELoss(sigmoid=True)`` applies the sigmoid to its Dice term only: with more than one
channel its cross-entropy term is the softmax ``CrossEntropyLoss``, which is wrong for overlapping
regions such as the BraTS TC/WT/ET channels. :class:`DiceBCELoss` adds MONAI's sigmoid ``DiceLoss`` and
``BCEWithLogitsLoss`` per channel (seed 001: L = L_Dice + L_BCE).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.losses import DiceLoss
from torch.nn.modules.loss import _Loss

__all__ = ["DiceBCELoss"]


class DiceBCELoss(_Loss):
    """``lambda_dice * DiceLoss(sigmoid=True) + lambda_bce * BCEWithLogitsLoss`` on multi-label targets.

    Args:
        lambda_dice: weight of the Dice term.
        lambda_bce: weight of the binary cross-entropy term.
        pos_weight: per-channel positive weights of the BCE term (rare regions up-weighted), or None.
        smooth_nr: Dice numerator smoothing.
        smooth_dr: Dice denominator smoothing.
        batch: Dice over the whole batch per channel.

    Example::

        >>> loss = DiceBCELoss()
        >>> loss(torch.randn(2, 3, 8, 8, 8), torch.randint(0, 2, (2, 3, 8, 8, 8)).float())
    """

    def __init__(
        self,
        lambda_dice: float = 1.0,
        lambda_bce: float = 1.0,
        pos_weight: Sequence[float] | torch.Tensor | None = None,
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
    ) -> None:
        super().__init__()
        if lambda_dice < 0 or lambda_bce < 0:
            raise ValueError("lambda_dice and lambda_bce must be >= 0")
        self.dice = DiceLoss(sigmoid=True, smooth_nr=smooth_nr, smooth_dr=smooth_dr, batch=batch)
        self.lambda_dice = lambda_dice
        self.lambda_bce = lambda_bce
        weight = None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float32)
        self.register_buffer("pos_weight", weight)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input: logits ``(B, C, *spatial)``.
            target: 0/1 targets of the same shape.
        """
        if input.shape != target.shape:
            raise ValueError(f"logits {tuple(input.shape)} and targets {tuple(target.shape)} differ in shape")
        target = target.to(input.dtype)
        pos_weight = None
        if self.pos_weight is not None:
            pos_weight = self.pos_weight.to(input).reshape(-1, *([1] * (input.ndim - 2)))
        bce = torch.nn.functional.binary_cross_entropy_with_logits(input, target, pos_weight=pos_weight)
        return self.lambda_dice * self.dice(input, target) + self.lambda_bce * bce
