"""3D (and 2D) segmentation networks named by ``_target_`` in MONAI bundle configs.

- :class:`AttentionUNet`: Oktay et al. 2018, grid attention gates, optional deep supervision;
  :func:`attention_maps` reads its attention coefficients.
- :class:`CBAMUNet`: U-Net with CBAM (Woo et al. 2018) after each encoder block.
- :class:`UNet`: the classic baseline; :class:`ImprovedUNet`: separable large-kernel blocks,
  inverted bottleneck and additive skips (seed 003).
- :class:`ModularUNet`: the assembly of ConvBlock / DownOp / SkipConn / UpOp parts they share.
"""

from .attention_unet import AttentionUNet, attention_maps
from .blocks import (
    CBAM,
    AddSkip,
    AttentionGate,
    AttentionSkip,
    ChannelGate,
    ConcatSkip,
    ConvBlock,
    DownOp,
    SeparableBottleneckBlock,
    SpatialGate,
    UpOp,
)
from .cbam_unet import CBAMUNet
from .modular_unet import ModularUNet
from .unet import ImprovedUNet, UNet

__all__ = [
    "CBAM",
    "AddSkip",
    "AttentionGate",
    "AttentionSkip",
    "AttentionUNet",
    "CBAMUNet",
    "ChannelGate",
    "ConcatSkip",
    "ConvBlock",
    "DownOp",
    "ImprovedUNet",
    "ModularUNet",
    "SeparableBottleneckBlock",
    "SpatialGate",
    "UNet",
    "UpOp",
    "attention_maps",
]
