"""Layer factories shared by every block: one code path for 2D and 3D.

Convolutions, pooling, norms, activations and dropout come from MONAI's factories keyed by
``spatial_dims``, so no block has a 2D and a 3D twin. Where a PyTorch CPU kernel needs a workaround
(large-kernel convolutions, max pooling, instance norm) the factory hands out the class from
:mod:`custom_networks.blocks.cpu_kernels`; those classes are exported here as well.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

from monai.networks.layers.factories import Conv, Dropout
from monai.networks.layers.utils import get_act_layer, get_norm_layer
from torch import nn

from .cpu_kernels import (
    LARGE_KERNEL_CONV,
    InstanceNorm,
    LargeKernelConv2d,
    LargeKernelConv3d,
    MaxPool,
    conv_class,
)

__all__ = [
    "LARGE_KERNEL_CONV",
    "ActSpec",
    "AxisSpec",
    "InstanceNorm",
    "LargeKernelConv2d",
    "LargeKernelConv3d",
    "MaxPool",
    "NormSpec",
    "act",
    "conv",
    "dropout",
    "init_kaiming",
    "interpolation_mode",
    "max_pool",
    "norm",
    "per_axis",
    "transposed_conv",
]

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
    larger than 3 on any axis gives a :class:`LargeKernelConv2d` / :class:`LargeKernelConv3d`
    (:func:`~custom_networks.blocks.cpu_kernels.conv_class` says why).
    """
    kernel = per_axis(kernel_size, spatial_dims, "kernel_size")
    strides = per_axis(stride, spatial_dims, "stride")
    padding = tuple((k - 1) // 2 if s == 1 else 0 for k, s in zip(kernel, strides))
    return conv_class(spatial_dims, kernel)(
        in_channels, out_channels, kernel, stride=strides, padding=padding, groups=groups, bias=bias
    )


def transposed_conv(spatial_dims: int, in_channels: int, out_channels: int, scale: AxisSpec = 2) -> nn.Module:
    """A ``spatial_dims``-D transposed convolution with kernel = stride = ``scale`` (an int or one per axis)."""
    scale = per_axis(scale, spatial_dims, "scale")
    return Conv[Conv.CONVTRANS, spatial_dims](in_channels, out_channels, scale, stride=scale, bias=False)


def max_pool(spatial_dims: int, scale: AxisSpec = 2) -> nn.Module:
    """A :class:`~custom_networks.blocks.cpu_kernels.MaxPool` (it keeps bf16 under CPU autocast) with
    kernel = stride = ``scale`` (an int or one per axis)."""
    return MaxPool(spatial_dims, per_axis(scale, spatial_dims, "scale"))


def norm(name: NormSpec, spatial_dims: int, channels: int) -> nn.Module:
    """A norm layer by MONAI name (``"instance"``, ``"batch"``, ``("group", {"num_groups": 8})``, ...).

    ``"instance"`` gives :class:`~custom_networks.blocks.cpu_kernels.InstanceNorm` (learnable affine, as
    nnU-Net uses it); any other name or ``(name, kwargs)`` goes to MONAI's norm factory.
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
