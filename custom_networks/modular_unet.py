"""The modular U-Net of seed 002 (Laird 2019, section 4): a U-Net assembled from four swappable parts,

    h^D_{i+1} = DownOp( ConvBlock(h^D_i) )
    h^U_{i+1} = ConvBlock( SkipConn( UpOp(h^U_i), h^D_{L-1-i} ) )

plus an optional gate after every encoder block (CBAM) and optional deep supervision heads. The
parts are handed in as factories (classes or ``functools.partial``; in a bundle config, a
``_target_`` with ``"_partial_": true``), called with keyword arguments only:

    conv_block(spatial_dims=, in_channels=, out_channels=, norm=, dropout=)
    down_op(spatial_dims=, channels=)
    up_op(spatial_dims=, in_channels=, out_channels=)
    skip_conn(spatial_dims=, skip_channels=, up_channels=, gating_channels=, norm=)   # has .out_channels
    encoder_gate(spatial_dims=, channels=, norm=)

``UNet``, ``ImprovedUNet``, ``AttentionUNet`` and ``CBAMUNet`` are choices of parts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from custom_networks.blocks import layers
from custom_networks.blocks.conv_block import ConvBlock
from custom_networks.blocks.resampling import DownOp, UpOp
from custom_networks.blocks.skip_conn import ConcatSkip

PartFactory = Callable[..., nn.Module]


class ModularUNet(nn.Module):
    """A U-Net of any depth, built from ``ConvBlock``, ``DownOp``, ``SkipConn`` and ``UpOp`` parts.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels (MR sequences, CT: 1).
        out_channels: output channels (classes, or labels of a multi-label task).
        channels: features per level, finest first; ``len(channels) - 1`` down-samplings, so every
            input side must be divisible by ``2 ** (len(channels) - 1)``.
        conv_block: factory of the block at every level (encoder and decoder).
        down_op: factory of the down-sampling after each encoder level but the last.
        up_op: factory of the up-sampling from each decoder level to the next finer one.
        skip_conn: factory of the skip merge, either one for every level or a sequence with one per
            level, finest first (``len(channels) - 1`` entries).
        encoder_gate: optional factory of a gate applied to each encoder block's output (e.g. CBAM).
        norm: norm by MONAI name, passed to every part (``"instance"`` or ``"batch"``).
        dropout: channel-dropout rate of the conv blocks.
        deep_supervision: add a 1x1 head at every decoder level; in training mode ``forward``
            returns a list of logits, full resolution first (what MONAI's ``DeepSupervisionLoss``
            consumes), in eval mode the full-resolution logits only.
        channels_last: run the network in channels-last memory format (faster convolutions on CPU
            and on tensor cores); outputs come back in the input's ordinary layout.

    Example::

        net = ModularUNet(3, 1, 5, channels=(16, 32, 64, 128))
        logits = net(torch.zeros(2, 1, 64, 64, 64))     # (2, 5, 64, 64, 64)
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        channels: Sequence[int] = (16, 32, 64, 128, 256),
        conv_block: PartFactory = ConvBlock,
        down_op: PartFactory = DownOp,
        up_op: PartFactory = UpOp,
        skip_conn: PartFactory | Sequence[PartFactory] = ConcatSkip,
        encoder_gate: PartFactory | None = None,
        norm: layers.NormSpec = "instance",
        dropout: float = 0.0,
        deep_supervision: bool = False,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        channels = tuple(int(c) for c in channels)
        if len(channels) < 2:
            raise ValueError(f"channels needs at least two levels, got {channels}")
        levels = len(channels)
        skip_factories = list(skip_conn) if isinstance(skip_conn, Sequence) else [skip_conn] * (levels - 1)
        if len(skip_factories) != levels - 1:
            raise ValueError(
                f"skip_conn needs {levels - 1} entries (one per skip level), got {len(skip_factories)}"
            )

        self.spatial_dims = spatial_dims
        self.divisor = 2 ** (levels - 1)
        self.deep_supervision = deep_supervision
        self.channels_last = channels_last

        self.encoder = nn.ModuleList()
        self.encoder_gates = nn.ModuleList()
        self.down = nn.ModuleList()
        prev = in_channels
        for level, ch in enumerate(channels):
            self.encoder.append(
                conv_block(
                    spatial_dims=spatial_dims, in_channels=prev, out_channels=ch, norm=norm, dropout=dropout
                )
            )
            gate = (
                encoder_gate(spatial_dims=spatial_dims, channels=ch, norm=norm)
                if encoder_gate is not None
                else nn.Identity()
            )
            self.encoder_gates.append(gate)
            if level < levels - 1:
                self.down.append(down_op(spatial_dims=spatial_dims, channels=ch))
            prev = ch

        # decoder modules are stored coarsest level first, the order forward walks them
        self.up = nn.ModuleList()
        self.skips = nn.ModuleList()
        self.decoder = nn.ModuleList()
        self.ds_heads = nn.ModuleList()  # deep supervision heads of the coarser decoder levels
        for level in range(levels - 2, -1, -1):
            coarse, fine = channels[level + 1], channels[level]
            self.up.append(up_op(spatial_dims=spatial_dims, in_channels=coarse, out_channels=fine))
            skip = skip_factories[level](
                spatial_dims=spatial_dims,
                skip_channels=fine,
                up_channels=fine,
                gating_channels=coarse,
                norm=norm,
            )
            self.skips.append(skip)
            self.decoder.append(
                conv_block(
                    spatial_dims=spatial_dims,
                    in_channels=skip.out_channels,
                    out_channels=fine,
                    norm=norm,
                    dropout=dropout,
                )
            )
            if deep_supervision and level > 0:
                self.ds_heads.append(layers.conv(spatial_dims, fine, out_channels, kernel_size=1))
        self.head = layers.conv(spatial_dims, channels[0], out_channels, kernel_size=1)
        layers.init_kaiming(self)
        if channels_last:
            self.to(memory_format=layers.channels_last_format(spatial_dims))

    def check_input_shape(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` naming the shape unless every spatial side divides by ``2 ** depth``."""
        spatial = x.shape[2:]
        if x.dim() != self.spatial_dims + 2:
            raise ValueError(
                f"expected a {self.spatial_dims + 2}D input (batch, channel, {self.spatial_dims} spatial sides), got shape {list(x.shape)}"
            )
        for side in spatial:
            if side % self.divisor != 0:
                raise ValueError(
                    f"input spatial shape {list(spatial)} is not divisible by {self.divisor} (2 ** {len(self.down)} down-samplings); pad or crop "
                    f"every side to a multiple of {self.divisor}"
                )

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Decoder features of every level, coarsest first (the finest is the last)."""
        skips: list[torch.Tensor] = []
        for i, (block, gate) in enumerate(zip(self.encoder, self.encoder_gates)):
            x = gate(block(x))
            if i < len(self.down):
                skips.append(x)
                x = self._down(i, x)
        features: list[torch.Tensor] = []
        n = len(skips)
        for i, (up, merge, block) in enumerate(zip(self.up, self.skips, self.decoder)):
            skip = skips[n - 1 - i]
            x = block(merge(skip, up(x), x))
            features.append(x)
        return features

    def _down(self, level: int, x: torch.Tensor) -> torch.Tensor:
        # TorchScript indexes a ModuleList only with constants: select inside an unrolled loop
        for i, op in enumerate(self.down):
            if i == level:
                x = op(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        self.check_input_shape(x)
        if self.channels_last:
            if x.dim() == 5:
                x = x.contiguous(memory_format=torch.channels_last_3d)
            else:
                x = x.contiguous(memory_format=torch.channels_last)
        features = self.forward_features(x)
        logits = self.head(features[-1]).contiguous()
        if self.deep_supervision and self.training:
            outputs: list[torch.Tensor] = [logits]
            for i, head in enumerate(self.ds_heads):
                # ds_heads[i] belongs to decoder level i (coarsest first); outputs go finest first
                outputs.insert(1, head(features[i]).contiguous())
            return outputs
        return logits
