"""Workarounds for PyTorch CPU kernels, in one place, so the blocks can follow the papers.

Each entry's docstring names the PyTorch CPU kernel it works around and says what was measured here:

- :class:`LargeKernelConv2d` / :class:`LargeKernelConv3d` (picked by :func:`conv_class`): oneDNN's
  bf16 backward-weights convolution deadlocks on feature maps not much larger than the kernel.
- :class:`MaxPool`: CPU autocast runs ``max_pool`` in float32, which copies bf16 feature maps.
- :class:`InstanceNorm`: ``nn.InstanceNorm3d`` copies channels-last tensors, and group norm's
  channels-last backward is slow.
- :func:`channels_last_format` / :func:`to_channels_last`: the networks run in channels-last memory
  format, in which the CPU convolution kernels are faster.

Each one computes the same function as the plain op. The first three run the plain op when scripted,
traced or exported, so TorchScript and ONNX graphs hold only stock ops. The layer factories in
:mod:`custom_networks.blocks.layers` hand out these classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.layers.factories import Conv, Pool
from torch import nn


def _under_cpu_autocast(x: torch.Tensor) -> bool:
    """``x`` is on the CPU and CPU autocast is on."""
    return x.device.type == "cpu" and torch.is_autocast_enabled("cpu")


# --- large kernels: oneDNN's bf16 backward-weights convolution ----------------------------------------


class _LargeKernelConv:
    """A convolution that leaves CPU bf16 autocast for feature maps not much larger than its kernel.

    oneDNN's bf16 backward-weights kernel (``jit_avx512_core_bf16_convolution_bwd_weights_t``, torch 2.13)
    deadlocks intermittently in its thread reduction when a large kernel covers most of the input: seen
    with a 7^3 kernel on 4^3 maps (CBAM's spatial gate at the bottleneck) and a 7^3 depthwise kernel on
    2^3 and 4^3 maps (the improved U-Net), never with 3^3 kernels. When CPU autocast is on and a spatial
    side is below twice the kernel, this convolution runs in float32 instead; those are the coarsest
    levels, a negligible share of the compute. Elsewhere, and when scripted or traced, it is the plain
    convolution.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():  # TorchScript skips this block; scripted modules stay plain
            if not torch.jit.is_tracing() and _small_under_cpu_autocast(x, self.kernel_size):
                with torch.autocast("cpu", enabled=False):
                    return self._conv_forward(x.float(), self.weight, self.bias).to(x.dtype)
        return self._conv_forward(x, self.weight, self.bias)


def _small_under_cpu_autocast(x: torch.Tensor, kernel_size: tuple[int, ...]) -> bool:
    """CPU autocast is on and a spatial side of ``x`` is below twice the kernel."""
    return _under_cpu_autocast(x) and any(side < 2 * k for side, k in zip(x.shape[2:], kernel_size))


class LargeKernelConv2d(_LargeKernelConv, nn.Conv2d):
    """:class:`torch.nn.Conv2d` with the CPU bf16 guard of :class:`_LargeKernelConv`."""


class LargeKernelConv3d(_LargeKernelConv, nn.Conv3d):
    """:class:`torch.nn.Conv3d` with the CPU bf16 guard of :class:`_LargeKernelConv`."""


LARGE_KERNEL_CONV = {2: LargeKernelConv2d, 3: LargeKernelConv3d}


def conv_class(spatial_dims: int, kernel_size: tuple[int, ...]) -> type[nn.Module]:
    """The convolution class for ``kernel_size`` (one int per axis): the guarded
    :class:`LargeKernelConv2d` / :class:`LargeKernelConv3d` when the kernel is larger than 3 on any
    axis, the plain convolution otherwise (the deadlock was never seen with 3^3 kernels)."""
    return LARGE_KERNEL_CONV[spatial_dims] if max(kernel_size) > 3 else Conv[Conv.CONV, spatial_dims]


# --- max pooling: CPU autocast's float32 max_pool ------------------------------------------------------


class MaxPool(nn.Module):
    """Max pooling with kernel = stride = ``scale`` (an int or one per axis) that keeps its input's dtype
    under CPU autocast.

    CPU autocast lists ``max_pool3d`` among its float32 ops: a bf16 feature map was copied to float32,
    pooled at twice the bytes and cast back by the next convolution, 21.5 ms against 2.9 ms for one
    1x16x128x128x32 map here. A maximum is exact in any precision, so the pooling runs with autocast off on
    the tensor as it comes. Scripted and traced modules take the plain pooling.
    """

    def __init__(self, spatial_dims: int, scale: int | Sequence[int] = 2) -> None:
        super().__init__()
        self.pool = Pool[Pool.MAX, spatial_dims](kernel_size=scale, stride=scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():  # TorchScript skips this block
            if not torch.jit.is_tracing() and _under_cpu_autocast(x):
                with torch.autocast("cpu", enabled=False):
                    return self.pool(x)
        return self.pool(x)


# --- instance norm: InstanceNorm3d's layout copy, group norm's channels-last backward ------------------


class InstanceNorm(nn.GroupNorm):
    """Instance normalisation (Ulyanov et al. 2016) with a learnable per-channel affine, any spatial_dims.

    y = (x - mean_{b,c}) / sqrt(var_{b,c} + eps) * gamma_c + beta_c, statistics over the spatial
    axes of each sample and channel: group norm with one channel per group (Wu & He 2018). Unlike
    ``torch.nn.InstanceNorm3d`` it keeps a channels-last tensor channels-last instead of copying it
    to the contiguous layout and back, which made instance norm the costliest op of a channels-last
    3D U-Net step on CPU.
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__(channels, channels, eps=eps, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Group norm; in training with gradients recorded, the same maths as a batch norm of each sample.

        PyTorch's channels-last group-norm backward on CPU is ~9x slower than batch norm's (0.69 vs 0.07 s
        for a 4x16x128x128x32 bf16 tensor here) and was ~45 % of a bf16 training step. Batch norm in
        training mode without running statistics over a batch of one sample normalises each channel
        over the spatial axes: instance norm. Inference, scripting, tracing and export take plain group
        norm (one kernel, no per-sample split).
        """
        exporting = torch.jit.is_scripting() or torch.jit.is_tracing() or torch.compiler.is_compiling()
        if exporting or not (self.training and torch.is_grad_enabled()):
            return nn.functional.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
        samples = [
            nn.functional.batch_norm(s, None, None, self.weight, self.bias, True, 0.0, self.eps)
            for s in x.split(1)
        ]
        return samples[0] if len(samples) == 1 else torch.cat(samples)


# --- memory format: channels-last -------------------------------------------------------------------


def channels_last_format(spatial_dims: int) -> torch.memory_format:
    """The channels-last memory format of ``spatial_dims``-D feature maps (``channels_last_3d`` in 3D).

    CPU convolutions run faster on channels-last tensors: see the "channels-last" rows of MONAI's
    AttentionUnet in BENCHMARKS.md ("Networks: one training step").
    """
    return torch.channels_last_3d if spatial_dims == 3 else torch.channels_last


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` (batch, channel, spatial sides) in the channels-last memory format, the same values; tensors of
    other ranks unchanged. The one conversion of the project: the networks (``channels_last=True``, inside
    ``forward``, so TorchScript-able) and the engines use it."""
    if x.dim() == 5:
        return x.contiguous(memory_format=torch.channels_last_3d)
    if x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def module_to_channels_last(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` with its 4D/5D parameters in channels-last format (in place, returned); 2D and 3D weights
    in one module each get their own format."""
    with torch.no_grad():
        for param in module.parameters():
            param.data = to_channels_last(param.data)
    return module
