"""The evaluation engine of the bundles: MONAI's ``SupervisedEvaluator`` with device-aware mixed precision
and channels-last, always returning one (full-resolution) float32 prediction.

Example (bundle JSON)::

    "evaluator": {"_target_": "bundle_tools.engines.AmpSupervisedEvaluator", "device": "@device",
                  "val_data_loader": "@validate#dataloader", "network": "@network",
                  "inferer": "@validate#inferer", "amp": true, "channels_last": true}
"""

from __future__ import annotations

from typing import Any

import torch
from monai.engines import SupervisedEvaluator

from .amp_engine import AmpEngineMixin

__all__ = ["AmpSupervisedEvaluator"]


class AmpSupervisedEvaluator(AmpEngineMixin, SupervisedEvaluator):
    """MONAI ``SupervisedEvaluator`` whose mixed precision follows the device it runs on.

    Takes every argument of ``monai.engines.SupervisedEvaluator`` plus ``amp_dtype`` and
    ``channels_last`` (see :class:`~bundle_tools.engines.trainer.AmpSupervisedTrainer`). Each network call
    made by the inferer (every sliding window) runs under the policy's autocast and returns float32, so
    window aggregation, post-processing and metrics stay in float32. A network that still returns a
    list/tuple of deep-supervision heads is reduced to its full-resolution head. The wrapping happens once,
    here: ``self.inferer`` is an :class:`~bundle_tools.engines.autocast.AmpInferer` around the given
    inferer, and MONAI's ``_iteration`` runs as is.

    ``self.amp`` is always False (MONAI's CUDA-only autocast branch is not used); the policy in force
    is ``self.amp_policy``.

    Args:
        device: the device to run on, as in MONAI.
        args: MONAI's positional arguments after ``device`` (val_data_loader, network, ...).
        amp: whether to evaluate with mixed precision.
        amp_kwargs: extra ``torch.autocast`` arguments, as in MONAI (``dtype`` and ``enabled`` honoured).
        amp_dtype: ``None``/``"float16"``/``"bfloat16"``/``"auto"``, see
            :func:`~bundle_tools.engines.precision.resolve_amp`.
        channels_last: convert the network's weights (once) and every input to channels-last.
        kwargs: MONAI's keyword arguments (val_data_loader, network, inferer, postprocessing, ...).
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
        self._resolve_precision(device, amp, amp_kwargs, amp_dtype, channels_last)
        super().__init__(device, *args, amp=False, amp_kwargs=self.autocast_kwargs, **kwargs)
        self._wrap_network_calls(single_head=True)
        self._user_errors_first()
