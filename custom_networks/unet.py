"""The classic U-Net baseline and the "improved" U-Net of seed 003, as choices of modular parts."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from .blocks import layers
from .blocks.conv_block import ConvBlock, SeparableBottleneckBlock
from .blocks.resampling import DownOp, UpOp
from .blocks.skip_conn import AddSkip, ConcatSkip
from .modular_unet import ModularUNet


class UNet(ModularUNet):
    """Classic U-Net (Ronneberger et al. 2015; 3D: Cicek et al. 2016), the baseline of seeds 000-004.

    ConvBlock = 2 x (3^d conv, norm, ReLU); DownOp = 2^d max pooling; UpOp = 2^d transposed
    convolution ("up-conv 2x2"); SkipConn = concatenation.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels.
        out_channels: output channels (classes).
        channels: features per level, finest first.
        strides: stride of each down-sampling, finest first (``len(channels) - 1`` entries), each an int
            or one per axis, e.g. ``[(2, 2, 1), 2, 2]`` for thick slices; default 2 everywhere (see
            :class:`ModularUNet`).
        kernel_sizes: kernel of each level's conv blocks, finest first (``len(channels)`` entries), each an
            odd int or one per axis, e.g. ``[(3, 3, 1), (3, 3, 1), 3, 3]``; default 3 on every axis.
        norm: ``"instance"`` or ``"batch"`` (or any MONAI norm name).
        dropout: channel-dropout rate in the conv blocks.
        deep_supervision: per-level heads in training mode (see :class:`ModularUNet`).
        channels_last: run in channels-last memory format.

    Example::

        net = UNet(3, 1, 5)                        # 5 levels, 16..256 features
        net(torch.zeros(1, 1, 64, 64, 64)).shape   # (1, 5, 64, 64, 64)
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        channels: Sequence[int] = (16, 32, 64, 128, 256),
        strides: Sequence[layers.AxisSpec] | None = None,
        kernel_sizes: Sequence[layers.AxisSpec] | None = None,
        norm: layers.NormSpec = "instance",
        dropout: float = 0.0,
        deep_supervision: bool = False,
        channels_last: bool = True,
    ) -> None:
        super().__init__(
            spatial_dims,
            in_channels,
            out_channels,
            channels,
            strides,
            kernel_sizes,
            conv_block=ConvBlock,
            down_op=DownOp,
            up_op=UpOp,
            skip_conn=ConcatSkip,
            norm=norm,
            dropout=dropout,
            deep_supervision=deep_supervision,
            channels_last=channels_last,
        )


class ImprovedUNet(ModularUNet):
    """The "improved" U-Net of seed 003: fewer parameters, larger receptive field.

    ConvBlock = :class:`SeparableBottleneckBlock` (depthwise-separable k^d convolution, k = 7, norm,
    inverted bottleneck that expands then compresses the channels); DownOp = max pooling; UpOp =
    transposed convolution; SkipConn = addition instead of concatenation.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels.
        out_channels: output channels (classes).
        channels: features per level, finest first.
        strides: stride of each down-sampling, finest first (``len(channels) - 1`` entries), each an int
            or one per axis, e.g. ``[(2, 2, 1), 2, 2]`` for thick slices; default 2 everywhere (see
            :class:`ModularUNet`).
        kernel_sizes: kernel of each level's conv blocks, finest first (``len(channels)`` entries), each an
            odd int or one per axis, e.g. ``[(7, 7, 3), (7, 7, 3), 7, 7]``; default ``kernel_size`` at every
            level.
        kernel_size: depthwise kernel size of every level without ``kernel_sizes``.
        expansion: width multiplier of the inverted bottleneck.
        norm: norm by MONAI name (seed 003 uses batch norm).
        dropout: channel-dropout rate in the blocks.
        deep_supervision: per-level heads in training mode.
        channels_last: run in channels-last memory format.

    Example::

        net = ImprovedUNet(2, 3, 1, channels=(32, 64, 128, 256))
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        channels: Sequence[int] = (16, 32, 64, 128, 256),
        strides: Sequence[layers.AxisSpec] | None = None,
        kernel_sizes: Sequence[layers.AxisSpec] | None = None,
        kernel_size: int = 7,
        expansion: int = 4,
        norm: layers.NormSpec = "batch",
        dropout: float = 0.0,
        deep_supervision: bool = False,
        channels_last: bool = True,
    ) -> None:
        super().__init__(
            spatial_dims,
            in_channels,
            out_channels,
            channels,
            strides,
            kernel_sizes,
            conv_block=functools.partial(
                SeparableBottleneckBlock, kernel_size=kernel_size, expansion=expansion
            ),
            down_op=DownOp,
            up_op=UpOp,
            skip_conn=AddSkip,
            norm=norm,
            dropout=dropout,
            deep_supervision=deep_supervision,
            channels_last=channels_last,
        )
