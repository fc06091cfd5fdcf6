"""Device-aware mixed precision for MONAI's supervised trainer and evaluator.

MONAI's ``SupervisedTrainer(amp=True)`` and ``SupervisedEvaluator(amp=True)`` always enter
``torch.autocast("cuda", ...)``; on a CPU that context is disabled (with a warning) and the step
quietly runs in float32, leaving the CPU's bfloat16 units idle. The engines here choose the
autocast device and dtype from the device they run on (:func:`resolve_amp`):

    =====  ===========================  ==========================================
    amp    device                       policy
    =====  ===========================  ==========================================
    False  any                          float32, no autocast
    True   CPU with native bf16         ``autocast("cpu", bfloat16)``, no GradScaler
    True   CPU without native bf16      float32 (warns)
    True   CUDA (default, "float16")    ``autocast("cuda", float16)`` + GradScaler
    True   CUDA, "bfloat16" or "auto"*  ``autocast("cuda", bfloat16)``, no GradScaler
    =====  ===========================  ==========================================

    * "auto" picks bfloat16 where ``torch.cuda.is_bf16_supported()``, else float16.

Only the network's forward runs under autocast; its outputs are cast back to float32 before the
inferer aggregates them (sliding windows), before the loss (Dice and cross-entropy are computed in
float32) and before post-processing and metrics. Mixed-precision training itself follows
Micikevicius et al., "Mixed Precision Training", ICLR 2018 (loss scaling for float16 only:
bfloat16 keeps float32's exponent range, so its gradients do not underflow).

Example (bundle JSON)::

    "trainer": {"_target_": "bundle_tools.engines.AmpSupervisedTrainer", "device": "@device",
                "max_epochs": "@epochs", "train_data_loader": "@train#dataloader",
                "network": "@network", "optimizer": "@optimizer", "loss_function": "@loss",
                "inferer": "@train#inferer", "amp": true, "amp_dtype": "auto"}
"""

from __future__ import annotations

import platform
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from monai.data import MetaTensor
from monai.engines import SupervisedEvaluator, SupervisedTrainer
from monai.engines.utils import IterationEvents
from monai.inferers import Inferer
from monai.utils import convert_to_dst_type
from monai.utils.enums import CommonKeys as Keys

__all__ = [
    "AmpPolicy",
    "AmpSupervisedEvaluator",
    "AmpSupervisedTrainer",
    "cpu_has_fast_bf16",
    "full_resolution_head",
    "resolve_amp",
    "to_channels_last",
]

_DTYPE_NAMES: dict[str, str] = {
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "auto": "auto",
}


