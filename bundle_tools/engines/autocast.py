"""What the engines wrap around the network and the loss, once, at construction.

Only the network's forward runs under autocast (:class:`~bundle_tools.engines.precision.AmpPolicy`);
its outputs are cast back to float32 before the inferer aggregates them (sliding windows), before the
loss (Dice and cross-entropy are computed in float32) and before post-processing and metrics.

- :class:`AutocastForward` stands in for the network: plain-tensor, channels-last inputs, the forward
  under the policy's autocast, float32 outputs (optionally reduced to the full-resolution head).
- :class:`AmpInferer` wraps the engine's inferer so that every network call it makes (every sliding
  window) goes through an :class:`AutocastForward`.
- :class:`Float32Loss` wraps the engine's loss: float32 plain-tensor inputs, outside any autocast.

MONAI's own ``SupervisedTrainer``/``SupervisedEvaluator._iteration`` then runs unchanged:
``engine.inferer(inputs, engine.network)`` and ``engine.loss_function(pred, targets)`` are these wrappers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from monai.data import MetaTensor
from monai.inferers import Inferer
from monai.utils import convert_to_dst_type

from custom_networks.blocks.cpu_kernels import to_channels_last

from .deep_supervision import full_resolution_head
from .precision import AmpPolicy

__all__ = ["AmpInferer", "AutocastForward", "Float32Loss"]


def _map_tensors(fn: Callable[[torch.Tensor], Any], output: Any) -> Any:
    """``fn`` applied to every tensor in ``output`` (a tensor, sequence or mapping of them)."""
    if isinstance(output, torch.Tensor):
        return fn(output)
    if isinstance(output, Mapping):
        return {k: _map_tensors(fn, v) for k, v in output.items()}
    if isinstance(output, (list, tuple)):
        return type(output)(_map_tensors(fn, v) for v in output)
    return output


def _plain(output: Any) -> Any:
    """``output`` with every ``MetaTensor`` as a plain ``torch.Tensor`` (same data, no metadata)."""
    return _map_tensors(lambda t: t.as_tensor() if isinstance(t, MetaTensor) else t, output)


def _to_float32(output: Any) -> Any:
    """Cast half-precision floating tensors in ``output`` (tensor, sequence or mapping) to float32."""
    return _map_tensors(lambda t: t.float() if t.dtype in (torch.float16, torch.bfloat16) else t, output)


class AutocastForward:
    """Stands in for the network inside an inferer: autocast forward, float32 outputs.

    Args:
        network: the network (or any callable on a batch).
        policy: the autocast device and dtype; a disabled policy runs the forward in float32.
        autocast_kwargs: extra ``torch.autocast`` arguments (e.g. ``cache_enabled``).
        channels_last: convert each input batch to channels-last before the forward.
        single_head: reduce a list/tuple of deep-supervision heads to the full-resolution head.
    """

    def __init__(
        self,
        network: Callable,
        policy: AmpPolicy,
        autocast_kwargs: dict | None = None,
        channels_last: bool = False,
        single_head: bool = False,
    ) -> None:
        self.network = network
        self.policy = policy
        self.autocast_kwargs = {} if autocast_kwargs is None else autocast_kwargs
        self.channels_last = channels_last
        self.single_head = single_head

    def __call__(self, inputs: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        """The network on plain tensors: a ``MetaTensor`` batch is unwrapped before the forward and its
        metadata put back on the outputs. Inside the network every op of a ``MetaTensor`` goes through
        its ``__torch_function__`` and returns an alias, which turned each in-place ReLU into a
        ``CopySlices`` + ``as_strided`` pair in the backward (~18 % of a bf16 training step here).
        """
        meta = inputs if isinstance(inputs, MetaTensor) else None
        inputs = _plain(inputs)
        if self.channels_last:
            inputs = to_channels_last(inputs)
        with self.policy.autocast(**self.autocast_kwargs):
            outputs = self.network(inputs, *args, **kwargs)
        if self.single_head and isinstance(outputs, (list, tuple)):
            outputs = full_resolution_head(outputs)
        outputs = _to_float32(outputs)
        if meta is None:
            return outputs
        return _map_tensors(
            lambda t: convert_to_dst_type(t, meta, dtype=t.dtype, device=t.device)[0], outputs
        )


class AmpInferer(Inferer):
    """An engine's inferer whose network calls go through an :class:`AutocastForward`.

    Args:
        inferer: the inferer to wrap (``SimpleInferer``, ``SlidingWindowInferer``, a TTA inferer, ...).
        policy: the autocast device and dtype.
        autocast_kwargs: extra ``torch.autocast`` arguments.
        channels_last: convert each input batch (each window) to channels-last before the forward.
        single_head: reduce deep-supervision heads to the full-resolution head (evaluation).

    Example::

        >>> inferer = AmpInferer(SlidingWindowInferer(roi_size=(64, 64, 64)), resolve_amp("cpu", True))
        >>> logits = inferer(image, network)  # every window in bfloat16, the result in float32
    """

    def __init__(
        self,
        inferer: Callable,
        policy: AmpPolicy,
        autocast_kwargs: dict | None = None,
        channels_last: bool = False,
        single_head: bool = False,
    ) -> None:
        self.inferer = inferer
        self.policy = policy
        self.autocast_kwargs = {} if autocast_kwargs is None else autocast_kwargs
        self.channels_last = channels_last
        self.single_head = single_head

    def network_call(self, network: Callable) -> AutocastForward:
        """``network`` as this inferer calls it; a network already wrapped (``autocast_network()``) is kept."""
        if isinstance(network, AutocastForward):
            return network
        return AutocastForward(
            network, self.policy, self.autocast_kwargs, self.channels_last, self.single_head
        )

    def __call__(self, inputs: torch.Tensor, network: Callable, *args: Any, **kwargs: Any) -> Any:
        """The wrapped inferer on ``inputs``, calling ``network`` through :meth:`network_call`."""
        return self.inferer(inputs, self.network_call(network), *args, **kwargs)


class Float32Loss:
    """Computes the loss outside any autocast region, on float32 predictions.

    Args:
        loss_function: the loss (``DiceCELoss``, ``DeepSupervisionLoss``, ...), called as
            ``loss_function(pred, target)``.
        device_type: the autocast device type to disable around the loss (``"cpu"`` or ``"cuda"``).
    """

    def __init__(self, loss_function: Callable, device_type: str) -> None:
        self.loss_function = loss_function
        self.device_type = device_type

    def __call__(self, pred: Any, target: Any) -> torch.Tensor:
        """The loss on plain float32 tensors (``MetaTensor`` metadata means nothing to a loss and costs an
        alias per op in its backward)."""
        with torch.autocast(self.device_type, enabled=False):
            return self.loss_function(_to_float32(_plain(pred)), _plain(target))
