"""The training engine of the bundles: MONAI's ``SupervisedTrainer`` with device-aware mixed precision,
channels-last and deep supervision.

Example (bundle JSON)::

    "trainer": {"_target_": "bundle_tools.engines.AmpSupervisedTrainer", "device": "@device",
                "max_epochs": "@epochs", "train_data_loader": "@train#dataloader",
                "network": "@network", "optimizer": "@optimizer", "loss_function": "@loss",
                "inferer": "@train#inferer", "amp": true, "amp_dtype": "auto"}
"""

from __future__ import annotations

from typing import Any

import torch
from monai.engines import SupervisedTrainer
from monai.engines.utils import IterationEvents

from .amp_engine import AmpEngineMixin
from .autocast import Float32Loss
from .deep_supervision import keep_full_resolution_head
from .finite import stop_on_non_finite_loss

__all__ = ["AmpSupervisedTrainer"]


class AmpSupervisedTrainer(AmpEngineMixin, SupervisedTrainer):
    """MONAI ``SupervisedTrainer`` whose mixed precision follows the device it runs on.

    Takes every argument of ``monai.engines.SupervisedTrainer`` (same names, same meaning) plus
    ``amp_dtype`` and ``channels_last``. With ``amp=True`` the network's forward runs under
    ``torch.autocast`` per :func:`~bundle_tools.engines.precision.resolve_amp` (bfloat16 on CPU, float16 +
    GradScaler or bfloat16 on CUDA); the predictions are cast to float32 and the loss is computed outside
    autocast. Float16 on CUDA uses MONAI's own GradScaler path unchanged (so ``accumulation_steps`` works
    as in MONAI).

    The wrapping happens once, here: ``self.inferer`` is an :class:`~bundle_tools.engines.autocast.AmpInferer`
    around the given inferer and ``self.loss_function`` a :class:`~bundle_tools.engines.autocast.Float32Loss`
    around the given loss; MONAI's ``_iteration`` runs as is.

    A NaN or infinite loss stops the run before its backward pass
    (:func:`~bundle_tools.engines.finite.stop_on_non_finite_loss`), naming the iteration and the batch's cases.

    Deep supervision: when the network returns a list/tuple of per-level logits in train mode, the
    whole list goes to ``loss_function`` (e.g. ``monai.losses.DeepSupervisionLoss``); after
    ``IterationEvents.LOSS_COMPLETED`` the full-resolution head replaces it in
    ``engine.state.output["pred"]``, so post-processing and train metrics see one tensor.

    ``self.amp`` keeps MONAI's meaning: MONAI's own CUDA autocast + GradScaler branch is taken, which
    here is only the case for float16 on CUDA. The policy in force is ``self.amp_policy``.

    Args:
        device: the device to run on, as in MONAI.
        args: MONAI's positional arguments after ``device`` (max_epochs, train_data_loader, network, ...).
        amp: whether to train with mixed precision.
        amp_kwargs: extra ``torch.autocast`` arguments, as in MONAI; a ``dtype`` here is used when
            ``amp_dtype`` is not given, ``enabled=False`` turns amp off.
        amp_dtype: ``None``/``"float16"``/``"bfloat16"``/``"auto"``, see
            :func:`~bundle_tools.engines.precision.resolve_amp`.
        channels_last: convert the network's 4D/5D weights (once, here) and every input batch to
            channels-last memory format (``channels_last_3d`` for 3D), which oneDNN and cuDNN prefer
            for reduced-precision convolutions.
        kwargs: MONAI's keyword arguments (train_data_loader, network, inferer, postprocessing, ...).
    """

    def __init__(
        self,
        device: str | torch.device,
        *args: Any,
        amp: bool = False,
        amp_kwargs: dict | None = None,
        amp_dtype: str | torch.dtype | None = None,
        channels_last: bool = False,
        **kwargs: Any,
    ) -> None:
        policy = self._resolve_precision(device, amp, amp_kwargs, amp_dtype, channels_last)
        extra = self.autocast_kwargs
        super().__init__(
            device,
            *args,
            amp=policy.use_grad_scaler,
            amp_kwargs={"dtype": policy.dtype, **extra} if policy.use_grad_scaler else extra,
            **kwargs,
        )
        self._wrap_network_calls(single_head=False)
        self.loss_function = Float32Loss(self.loss_function, policy.device_type)
        self.add_event_handler(IterationEvents.LOSS_COMPLETED, stop_on_non_finite_loss)
        self.add_event_handler(IterationEvents.LOSS_COMPLETED, keep_full_resolution_head)
        self._user_errors_first()
