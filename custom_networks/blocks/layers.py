"""Layer factories shared by every block: one code path for 2D and 3D.

Convolutions, norms, activations and dropout come from MONAI's factories keyed by ``spatial_dims``,
so no block has a 2D and a 3D twin.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
from monai.networks.layers.factories import Conv, Dropout, Pool
from monai.networks.layers.utils import get_act_layer, get_norm_layer
from torch import nn

NormSpec = str | tuple
ActSpec = str | tuple
AxisSpec = int | Sequence[int]  # one size for every spatial axis, or one per axis


def per_axis(value: AxisSpec, spatial_dims: int, name: str = "size") -> tuple[int, ...]:
    """``value`` as one positive int per spatial axis: an int is repeated, a sequence must have
    ``spatial_dims`` entries; a ``ValueError`` naming ``name`` otherwise."""
    values = (value,) * spatial_dims if isinstance(value, numbers.Integral) else tuple(value)
    if len(values) != spatial_dims or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values
    ):
        raise ValueError(
            f"{name} must be an int or {spatial_dims} ints (one per spatial axis), got {value!r}"
        )
    if min(values) < 1:
        raise ValueError(f"{name} must be positive on every axis, got {value!r}")
    return tuple(int(v) for v in values)


def conv(
    spatial_dims: int,
    in_channels: int,
    out_channels: int,
    kernel_size: AxisSpec = 3,
    stride: AxisSpec = 1,
    groups: int = 1,
    bias: bool = True,
) -> nn.Module:
    """A ``spatial_dims``-D convolution with "same" padding for odd kernels on every axis of stride 1.

    ``kernel_size`` and ``stride`` are an int for every axis or one per axis (e.g. ``(3, 3, 1)``). A kernel
    larger than 3 on any axis gives a :class:`LargeKernelConv2d` / :class:`LargeKernelConv3d` (see there why).
    """
    kernel = per_axis(kernel_size, spatial_dims, "kernel_size")
    strides = per_axis(stride, spatial_dims, "stride")
    padding = tuple((k - 1) // 2 if s == 1 else 0 for k, s in zip(kernel, strides))
    conv_type = LARGE_KERNEL_CONV[spatial_dims] if max(kernel) > 3 else Conv[Conv.CONV, spatial_dims]
    return conv_type(
        in_channels, out_channels, kernel, stride=strides, padding=padding, groups=groups, bias=bias
    )


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


def _under_cpu_autocast(x: torch.Tensor) -> bool:
    return x.device.type == "cpu" and torch.is_autocast_enabled("cpu")


def _small_under_cpu_autocast(x: torch.Tensor, kernel_size: tuple[int, ...]) -> bool:
    """CPU autocast is on and a spatial side of ``x`` is below twice the kernel."""
    return _under_cpu_autocast(x) and any(side < 2 * k for side, k in zip(x.shape[2:], kernel_size))


class LargeKernelConv2d(_LargeKernelConv, nn.Conv2d):
    """:class:`torch.nn.Conv2d` with the CPU bf16 guard of :class:`_LargeKernelConv`."""


class LargeKernelConv3d(_LargeKernelConv, nn.Conv3d):
    """:class:`torch.nn.Conv3d` with the CPU bf16 guard of :class:`_LargeKernelConv`."""


LARGE_KERNEL_CONV = {2: LargeKernelConv2d, 3: LargeKernelConv3d}


def transposed_conv(spatial_dims: int, in_channels: int, out_channels: int, scale: AxisSpec = 2) -> nn.Module:
    """A ``spatial_dims``-D transposed convolution with kernel = stride = ``scale`` (an int or one per axis)."""
    scale = per_axis(scale, spatial_dims, "scale")
    return Conv[Conv.CONVTRANS, spatial_dims](in_channels, out_channels, scale, stride=scale, bias=False)


class MaxPool(nn.Module):
    """Max pooling with kernel = stride = ``scale`` (an int or one per axis) that keeps its input's dtype
    under CPU autocast.

    CPU autocast lists ``max_pool3d`` among its float32 ops: a bf16 feature map was copied to float32,
    pooled at twice the bytes and cast back by the next convolution, 21.5 ms against 2.9 ms for one
    1x16x128x128x32 map here. A maximum is exact in any precision, so the pooling runs with autocast off on
    the tensor as it comes. Scripted and traced modules take the plain pooling.
    """

    def __init__(self, spatial_dims: int, scale: AxisSpec = 2) -> None:
        super().__init__()
        scale = per_axis(scale, spatial_dims, "scale")
        self.pool = Pool[Pool.MAX, spatial_dims](kernel_size=scale, stride=scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():  # TorchScript skips this block
            if not torch.jit.is_tracing() and _under_cpu_autocast(x):
                with torch.autocast("cpu", enabled=False):
                    return self.pool(x)
        return self.pool(x)


def max_pool(spatial_dims: int, scale: AxisSpec = 2) -> nn.Module:
    """A :class:`MaxPool` with kernel = stride = ``scale`` (an int or one per axis)."""
    return MaxPool(spatial_dims, scale)


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


def norm(name: NormSpec, spatial_dims: int, channels: int) -> nn.Module:
    """A norm layer by MONAI name (``"instance"``, ``"batch"``, ``("group", {"num_groups": 8})``, ...).

    ``"instance"`` gives :class:`InstanceNorm` (learnable affine, as nnU-Net uses it); any other name
    or ``(name, kwargs)`` goes to MONAI's norm factory.
    """
    if isinstance(name, str) and name.lower() == "instance":
        return InstanceNorm(channels)
    return get_norm_layer(name, spatial_dims=spatial_dims, channels=channels)


def act(name: ActSpec = "relu") -> nn.Module:
    """An activation by MONAI name; ReLU-family activations run in place."""
    if isinstance(name, str) and name.lower() in ("relu", "leakyrelu", "prelu"):
        if name.lower() == "relu":
            return nn.ReLU(inplace=True)
        if name.lower() == "leakyrelu":
            return nn.LeakyReLU(0.01, inplace=True)
    return get_act_layer(name)


def dropout(spatial_dims: int, rate: float) -> nn.Module:
    """Channel dropout (whole feature maps), or identity when ``rate`` is 0."""
    if rate <= 0:
        return nn.Identity()
    return Dropout[Dropout.DROPOUT, spatial_dims](p=rate)


def interpolation_mode(spatial_dims: int) -> str:
    """``"bilinear"`` in 2D, ``"trilinear"`` in 3D."""
    return "trilinear" if spatial_dims == 3 else "bilinear"


def init_kaiming(module: nn.Module, negative_slope: float = 0.0) -> None:
    """He (Kaiming) normal initialisation of every (transposed) convolution; zero biases.

    He et al. 2015, "Delving deep into rectifiers", eq. 10: std = sqrt(2 / ((1 + a^2) fan_in)).
    Norm layers keep weight 1 and bias 0.
    """
    for m in module.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            nn.init.kaiming_normal_(m.weight, a=negative_slope)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def channels_last_format(spatial_dims: int) -> torch.memory_format:
    return torch.channels_last_3d if spatial_dims == 3 else torch.channels_last