@dataclass(frozen=True)
class AmpPolicy:
    """The mixed-precision settings one engine runs with.

    Args:
        enabled: whether the forward pass runs under ``torch.autocast``.
        device_type: ``"cpu"`` or ``"cuda"`` (the ``torch.device.type`` the engine runs on).
        dtype: the autocast dtype (``torch.bfloat16`` or ``torch.float16``); ``torch.float32`` when
            disabled.
        use_grad_scaler: whether the backward pass scales the loss with a ``GradScaler`` (float16 on
            CUDA only).
    """

    enabled: bool
    device_type: str
    dtype: torch.dtype
    use_grad_scaler: bool

    def autocast(self, **kwargs: Any) -> AbstractContextManager:
        """The autocast context of this policy; ``kwargs`` go to ``torch.autocast`` (e.g. ``cache_enabled``)."""
        if not self.enabled:
            return nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype, **kwargs)


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bfloat16 convolutions natively rather than by emulation.

    On x86 that needs AVX-512 BF16 or AMX tiles (oneDNN emulates bf16 on plain AVX-512, which is
    slower than float32); elsewhere (e.g. ARMv8.6 BF16) it defers to oneDNN's own check.
    """
    cpu = getattr(torch, "cpu", None)
    if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686"):
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)
    mkldnn_check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(torch.backends.mkldnn.is_available() and mkldnn_check is not None and mkldnn_check())


def _cuda_has_bf16() -> bool:
    try:
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    except (AssertionError, RuntimeError):  # a CPU-only build of torch
        return False


def _dtype_name(dtype: str | torch.dtype | None) -> str | None:
    if dtype is None:
        return None
    if isinstance(dtype, torch.dtype):
        dtype = str(dtype)
    name = _DTYPE_NAMES.get(dtype.lower().removeprefix("torch."))
    if name is None:
        raise ValueError(f"amp dtype {dtype!r}: expected one of {sorted(_DTYPE_NAMES)} or None")
    return name


def resolve_amp(
    device: str | torch.device | None, amp: bool, dtype: str | torch.dtype | None = None
) -> AmpPolicy:
    """Choose the autocast device, dtype and loss scaling for ``device``.

    Args:
        device: the device the engine runs on (``"cpu"``, ``"cuda:0"``, ``torch.device``); None is CPU.
        amp: whether mixed precision is asked for at all; False gives a disabled (float32) policy.
        dtype: ``None`` (the device's default: bfloat16 on CPU, float16 on CUDA), ``"float16"``,
            ``"bfloat16"`` or ``"auto"`` (bfloat16 where the device supports it). A ``torch.dtype`` is
            accepted too. On CPU float16 is not used (no fast kernels): bfloat16 is chosen instead.

    Returns:
        The policy. Devices other than CPU and CUDA get a disabled policy (with a warning).

    Example::

        >>> resolve_amp("cuda:0", True)
        AmpPolicy(enabled=True, device_type='cuda', dtype=torch.float16, use_grad_scaler=True)
    """
    device_type = torch.device(device if device is not None else "cpu").type
    name = _dtype_name(dtype)
    disabled = AmpPolicy(False, device_type, torch.float32, False)
    if not amp:
        return disabled
    if device_type == "cpu":
        if name == "float16":
            warnings.warn("amp dtype float16 on CPU: no fast float16 kernels, using bfloat16", stacklevel=2)
        if not cpu_has_fast_bf16():
            warnings.warn(
                "amp=True on a CPU without native bfloat16 (AVX-512 BF16 or AMX): training runs in float32",
                stacklevel=2,
            )
            return disabled
        return AmpPolicy(True, "cpu", torch.bfloat16, False)
    if device_type == "cuda":
        bf16 = name == "bfloat16" or (name == "auto" and _cuda_has_bf16())
        if name == "bfloat16" and torch.cuda.is_available() and not _cuda_has_bf16():
            warnings.warn("amp dtype bfloat16: this GPU has no bfloat16 support, using float16", stacklevel=2)
            bf16 = False
        if bf16:
            return AmpPolicy(True, "cuda", torch.bfloat16, False)
        return AmpPolicy(True, "cuda", torch.float16, True)
    warnings.warn(
        f"amp=True on device type {device_type!r}: not supported here, running in float32", stacklevel=2
    )
    return disabled


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


def full_resolution_head(outputs: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """The full-resolution prediction among deep-supervision heads (the first with most voxels).

    Args:
        outputs: a tensor (returned as is) or a list/tuple of per-level logits ``(B, C, *spatial)``.
    """
    if isinstance(outputs, torch.Tensor):
        return outputs
    heads = list(outputs)
    return max(heads, key=lambda t: t.shape[2:].numel())  # max() keeps the first among equals


def _memory_format(ndim: int) -> torch.memory_format | None:
    return {4: torch.channels_last, 5: torch.channels_last_3d}.get(ndim)


def to_channels_last(x: torch.Tensor | torch.nn.Module) -> torch.Tensor | torch.nn.Module:
    """Channels-last copy of a 4D/5D tensor, or a module whose 4D/5D parameters are channels-last.

    Tensors of other ranks are returned unchanged; 2D (``channels_last``) and 3D
    (``channels_last_3d``) weights in one module are each given their own format.
    """
    if isinstance(x, torch.nn.Module):
        with torch.no_grad():
            for param in x.parameters():
                fmt = _memory_format(param.ndim)
                if fmt is not None:
                    param.data = param.data.contiguous(memory_format=fmt)
        return x
    fmt = _memory_format(x.ndim)
    return x if fmt is None else x.contiguous(memory_format=fmt)


class _AutocastForward:
    """Stands in for the network inside an inferer: autocast forward, float32 outputs."""

    def __init__(
        self,
        network: Callable,
        policy: AmpPolicy,
        autocast_kwargs: dict,
        channels_last: bool,
        single_head: bool,
    ) -> None:
        self.network = network
        self.policy = policy
        self.autocast_kwargs = autocast_kwargs
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


class _PolicyInferer(Inferer):
    """Runs the engine's inferer with the network replaced by an :class:`_AutocastForward`."""

    def __init__(self, inferer: Callable, forward: Callable[[Callable], _AutocastForward]) -> None:
        self.inferer = inferer
        self.forward = forward

    def __call__(self, inputs: torch.Tensor, network: Callable, *args: Any, **kwargs: Any) -> Any:
        return self.inferer(inputs, self.forward(network), *args, **kwargs)


class _Float32Loss:
    """Computes the loss outside any autocast region, on float32 predictions."""

    def __init__(self, loss_function: Callable, device_type: str) -> None:
        self.loss_function = loss_function
        self.device_type = device_type

    def __call__(self, pred: Any, target: Any) -> torch.Tensor:
        """The loss on plain float32 tensors (``MetaTensor`` metadata means nothing to a loss and costs an
        alias per op in its backward)."""
        with torch.autocast(self.device_type, enabled=False):
            return self.loss_function(_to_float32(_plain(pred)), _plain(target))


def _split_amp_kwargs(
    amp: bool, amp_kwargs: dict | None, amp_dtype: str | torch.dtype | None
) -> tuple[bool, str | torch.dtype | None, dict]:
    """Fold MONAI-style ``amp_kwargs`` (``dtype``, ``enabled``) into ``amp``/``amp_dtype``."""
    extra = dict(amp_kwargs or {})
    amp = bool(amp and extra.pop("enabled", True))
    kw_dtype = extra.pop("dtype", None)
    return amp, (amp_dtype if amp_dtype is not None else kw_dtype), extra


class _AmpEngineMixin:
    """What both engines share: the policy, the autocast forward, channels-last."""

    amp_policy: AmpPolicy
    autocast_kwargs: dict
    channels_last: bool
    single_head: bool

    def _setup_amp(self, device: Any, amp: bool, amp_dtype: Any, extra: dict, channels_last: bool) -> None:
        self.amp_policy = resolve_amp(device, amp, amp_dtype)
        self.autocast_kwargs = extra
        self.channels_last = channels_last

    def _forward(self, network: Callable) -> _AutocastForward:
        return _AutocastForward(
            network, self.amp_policy, self.autocast_kwargs, self.channels_last, self.single_head
        )

    def autocast_network(self) -> Callable:
        """The engine's network as its inferer calls it: policy autocast, channels-last inputs, float32 out."""
        return self._forward(self.network)

    @contextmanager
    def _policy_inferer(self, engine: Any) -> Iterator[None]:
        inferer = engine.inferer
        engine.inferer = _PolicyInferer(inferer, engine._forward)
        try:
            yield
        finally:
            engine.inferer = inferer


class AmpSupervisedTrainer(_AmpEngineMixin, SupervisedTrainer):
    """MONAI ``SupervisedTrainer`` whose mixed precision follows the device it runs on.

    Takes every argument of ``monai.engines.SupervisedTrainer`` (same names, same meaning) plus
    ``amp_dtype`` and ``channels_last``. With ``amp=True`` the network's forward runs under
    ``torch.autocast`` per :func:`resolve_amp` (bfloat16 on CPU, float16 + GradScaler or bfloat16 on
    CUDA); the predictions are cast to float32 and the loss is computed outside autocast. Float16 on
    CUDA uses MONAI's own GradScaler path unchanged (so ``accumulation_steps`` works as in MONAI).

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
        amp_dtype: ``None``/``"float16"``/``"bfloat16"``/``"auto"``, see :func:`resolve_amp`.
        channels_last: convert the network's 4D/5D weights (once, here) and every input batch to
            channels-last memory format (``channels_last_3d`` for 3D), which oneDNN and cuDNN prefer
            for reduced-precision convolutions.
        kwargs: MONAI's keyword arguments (train_data_loader, network, inferer, postprocessing, ...).
    """

    single_head = False

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
        amp, amp_dtype, extra = _split_amp_kwargs(amp, amp_kwargs, amp_dtype)
        self._setup_amp(device, amp, amp_dtype, extra, channels_last)
        policy = self.amp_policy
        super().__init__(
            device,
            *args,
            amp=policy.use_grad_scaler,
            amp_kwargs={"dtype": policy.dtype, **extra} if policy.use_grad_scaler else extra,
            **kwargs,
        )
        if channels_last:
            to_channels_last(self.network)
        self.add_event_handler(IterationEvents.LOSS_COMPLETED, self._keep_full_resolution_head)

    @staticmethod
    def _keep_full_resolution_head(engine: SupervisedTrainer) -> None:
        output = engine.state.output
        if isinstance(output, dict) and isinstance(output.get(Keys.PRED), (list, tuple)):
            output[Keys.PRED] = full_resolution_head(output[Keys.PRED])

    def _iteration(self, engine: SupervisedTrainer, batchdata: dict[str, torch.Tensor]) -> dict:
        """MONAI's training iteration with the policy's autocast forward and a float32 loss."""
        loss_function = engine.loss_function
        engine.loss_function = _Float32Loss(loss_function, engine.amp_policy.device_type)
        try:
            with self._policy_inferer(engine):
                return super()._iteration(engine, batchdata)
        finally:
            engine.loss_function = loss_function


class AmpSupervisedEvaluator(_AmpEngineMixin, SupervisedEvaluator):
    """MONAI ``SupervisedEvaluator`` whose mixed precision follows the device it runs on.

    Takes every argument of ``monai.engines.SupervisedEvaluator`` plus ``amp_dtype`` and
    ``channels_last`` (see :class:`AmpSupervisedTrainer`). Each network call made by the inferer
    (every sliding window) runs under the policy's autocast and returns float32, so window
    aggregation, post-processing and metrics stay in float32. A network that still returns a
    list/tuple of deep-supervision heads is reduced to its full-resolution head.

    ``self.amp`` is always False (MONAI's CUDA-only autocast branch is not used); the policy in force
    is ``self.amp_policy``.

    Args:
        device: the device to run on, as in MONAI.
        args: MONAI's positional arguments after ``device`` (val_data_loader, network, ...).
        amp: whether to evaluate with mixed precision.
        amp_kwargs: extra ``torch.autocast`` arguments, as in MONAI (``dtype`` and ``enabled`` honoured).
        amp_dtype: ``None``/``"float16"``/``"bfloat16"``/``"auto"``, see :func:`resolve_amp`.
        channels_last: convert the network's weights (once) and every input to channels-last.
        kwargs: MONAI's keyword arguments (val_data_loader, network, inferer, postprocessing, ...).
    """

    single_head = True

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
        amp, amp_dtype, extra = _split_amp_kwargs(amp, amp_kwargs, amp_dtype)
        self._setup_amp(device, amp, amp_dtype, extra, channels_last)
        super().__init__(device, *args, amp=False, amp_kwargs=extra, **kwargs)
        if channels_last:
            to_channels_last(self.network)

    def _iteration(self, engine: SupervisedEvaluator, batchdata: dict[str, torch.Tensor]) -> dict:
        """MONAI's evaluation iteration with the policy's autocast forward."""
        with self._policy_inferer(engine):
            return super()._iteration(engine, batchdata)
