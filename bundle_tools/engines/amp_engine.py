"""The precision and channels-last set-up that the trainer and the evaluator share.

Both engines resolve one :class:`~bundle_tools.engines.precision.AmpPolicy` from MONAI's ``amp``/``amp_kwargs``
and this project's ``amp_dtype``, convert the network to channels-last once (the one place that does), and wrap
their inferer once in an :class:`~bundle_tools.engines.autocast.AmpInferer`, so MONAI's ``_iteration`` runs
as is. Both let a user error (bad input, a diverged loss) leave before any handler logs it with a traceback:
:func:`~bundle_tools.config.user_errors.reraise_user_error` is their first ``EXCEPTION_RAISED`` handler,
attached in MONAI's ``_register_handlers`` hook before the configs' handlers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from ignite.engine import Events

from custom_networks.blocks.cpu_kernels import module_to_channels_last

from ..config.user_errors import reraise_user_error
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

    def _register_handlers(self, handlers: Sequence) -> None:
        """MONAI's hook that attaches the configs' handlers: the user-error handler goes first."""
        self._user_errors_first()
        super()._register_handlers(handlers)  # type: ignore[misc]

    def _user_errors_first(self) -> None:
        """Attach :func:`reraise_user_error` (once); called again after MONAI's ``__init__`` for an engine
        built without handlers."""
        if not self.has_event_handler(reraise_user_error, Events.EXCEPTION_RAISED):  # type: ignore[attr-defined]
            self.add_event_handler(Events.EXCEPTION_RAISED, reraise_user_error)  # type: ignore[attr-defined]

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
