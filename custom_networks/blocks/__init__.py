"""Building blocks of the networks: the four parts of the modular U-Net and the attention modules."""

from .attention_gate import AttentionGate
from .cbam import CBAM, ChannelGate, SpatialGate
from .conv_block import ConvBlock, SeparableBottleneckBlock
from .resampling import DownOp, UpOp
from .skip_conn import AddSkip, AttentionSkip, ConcatSkip

__all__ = [
    "AddSkip",
    "AttentionGate",
    "AttentionSkip",
    "CBAM",
    "ChannelGate",
    "ConcatSkip",
    "ConvBlock",
    "DownOp",
    "SeparableBottleneckBlock",
    "SpatialGate",
    "UpOp",
]
