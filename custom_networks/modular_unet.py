"""The modular U-Net of seed 002 (Laird 2019, section 4): a U-Net assembled from four swappable parts,

    h^D_{i+1} = DownOp( ConvBlock(h^D_i) )
    h^U_{i+1} = ConvBlock( SkipConn( UpOp(h^U_i), h^D_{L-1-i} ) )

plus an optional gate after every encoder block (CBAM) and optional deep supervision heads. The
parts are handed in as factories (classes or ``functools.partial``; in a bundle config, a
``_target_`` with ``"_partial_": true``), called with keyword arguments only:

    conv_block(spatial_dims=, in_channels=, out_channels=, norm=, dropout=[, kernel_size=])
    down_op(spatial_dims=, channels=, stride=)
    up_op(spatial_dims=, in_channels=, out_channels=, stride=)
    skip_conn(spatial_dims=, skip_channels=, up_channels=, gating_channels=, norm=, sub_sample=)  # has .out_channels
    encoder_gate(spatial_dims=, channels=, norm=)

``stride`` and ``sub_sample`` are the stride between a level and the next coarser one, one int per
spatial axis; ``kernel_size`` (one int per axis) is passed only when ``kernel_sizes`` is given, so
each block keeps its own default otherwise. Per-level, per-axis strides and kernels give the
anisotropic topologies of MONAI's ``DynUNet`` and nnU-Net's ``PlainConvUNet``, e.g. for 0.8 x 0.8 x 5 mm
data ``strides=[(2, 2, 1), (2, 2, 2), (2, 2, 2)]``, ``kernel_sizes=[(3, 3, 1), (3, 3, 1), 3, 3]``.

``UNet``, ``ImprovedUNet``, ``AttentionUNet`` and ``CBAMUNet`` are choices of parts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from .blocks import cpu_kernels, layers
from .blocks.conv_block import ConvBlock
from .blocks.resampling import DownOp, UpOp
from .blocks.skip_conn import ConcatSkip

PartFactory = Callable[..., nn.Module]


class ModularUNet(nn.Module):
    """A U-Net of any depth, built from ``ConvBlock``, ``DownOp``, ``SkipConn`` and ``UpOp`` parts.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels (MR sequences, CT: 1).
        out_channels: output channels (classes, or labels of a multi-label task).
        channels: features per level, finest first; ``len(channels) - 1`` down-samplings, so every
            input side must be divisible by the product of the strides on its axis (``self.divisor``;
            ``2 ** (len(channels) - 1)`` with the default strides).
        strides: the stride of each down-sampling, finest first (``len(channels) - 1`` entries), each an
            int for every axis or one per axis (``(2, 2, 1)`` keeps the last axis); default 2 everywhere.
            The matching up-sampling and attention gate use the same stride.
        kernel_sizes: the kernel of each level's conv blocks (encoder and decoder), finest first
            (``len(channels)`` entries), each an odd int or one odd int per axis; default: the
            ``conv_block``'s own default.
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
        # 0.8 x 0.8 x 5 mm data: in-plane first, 3 x 3 x 1 kernels at the two finest levels
        net = ModularUNet(3, 1, 5, channels=(16, 32, 64, 128), strides=[(2, 2, 1), 2, 2],
                          kernel_sizes=[(3, 3, 1), (3, 3, 1), 3, 3])
        net.divisor                                      # (8, 8, 4)
        logits = net(torch.zeros(2, 1, 64, 64, 16))     # (2, 5, 64, 64, 16)
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        channels: Sequence[int] = (16, 32, 64, 128, 256),
        strides: Sequence[layers.AxisSpec] | None = None,
        kernel_sizes: Sequence[layers.AxisSpec] | None = None,
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

        if strides is None:
            strides = [(2,) * spatial_dims] * (levels - 1)
        strides = _per_level(
            strides, levels - 1, spatial_dims, "strides", "one per down-sampling: len(channels) - 1"
        )
        block_kw: list[dict] = [{}] * levels  # no kernel_size: each conv block keeps its own default
        if kernel_sizes is not None:
            kernels = _per_level(
                kernel_sizes, levels, spatial_dims, "kernel_sizes", "one per level: len(channels)"
            )
            even = [level for level, k in enumerate(kernels) if any(side % 2 == 0 for side in k)]
            if even:
                raise ValueError(
                    f"kernel_sizes must be odd on every axis (for same padding), got {kernel_sizes!r}: "
                    f"even at levels {even}"
                )
            block_kw = [{"kernel_size": k} for k in kernels]

        self.spatial_dims = spatial_dims
        self.strides: tuple[tuple[int, ...], ...] = tuple(strides)
        # per-axis divisor of every input side: the product of the strides on that axis
        self.divisor: tuple[int, ...] = tuple(
            math.prod(s[axis] for s in strides) for axis in range(spatial_dims)
        )
        self.deep_supervision = deep_supervision
        self.channels_last = channels_last

        self.encoder = nn.ModuleList()
        self.encoder_gates = nn.ModuleList()
        self.down = nn.ModuleList()
        prev = in_channels
        for level, ch in enumerate(channels):
            self.encoder.append(
                conv_block(
                    spatial_dims=spatial_dims,
                    in_channels=prev,
                    out_channels=ch,
                    norm=norm,
                    dropout=dropout,
                    **block_kw[level],
                )
            )
            gate = (
                encoder_gate(spatial_dims=spatial_dims, channels=ch, norm=norm)
                if encoder_gate is not None
                else nn.Identity()
            )
            self.encoder_gates.append(gate)
            if level < levels - 1:
                self.down.append(down_op(spatial_dims=spatial_dims, channels=ch, stride=strides[level]))
            prev = ch

        # decoder modules are stored coarsest level first, the order forward walks them
        self.up = nn.ModuleList()
        self.skips = nn.ModuleList()
        self.decoder = nn.ModuleList()
        self.ds_heads = nn.ModuleList()  # deep supervision heads of the coarser decoder levels
        for level in range(levels - 2, -1, -1):
            coarse, fine = channels[level + 1], channels[level]
            self.up.append(
                up_op(spatial_dims=spatial_dims, in_channels=coarse, out_channels=fine, stride=strides[level])
            )
            skip = skip_factories[level](
                spatial_dims=spatial_dims,
                skip_channels=fine,
                up_channels=fine,
                gating_channels=coarse,
                norm=norm,
                sub_sample=strides[level],
            )
            self.skips.append(skip)
            self.decoder.append(
                conv_block(
                    spatial_dims=spatial_dims,
                    in_channels=skip.out_channels,
                    out_channels=fine,
                    norm=norm,
                    dropout=dropout,
                    **block_kw[level],
                )
            )
            if deep_supervision and level > 0:
                self.ds_heads.append(layers.conv(spatial_dims, fine, out_channels, kernel_size=1))
        self.head = layers.conv(spatial_dims, channels[0], out_channels, kernel_size=1)
        layers.init_kaiming(self)
        if channels_last:
            self.to(memory_format=cpu_kernels.channels_last_format(spatial_dims))

    def check_input_shape(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` naming the shape unless every spatial side divides by its axis's divisor."""
        if x.dim() != self.spatial_dims + 2:
            raise ValueError(
                f"expected a {self.spatial_dims + 2}D input (batch, channel, {self.spatial_dims} spatial sides), got shape {list(x.shape)}"
            )
        spatial = x.shape[2:]
        for axis, divisor in enumerate(self.divisor):
            if spatial[axis] % divisor != 0:
                raise ValueError(
                    f"input spatial shape {list(spatial)}: side {spatial[axis]} of axis {axis} is not divisible by {divisor}; "
                    f"the per-axis divisors (products of the {len(self.down)} down-sampling strides) are {list(self.divisor)}: "
                    "pad or crop every side to a multiple of its divisor"
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
            x = cpu_kernels.to_channels_last(x)
        features = self.forward_features(x)
        logits = self.head(features[-1]).contiguous()
        if self.deep_supervision and self.training:
            outputs: list[torch.Tensor] = [logits]
            for i, head in enumerate(self.ds_heads):
                # ds_heads[i] belongs to decoder level i (coarsest first); outputs go finest first
                outputs.insert(1, head(features[i]).contiguous())
            return outputs
        return logits


def _per_level(
    values: Sequence[layers.AxisSpec], count: int, spatial_dims: int, name: str, what: str
) -> list[tuple[int, ...]]:
    """``values`` as ``count`` per-axis tuples, or a ``ValueError`` naming ``name`` and what it expects."""
    if isinstance(values, (int, str)) or not isinstance(values, Sequence):
        raise ValueError(f"{name} must be a sequence of {count} entries ({what}), got {values!r}")
    if len(values) != count:
        raise ValueError(f"{name} needs {count} entries ({what}), got {len(values)}: {values!r}")
    return [layers.per_axis(v, spatial_dims, f"{name}[{i}]") for i, v in enumerate(values)]
