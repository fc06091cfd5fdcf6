"""Convolutional Block Attention Module, Woo et al. 2018, "CBAM: Convolutional Block Attention
Module" (ECCV), section 3, eq. 1-3; seed 004.

    F'  = M_c(F) (x) F,        F'' = M_s(F') (x) F'                                   (eq. 1)
    M_c(F) = sigmoid( MLP(AvgPool(F)) + MLP(MaxPool(F)) ),  MLP = W_1 ReLU(W_0 .)     (eq. 2)
    M_s(F) = sigmoid( norm( f^{k x k}([AvgPool_c(F); MaxPool_c(F)]) ) )               (eq. 3)

The MLP is shared by both pooled descriptors, with hidden width C / r. As in the authors' code the
spatial convolution has no bias and is followed by a norm; in d dimensions it is a k^d kernel.
"""

from __future__ import annotations

import torch
from torch import nn

from . import layers


class ChannelGate(nn.Module):
    """Channel attention M_c (Woo et al. 2018, eq. 2).

    Args:
        channels: channels C of the features.
        reduction: reduction ratio r of the shared MLP (16 in the paper).
        min_hidden: floor of the hidden width, so narrow 3D levels keep a usable MLP.

    Example::

        gate = ChannelGate(32)    # (B, 32, *spatial) -> same shape
    """

    def __init__(self, channels: int, reduction: int = 16, min_hidden: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, min(min_hidden, channels))
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(2)
        logits = self.mlp(flat.mean(dim=2)) + self.mlp(flat.amax(dim=2))
        scale = torch.sigmoid(logits).to(x.dtype)
        for _ in range(x.dim() - 2):
            scale = scale.unsqueeze(-1)
        return x * scale


class SpatialGate(nn.Module):
    """Spatial attention M_s (Woo et al. 2018, eq. 3): [max, mean] over channels -> k^d conv -> norm -> sigmoid.

    Args:
        spatial_dims: 2 or 3.
        kernel_size: odd kernel size k (7 in the paper), or one per axis. A k^d kernel also works on
            maps thinner than k (the zero padding covers them), e.g. the 4 x 4 x 1 bottleneck of an
            anisotropic network.
        norm: norm after the convolution, by MONAI name (the paper's code uses batch norm).

    Example::

        gate = SpatialGate(3)     # (B, C, D, H, W) -> same shape
    """

    def __init__(
        self, spatial_dims: int, kernel_size: layers.AxisSpec = 7, norm: layers.NormSpec = "batch"
    ) -> None:
        super().__init__()
        self.conv = layers.conv(spatial_dims, 2, 1, kernel_size, bias=False)
        self.norm = layers.norm(norm, spatial_dims, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.norm(self.conv(pooled))).to(x.dtype)


class CBAM(nn.Module):
    """Channel gate then spatial gate, applied in sequence (Woo et al. 2018, eq. 1).

    Args:
        spatial_dims: 2 or 3.
        channels: channels of the features.
        reduction: reduction ratio r of the channel gate's MLP.
        kernel_size: kernel size of the spatial gate, an int or one per axis.
        norm: norm of the spatial gate.

    Example::

        cbam = CBAM(3, 64)        # (B, 64, D, H, W) -> same shape
    """

    def __init__(
        self,
        spatial_dims: int,
        channels: int,
        reduction: int = 16,
        kernel_size: layers.AxisSpec = 7,
        norm: layers.NormSpec = "batch",
    ) -> None:
        super().__init__()
        self.channel_gate = ChannelGate(channels, reduction)
        self.spatial_gate = SpatialGate(spatial_dims, kernel_size, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial_gate(self.channel_gate(x))
