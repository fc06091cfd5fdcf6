"""Segmentation losses the bundles name, and the plan's class weights as a loss weight.

Which loss a bundle uses for what (MONAI 1.6.1 signatures; ``@plan`` is the loaded ``plan.json``):

- Dice + cross-entropy (softmax, one label map): ``monai.losses.DiceCELoss(to_onehot_y=True,
  softmax=True, weight=...)``. ``weight`` (a 1D tensor of ``num_classes``; the old ``ce_weight`` name
  is gone) is the ``CrossEntropyLoss`` class weight *and* the Dice class weight; with
  ``include_background=False`` MONAI drops ``weight[0]`` for the Dice term only.
- Dice + focal: ``monai.losses.DiceFocalLoss(to_onehot_y=True, softmax=True, gamma=2.0,
  weight=...)``; ``weight`` (list or tensor) weights both terms per class.
- Dice + BCE, multi-label (e.g. MSD brain tumour TC/WT/ET channels): ``monai.losses.DiceCELoss(
  sigmoid=True)`` with no ``weight``: with one sigmoid channel per region MONAI passes ``weight`` to
  ``BCEWithLogitsLoss`` as ``pos_weight``, which broadcasts over the *last spatial* axis, and the
  plan's weights are per label value, not per region, so they do not apply.
- Focal Tversky: :class:`FocalTverskyLoss` (below).

The plan's ``class_weights`` (a list indexed by label value, mean 1) become the ``weight`` argument
through :func:`plan_class_weights`, e.g. in a config::

    "loss": {"_target_": "DiceCELoss", "to_onehot_y": true, "softmax": true,
             "weight": "$bundle_tools.losses.plan_class_weights(@plan)"}

Deep supervision wraps any of these: ``{"_target_": "DeepSupervisionLoss", "loss": "@base_loss"}``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from monai.losses import TverskyLoss
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

from data_prep.plan import Plan, load_plan

__all__ = ["FocalTverskyLoss", "plan_class_weights"]


def plan_class_weights(
    plan: Plan | dict | str | os.PathLike, device: str | torch.device | None = None
) -> torch.Tensor:
    """The plan's per-class loss weights as a float32 tensor of shape ``(num_classes,)``.

    Args:
        plan: the :class:`~data_prep.plan.Plan`, a parsed ``plan.json``, its path, or the folder holding it.
        device: where to put the tensor (losses move buffers with the module anyway).
    """
    return torch.as_tensor(load_plan(plan).class_weights, dtype=torch.float32, device=device)


class FocalTverskyLoss(_Loss):
    """Focal Tversky loss (Abraham & Khan, "A novel focal Tversky loss function with improved attention
    U-Net for lesion segmentation", ISBI 2019, arXiv:1810.07842).

    Per class ``c`` (sums over voxels ``i``; ``p`` probabilities, ``g`` one-hot ground truth), Eq. 3-4:

        TI_c  = (sum_i p_ic g_ic + s_nr) / (sum_i p_ic g_ic + alpha sum_i (1 - p_ic) g_ic
                                            + beta sum_i p_ic (1 - g_ic) + s_dr)
        FTL_c = (1 - TI_c) ** (1 / gamma)

    ``alpha`` weights false negatives and ``beta`` false positives (the paper uses alpha=0.7,
    beta=0.3, gamma=4/3); ``gamma=1`` gives the Tversky loss ``1 - TI_c``, and alpha=beta=0.5 with
    gamma=1 the Dice loss. The paper sums FTL_c over classes; here the per-(sample, class) terms are
    multiplied by ``weight`` and reduced as MONAI's losses do (``"mean"``, ``"sum"`` or ``"none"``).
    TI_c comes from ``monai.losses.TverskyLoss`` (whose ``alpha`` is the false-positive weight).

    Args:
        include_background: whether channel 0 takes part.
        to_onehot_y: one-hot encode a ``(B, 1, ...)`` label map to the number of predicted channels.
        sigmoid: apply a sigmoid to the logits (multi-label).
        softmax: apply a softmax over channels to the logits.
        alpha: weight of the false negatives.
        beta: weight of the false positives.
        gamma: focal parameter; ``(1 - TI) ** (1 / gamma)``, the paper searches gamma in [1, 3].
        weight: per-class weights (length = number of classes before ``include_background`` drops
            channel 0, as ``plan_class_weights`` gives them), or None.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (a ``(B, C)`` tensor, ``(C,)`` with ``batch``).
        smooth_nr: added to the numerator of TI.
        smooth_dr: added to the denominator of TI.
        batch: sum over the batch before the ratio (one TI per class over the whole batch).

    Example::

        >>> loss = FocalTverskyLoss(to_onehot_y=True, softmax=True)
        >>> loss(torch.randn(2, 3, 8, 8, 8), torch.randint(0, 3, (2, 1, 8, 8, 8)))
    """

    def __init__(
        self,
        include_background: bool = True,
        to_onehot_y: bool = False,
        sigmoid: bool = False,
        softmax: bool = False,
        alpha: float = 0.7,
        beta: float = 0.3,
        gamma: float = 4.0 / 3.0,
        weight: Sequence[float] | torch.Tensor | None = None,
        reduction: LossReduction | str = LossReduction.MEAN,
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
    ) -> None:
        super().__init__(reduction=LossReduction(reduction).value)
        if gamma <= 0:
            raise ValueError(f"gamma must be positive, got {gamma}")
        if sigmoid and softmax:
            raise ValueError("sigmoid and softmax are mutually exclusive")
        self.tversky = TverskyLoss(
            include_background=include_background,
            to_onehot_y=to_onehot_y,
            sigmoid=sigmoid,
            softmax=softmax,
            alpha=beta,  # MONAI's alpha weights false positives
            beta=alpha,  # MONAI's beta weights false negatives
            reduction=LossReduction.NONE,
            smooth_nr=smooth_nr,
            smooth_dr=smooth_dr,
            batch=batch,
        )
        self.include_background = include_background
        self.gamma = gamma
        class_weight = None if weight is None else torch.as_tensor(weight, dtype=torch.float32)
        if class_weight is not None and (class_weight.ndim != 1 or bool((class_weight < 0).any())):
            raise ValueError("weight must be a 1D sequence of non-negative per-class weights")
        self.register_buffer("class_weight", class_weight)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input: logits ``(B, C, *spatial)``.
            target: ``(B, C, *spatial)`` one-hot/multi-label, or ``(B, 1, *spatial)`` with ``to_onehot_y``.
        """
        one_minus_ti = self.tversky(input, target)  # (B, C) or (C,) with batch
        # clamp: d/dx x**(1/gamma) is infinite at 0 (a perfectly predicted class)
        loss = one_minus_ti.clamp(min=1e-7) ** (1.0 / self.gamma)
        if self.class_weight is not None:
            weight = self.class_weight
            if not self.include_background and input.shape[1] > 1 and weight.numel() == input.shape[1]:
                weight = weight[1:]
            if weight.numel() != loss.shape[-1]:
                raise ValueError(f"{weight.numel()} class weights for {loss.shape[-1]} classes")
            loss = loss * weight.to(loss)
        if self.reduction == LossReduction.MEAN.value:
            return loss.mean()
        if self.reduction == LossReduction.SUM.value:
            return loss.sum()
        return loss
