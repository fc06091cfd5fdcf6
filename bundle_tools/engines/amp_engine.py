"""The precision and channels-last set-up that the trainer and the evaluator share.

Both engines resolve one :class:`~bundle_tools.engines.precision.AmpPolicy` from MONAI's ``amp``/``amp_kwargs``
and this project's ``amp_dtype``, convert the network to channels-last once (the one place that does), and wrap
their inferer once in an :class:`~bundle_tools.engines.autocast.AmpInferer`, so MONAI's ``_iteration`` runs
as is.
"""

from __future__ import annotations

from typing import Any

import torch

from custom_networks.blocks.cpu_kernels import module_to_channels_last

from .autocast import AmpInferer, AutocastForward
from .precision import AmpPolicy, resolve_amp, split_amp_kwargs

__all__ = ["AmpEngineMixin"]


class AmpEngineMixin:
    """Mixed precision and channels-last for a MONAI supervised engine (put it before the MONAI class).

    Attributes:
        amp_policy: the precision in force.
        autocast_kwargs: the extra ``torch.autocast`` arguments of ``amp_kwargs``.
        channels_last: whether weights and inputs are channels-last.
    """

    amp_policy: AmpPolicy
    autocast_kwargs: dict[str, Any]
    channels_last: bool
    network: torch.nn.Module
    inferer: Any

    def _resolve_precision(
        self,
        device: str | torch.device,
        amp: bool,
        amp_kwargs: dict | None,
        amp_dtype: str | torch.dtype | None,
        channels_last: bool,
    ) -> AmpPolicy:
        """Set :attr:`amp_policy`, :attr:`autocast_kwargs` and :attr:`channels_last` (before MONAI's
        ``__init__``) and return the policy."""
        amp, amp_dtype, extra = split_amp_kwargs(amp, amp_kwargs, amp_dtype)
        self.amp_policy = resolve_amp(device, amp, amp_dtype)
        self.autocast_kwargs = extra
        self.channels_last = channels_last
        return self.amp_policy

    def _wrap_network_calls(self, single_head: bool) -> None:
        """After MONAI's ``__init__``: channels-last weights (once) and the inferer under the policy."""
        if self.channels_last:
            module_to_channels_last(self.network)
        self.inferer = AmpInferer(
            self.inferer, self.amp_policy, self.autocast_kwargs, self.channels_last, single_head=single_head
        )

    def autocast_network(self) -> AutocastForward:
        """The engine's network as its inferer calls it: policy autocast, channels-last inputs, float32 out."""
        return self.inferer.network_call(self.network)
