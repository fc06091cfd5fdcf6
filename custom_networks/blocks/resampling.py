"""``DownOp`` and ``UpOp``: the resolution changes of the modular U-Net (seed 002).

Both take a ``stride``: an int for every spatial axis, or one per axis for anisotropic data (e.g.
``(2, 2, 1)`` keeps the thick-slice axis of 0.8 x 0.8 x 5 mm MR), as the pooling strides of MONAI's
``DynUNet`` and nnU-Net's ``PlainConvUNet``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import layers


class DownOp(nn.Module):
    """Divide every spatial side by its stride.

    Args:
        spatial_dims: 2 or 3.
        channels: channels in (and out).
        mode: ``"maxpool"`` (max pooling with kernel = stride, as U-Net) or ``"conv"`` (a learnt
            convolution with kernel = stride).
        stride: down-sampling factor, an int for every axis or one per axis (2: halve every side).

    Example::

        down = DownOp(3, 16)                    # (B, 16, 64, 64, 64) -> (B, 16, 32, 32, 32)
        down = DownOp(3, 16, stride=(2, 2, 1))  # (B, 16, 64, 64, 8) -> (B, 16, 32, 32, 8)
    """

    def __init__(
        self, spatial_dims: int, channels: int, mode: str = "maxpool", stride: layers.AxisSpec = 2
    ) -> None:
        super().__init__()
        stride = layers.per_axis(stride, spatial_dims, "DownOp stride")
        if mode == "maxpool":
            self.op = layers.max_pool(spatial_dims, stride)
        elif mode == "conv":
            self.op = layers.conv(spatial_dims, channels, channels, kernel_size=stride, stride=stride)
        else:
            raise ValueError(f"DownOp mode must be 'maxpool' or 'conv', got {mode!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class UpOp(nn.Module):
    """Multiply every spatial side by its stride and map ``in_channels`` to ``out_channels``.

    Args:
        spatial_dims: 2 or 3.
        in_channels: channels of the coarse input.
        out_channels: channels of the output.
        mode: ``"deconv"``: a transposed convolution with kernel = stride (U-Net's "up-conv 2x2");
            ``"interp"``: (bi/tri)linear up-sampling as in Oktay et al.'s Attention U-Net, preceded by a
            1x1 convolution. The two orders are the same map, as linear interpolation commutes with
            a 1x1 convolution, and projecting first costs prod(stride) times fewer operations.
        stride: up-sampling factor, an int for every axis or one per axis; the stride of the
            ``DownOp`` it undoes.

    Example::

        up = UpOp(3, 32, 16)                    # (B, 32, 16, 16, 16) -> (B, 16, 32, 32, 32)
        up = UpOp(3, 32, 16, stride=(2, 2, 1))  # (B, 32, 16, 16, 8) -> (B, 16, 32, 32, 8)
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        mode: str = "deconv",
        stride: layers.AxisSpec = 2,
    ) -> None:
        super().__init__()
        if mode not in ("deconv", "interp"):
            raise ValueError(f"UpOp mode must be 'deconv' or 'interp', got {mode!r}")
        stride = layers.per_axis(stride, spatial_dims, "UpOp stride")
        self.interpolate = mode == "interp"
        self.interp_mode = layers.interpolation_mode(spatial_dims)
        self.scale_factor: list[float] = [float(s) for s in stride]
        if self.interpolate:
            self.op = layers.conv(spatial_dims, in_channels, out_channels, kernel_size=1, bias=False)
        else:
            self.op = layers.transposed_conv(spatial_dims, in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.op(x)
        if self.interpolate:
            x = F.interpolate(x, scale_factor=self.scale_factor, mode=self.interp_mode, align_corners=False)
        return x
