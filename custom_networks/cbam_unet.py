"""U-Net with a Convolutional Block Attention Module after each encoder block (Woo et al. 2018; seed 004)."""

from __future__ import annotations

from collections.abc import Sequence

from .blocks import layers
from .blocks.cbam import CBAM
from .blocks.conv_block import ConvBlock
from .blocks.resampling import DownOp, UpOp
from .blocks.skip_conn import ConcatSkip
from .modular_unet import ModularUNet


class CBAMUNet(ModularUNet):
    """U-Net whose encoder blocks are each followed by CBAM (channel gate, then spatial gate).

    The gated encoder features feed both the skip connection and the next level, as in seed 004.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels (4 MR sequences for MSD brain tumours).
        out_channels: output channels (e.g. 3 overlapping tumour regions with sigmoid).
        channels: features per level, finest first.
        strides: stride of each down-sampling, finest first (``len(channels) - 1`` entries), each an int
            or one per axis, e.g. ``[(2, 2, 1), 2, 2]`` for thick slices; default 2 everywhere (see
            :class:`ModularUNet`).
        kernel_sizes: kernel of each level's conv blocks, finest first (``len(channels)`` entries), each an
            odd int or one per axis, e.g. ``[(3, 3, 1), (3, 3, 1), 3, 3]``; default 3 on every axis.
        reduction: reduction ratio r of CBAM's channel MLP (16 in the paper; the hidden width has a
            floor of 4).
        spatial_kernel: kernel size of CBAM's spatial gate (7 in the paper), an int or one per axis.
        norm: norm of the conv blocks, by MONAI name.
        dropout: channel-dropout rate in the conv blocks.
        deep_supervision: per-level heads in training mode.
        channels_last: run in channels-last memory format.

    Example::

        net = CBAMUNet(3, 4, 3)
        net(torch.zeros(1, 4, 64, 64, 64)).shape   # (1, 3, 64, 64, 64)
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        channels: Sequence[int] = (16, 32, 64, 128, 256),
        strides: Sequence[layers.AxisSpec] | None = None,
        kernel_sizes: Sequence[layers.AxisSpec] | None = None,
        reduction: int = 16,
        spatial_kernel: layers.AxisSpec = 7,
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
            encoder_gate=lambda spatial_dims, channels, norm: CBAM(
                spatial_dims, channels, reduction, spatial_kernel
            ),
            norm=norm,
            dropout=dropout,
            deep_supervision=deep_supervision,
            channels_last=channels_last,
        )
