"""Which precision an engine runs in: the autocast device, dtype and loss scaling for the device it runs on.

MONAI's ``SupervisedTrainer(amp=True)`` and ``SupervisedEvaluator(amp=True)`` always enter
``torch.autocast("cuda", ...)``; on a CPU that context is disabled (with a warning) and the step
quietly runs in float32, leaving the CPU's bfloat16 units idle. :func:`resolve_amp` chooses from the
device instead:

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

Mixed-precision training follows Micikevicius et al., "Mixed Precision Training", ICLR 2018 (loss
scaling for float16 only: bfloat16 keeps float32's exponent range, so its gradients do not underflow).
The engines that run under a policy are in :mod:`bundle_tools.engines.trainer` and
:mod:`bundle_tools.engines.evaluator`.
"""

from __future__ import annotations

import platform
import warnings
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["AmpPolicy", "cpu_has_fast_bf16", "resolve_amp", "split_amp_kwargs"]

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


def split_amp_kwargs(
    amp: bool, amp_kwargs: dict | None, amp_dtype: str | torch.dtype | None
) -> tuple[bool, str | torch.dtype | None, dict]:
    """Fold MONAI-style ``amp_kwargs`` (``dtype``, ``enabled``) into ``amp``/``amp_dtype``.

    Args:
        amp: the engine's ``amp`` argument.
        amp_kwargs: MONAI's ``torch.autocast`` arguments; ``enabled=False`` turns amp off, a ``dtype`` is
            used when ``amp_dtype`` is None.
        amp_dtype: the engine's ``amp_dtype`` argument, see :func:`resolve_amp`.

    Returns:
        ``(amp, dtype, extra)``: ``extra`` is what is left of ``amp_kwargs`` for ``torch.autocast``.
    """
    extra = dict(amp_kwargs or {})
    amp = bool(amp and extra.pop("enabled", True))
    kw_dtype = extra.pop("dtype", None)
    return amp, (amp_dtype if amp_dtype is not None else kw_dtype), extra
