"""Attention U-Net of Oktay et al. 2018, "Attention U-Net: Learning Where to Look for the Pancreas"
(arXiv:1804.03999); seed 001.

A U-Net whose skip connections pass through additive grid attention gates
(:class:`~custom_networks.blocks.attention_gate.AttentionGate`, eq. 1-2) driven by the decoder
features one scale coarser, and optional deep supervision. Unlike ``monai.networks.nets.AttentionUnet`` it gates with the coarser scale, sub-samples
x in W_x, leaves the finest skip ungated by default, and exposes the attention coefficients through
:func:`attention_maps`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .blocks import layers
from .blocks.attention_gate import AttentionGate
from .blocks.conv_block import ConvBlock
from .blocks.resampling import DownOp, UpOp
from .blocks.skip_conn import AttentionSkip, ConcatSkip
from .modular_unet import ModularUNet


class AttentionUNet(ModularUNet):
    """Attention U-Net (Oktay et al. 2018).

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels.
        out_channels: output channels (classes).
        channels: features per level, finest first; the paper's 3D model uses (16, 32, 64, 128, 256)
            ("feature scale 4" of 64..1024).
        strides: stride of each down-sampling, finest first (``len(channels) - 1`` entries), each an int
            or one per axis, e.g. ``[(2, 2, 1), 2, 2]`` for thick slices; default 2 everywhere (see
            :class:`ModularUNet`).
        kernel_sizes: kernel of each level's conv blocks, finest first (``len(channels)`` entries), each an
            odd int or one per axis, e.g. ``[(3, 3, 1), (3, 3, 1), 3, 3]``; default 3 on every axis.
        attention_levels: skip levels (0 = finest) whose skips are gated; default every level but the
            finest, as in the paper.
        up_mode: ``"deconv"`` (a transposed convolution with kernel = stride, the default) or
            ``"interp"`` ((tri)linear up-sampling as in the authors' code). Both learn the same kind of map; on CPU the backward
            pass of (tri)linear interpolation is several times slower than a transposed convolution
            (see BENCHMARKS.md), so ``"deconv"`` is the default.
        norm: ``"batch"`` (the default, as in the paper) or ``"instance"`` (any MONAI norm name).
        dropout: channel-dropout rate in the conv blocks.
        deep_supervision: per-level 1x1 heads; in training mode ``forward`` returns a list of logits,
            full resolution first, for ``monai.losses.DeepSupervisionLoss``; in eval mode one tensor.
        channels_last: run in channels-last memory format.

    Example::

        net = AttentionUNet(3, 1, 3, deep_supervision=True).eval()
        logits = net(torch.zeros(1, 1, 96, 96, 96))         # (1, 3, 96, 96, 96)
        maps = attention_maps(net, torch.zeros(1, 1, 96, 96, 96))   # 3 maps in [0, 1]
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        channels: Sequence[int] = (16, 32, 64, 128, 256),
        strides: Sequence[layers.AxisSpec] | None = None,
        kernel_sizes: Sequence[layers.AxisSpec] | None = None,
        attention_levels: Sequence[int] | None = None,
        up_mode: str = "deconv",
        norm: layers.NormSpec = "batch",
        dropout: float = 0.0,
        deep_supervision: bool = False,
        channels_last: bool = True,
    ) -> None:
        skip_levels = len(channels) - 1
        gated = set(range(1, skip_levels)) if attention_levels is None else set(attention_levels)
        bad = sorted(level for level in gated if not 0 <= level < skip_levels)
        if bad:
            raise ValueError(f"attention_levels {bad} out of range: skip levels are 0..{skip_levels - 1}")
        self.attention_levels = tuple(sorted(gated))
        super().__init__(
            spatial_dims,
            in_channels,
            out_channels,
            channels,
            strides,
            kernel_sizes,
            conv_block=ConvBlock,
            down_op=DownOp,
            up_op=lambda **kw: UpOp(mode=up_mode, **kw),
            skip_conn=[AttentionSkip if level in gated else ConcatSkip for level in range(skip_levels)],
            norm=norm,
            dropout=dropout,
            deep_supervision=deep_supervision,
            channels_last=channels_last,
        )


def attention_maps(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The attention coefficients alpha of every :class:`AttentionGate` in ``net`` for input ``x``.

    Runs ``net`` once in eval mode without gradients (its training mode is restored afterwards).

    Args:
        net: a network holding attention gates (e.g. :class:`AttentionUNet`).
        x: input batch.

    Returns:
        One tensor per gate, finest skip level first, each ``(B, 1, *spatial of that skip)`` with
        values in [0, 1], on the CPU-side dtype float32.
    """
    gates = [m for m in net.modules() if isinstance(m, AttentionGate)]
    captured: list[torch.Tensor] = []
    handles = [
        g.coefficients.register_forward_hook(lambda _m, _i, out: captured.append(out.detach().float()))
        for g in gates
    ]
    was_training = net.training
    try:
        net.eval()
        with torch.no_grad():
            net(x)
    finally:
        net.train(was_training)
        for h in handles:
            h.remove()
    # gates run coarsest first; a stride of 1 on every axis can leave two levels of one size: the later is finer
    return sorted(captured[::-1], key=lambda a: a[0, 0].numel(), reverse=True)
