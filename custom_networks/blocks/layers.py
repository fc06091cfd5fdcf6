"""Layer factories shared by every block: one code path for 2D and 3D.

Convolutions, norms, activations and dropout come from MONAI's factories keyed by ``spatial_dims``,
so no block has a 2D and a 3D twin.
"""

from __future__ import annotations

import torch
from monai.networks.layers.factories import Conv, Dropout, Pool
from monai.networks.layers.utils import get_act_layer, get_norm_layer
from torch import nn

NormSpec = str | tuple
ActSpec = str | tuple


def conv(
    spatial_dims: int,
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    stride: int = 1,
    groups: int = 1,
    bias: bool = True,
) -> nn.Module:
    """A ``spatial_dims``-D convolution with "same" padding for odd kernels."""
    conv_type = Conv[Conv.CONV, spatial_dims]
    return conv_type(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=(kernel_size - 1) // 2 if stride == 1 else 0,
        groups=groups,
        bias=bias,
    )


def transposed_conv(spatial_dims: int, in_channels: int, out_channels: int, scale: int = 2) -> nn.Module:
    """A ``spatial_dims``-D transposed convolution with kernel = stride = ``scale``."""
    return Conv[Conv.CONVTRANS, spatial_dims](in_channels, out_channels, scale, stride=scale, bias=False)


def max_pool(spatial_dims: int, scale: int = 2) -> nn.Module:
    return Pool[Pool.MAX, spatial_dims](kernel_size=scale, stride=scale)


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
