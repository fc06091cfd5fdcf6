"""``DownOp`` and ``UpOp``: the resolution changes of the modular U-Net (seed 002)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from custom_networks.blocks import layers


class DownOp(nn.Module):
    """Halve every spatial side.

    Args:
        spatial_dims: 2 or 3.
        channels: channels in (and out).
        mode: ``"maxpool"`` (2^d max pooling, as U-Net) or ``"conv"`` (a learnt 2^d convolution with
            stride 2).

    Example::

        down = DownOp(3, 16)    # (B, 16, 64, 64, 64) -> (B, 16, 32, 32, 32)
    """

    def __init__(self, spatial_dims: int, channels: int, mode: str = "maxpool") -> None:
        super().__init__()
        if mode == "maxpool":
            self.op = layers.max_pool(spatial_dims)
        elif mode == "conv":
            self.op = layers.conv(spatial_dims, channels, channels, kernel_size=2, stride=2)
        else:
            raise ValueError(f"DownOp mode must be 'maxpool' or 'conv', got {mode!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class UpOp(nn.Module):
    """Double every spatial side and map ``in_channels`` to ``out_channels``.

    Args:
        spatial_dims: 2 or 3.
        in_channels: channels of the coarse input.
        out_channels: channels of the output.
        mode: ``"deconv"``: a transposed convolution with kernel = stride = 2 (U-Net's "up-conv 2x2");
            ``"interp"``: (bi/tri)linear up-sampling as in Oktay et al.'s Attention U-Net, preceded by a
            1x1 convolution. The two orders are the same map, as linear interpolation commutes with
            a 1x1 convolution, and projecting first costs 2^d times fewer operations.

    Example::

        up = UpOp(3, 32, 16)    # (B, 32, 16, 16, 16) -> (B, 16, 32, 32, 32)
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, mode: str = "deconv") -> None:
        super().__init__()
        if mode not in ("deconv", "interp"):
            raise ValueError(f"UpOp mode must be 'deconv' or 'interp', got {mode!r}")
        self.interpolate = mode == "interp"
        self.interp_mode = layers.interpolation_mode(spatial_dims)
        if self.interpolate:
            self.op = layers.conv(spatial_dims, in_channels, out_channels, kernel_size=1, bias=False)
        else:
            self.op = layers.transposed_conv(spatial_dims, in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.op(x)
        if self.interpolate:
            x = F.interpolate(x, scale_factor=2.0, mode=self.interp_mode, align_corners=False)
        return x
