"""Convolution blocks: the ``ConvBlock`` part of the modular U-Net (seed 002, Laird 2019).

``ConvBlock`` is the classic U-Net block (Ronneberger et al. 2015; Cicek et al. 2016 in 3D):
``num_convs x (conv k, norm, activation)``. ``SeparableBottleneckBlock`` is the "improved" block of
seed 003: a depthwise-separable convolution with a large kernel and an inverted bottleneck.
"""

from __future__ import annotations

import torch
from torch import nn

from . import layers


class ConvBlock(nn.Sequential):
    """``num_convs`` x (convolution, norm, activation), then channel dropout.

    Args:
        spatial_dims: 2 or 3.
        in_channels: channels of the input.
        out_channels: channels of every convolution's output.
        kernel_size: odd kernel size (3 as in U-Net), an int or one per axis (e.g. ``(3, 3, 1)`` on
            levels where the slices are much thicker than the pixels).
        num_convs: convolutions in the block (2 as in U-Net).
        norm: norm layer by MONAI name, e.g. ``"instance"`` or ``"batch"``.
        act: activation by MONAI name.
        dropout: channel-dropout rate after the last activation (0 disables it).

    Example::

        block = ConvBlock(3, 1, 16)            # (B, 1, D, H, W) -> (B, 16, D, H, W)
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size: layers.AxisSpec = 3,
        num_convs: int = 2,
        norm: layers.NormSpec = "instance",
        act: layers.ActSpec = "relu",
        dropout: float = 0.0,
    ) -> None:
        parts: list[nn.Module] = []
        for i in range(num_convs):
            # no bias: the norm that follows removes it
            parts.append(
                layers.conv(
                    spatial_dims,
                    in_channels if i == 0 else out_channels,
                    out_channels,
                    kernel_size,
                    bias=False,
                )
            )
            parts.append(layers.norm(norm, spatial_dims, out_channels))
            parts.append(layers.act(act))
        parts.append(layers.dropout(spatial_dims, dropout))
        super().__init__(*parts)
        self.out_channels = out_channels


class SeparableBottleneckBlock(nn.Module):
    """Depthwise-separable convolution with a large kernel and an inverted bottleneck (seed 003).

    ``x -> depthwise conv k (groups = C_in) -> norm -> 1x1 conv C_in -> e*C_out -> activation
    -> 1x1 conv e*C_out -> C_out -> norm -> activation``, with a residual connection when
    ``C_in == C_out`` (a 1x1 projection otherwise). The depthwise + pointwise pair factorises a
    dense k^d convolution (Chollet 2017); expanding then compressing the channels is the inverted
    bottleneck of MobileNetV2 (Sandler et al. 2018) and ConvNeXt (Liu et al. 2022).

    Args:
        spatial_dims: 2 or 3.
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: odd depthwise kernel size (7 in seed 003), an int or one per axis.
        expansion: width multiplier of the inverted bottleneck.
        norm: norm layer by MONAI name.
        act: activation by MONAI name.
        dropout: channel-dropout rate at the end of the block.

    Example::

        block = SeparableBottleneckBlock(3, 16, 32)   # (B, 16, D, H, W) -> (B, 32, D, H, W)
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size: layers.AxisSpec = 7,
        expansion: int = 4,
        norm: layers.NormSpec = "batch",
        act: layers.ActSpec = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        hidden = expansion * out_channels
        self.depthwise = layers.conv(
            spatial_dims, in_channels, in_channels, kernel_size, groups=in_channels, bias=False
        )
        self.norm1 = layers.norm(norm, spatial_dims, in_channels)
        self.expand = layers.conv(spatial_dims, in_channels, hidden, 1)
        self.act1 = layers.act(act)
        self.compress = layers.conv(spatial_dims, hidden, out_channels, 1, bias=False)
        self.norm2 = layers.norm(norm, spatial_dims, out_channels)
        self.act2 = layers.act(act)
        self.shortcut = (
            nn.Identity()
            if in_channels == out_channels
            else layers.conv(spatial_dims, in_channels, out_channels, 1, bias=False)
        )
        self.drop = layers.dropout(spatial_dims, dropout)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.compress(self.act1(self.expand(self.norm1(self.depthwise(x)))))
        y = self.act2(self.norm2(y) + self.shortcut(x))
        return self.drop(y)
