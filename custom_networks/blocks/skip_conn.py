"""``SkipConn``: how the decoder merges an encoder skip with the up-sampled coarse features (seed 002).

Every skip connection takes ``(skip, up, gating)``: the encoder features of this level, the decoder
features brought up from the coarser level by the ``UpOp``, and the coarser decoder features before
up-sampling (the gating signal of attention; unused by the plain merges). ``out_channels`` says
what the next ``ConvBlock`` receives. Every one is built with ``sub_sample``, the stride between this
level and the coarser one (an int or one per axis), which the attention gate's W_x needs.
"""

from __future__ import annotations

import torch
from torch import nn

from . import layers
from .attention_gate import AttentionGate


class ConcatSkip(nn.Module):
    """Concatenate skip and up-sampled features along channels (U-Net).

    Args:
        spatial_dims: 2 or 3 (unused; the signature is shared by every skip connection).
        skip_channels: channels of the encoder skip.
        up_channels: channels of the up-sampled decoder features.
        gating_channels: channels of the coarse gating signal (unused).
        norm: unused here.
        sub_sample: stride to the coarser level (unused).
    """

    def __init__(
        self,
        spatial_dims: int,
        skip_channels: int,
        up_channels: int,
        gating_channels: int = 0,
        norm: layers.NormSpec = "instance",
        sub_sample: layers.AxisSpec = 2,
    ) -> None:
        super().__init__()
        self.out_channels = skip_channels + up_channels

    def forward(self, skip: torch.Tensor, up: torch.Tensor, gating: torch.Tensor) -> torch.Tensor:
        return torch.cat([skip, up], dim=1)


class AddSkip(nn.Module):
    """Add skip and up-sampled features (the additive skips of seed 003); channels must match.

    Args:
        spatial_dims: 2 or 3 (unused).
        skip_channels: channels of the encoder skip.
        up_channels: channels of the up-sampled decoder features; must equal ``skip_channels``.
        gating_channels: unused.
        norm: unused.
        sub_sample: unused.
    """

    def __init__(
        self,
        spatial_dims: int,
        skip_channels: int,
        up_channels: int,
        gating_channels: int = 0,
        norm: layers.NormSpec = "instance",
        sub_sample: layers.AxisSpec = 2,
    ) -> None:
        super().__init__()
        if skip_channels != up_channels:
            raise ValueError(f"AddSkip needs equal channels, got skip {skip_channels} and up {up_channels}")
        self.out_channels = skip_channels

    def forward(self, skip: torch.Tensor, up: torch.Tensor, gating: torch.Tensor) -> torch.Tensor:
        return skip + up


class AttentionSkip(nn.Module):
    """Gate the skip with an :class:`AttentionGate` driven by the coarser scale, then concatenate.

    The "AttnCell" SkipConn of seed 002 and the skip path of Oktay et al. 2018 (Fig. 1).

    Args:
        spatial_dims: 2 or 3.
        skip_channels: channels of the encoder skip x.
        up_channels: channels of the up-sampled decoder features.
        gating_channels: channels of the gating signal g (the coarser decoder features).
        norm: norm of the gate's output projection.
        inter_channels: channels of the gate's joint space; default ``skip_channels // 2``.
        sub_sample: stride between this level and the coarser one, an int or one per axis (the
            gate's W_x kernel and stride).
    """

    def __init__(
        self,
        spatial_dims: int,
        skip_channels: int,
        up_channels: int,
        gating_channels: int,
        norm: layers.NormSpec = "instance",
        inter_channels: int | None = None,
        sub_sample: layers.AxisSpec = 2,
    ) -> None:
        super().__init__()
        self.gate = AttentionGate(
            spatial_dims, skip_channels, gating_channels, inter_channels, sub_sample=sub_sample, norm=norm
        )
        self.out_channels = skip_channels + up_channels

    def forward(self, skip: torch.Tensor, up: torch.Tensor, gating: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.gate(skip, gating), up], dim=1)
