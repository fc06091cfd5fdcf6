"""Building blocks of the networks: the four parts of the modular U-Net and the attention modules."""

from custom_networks.blocks.attention_gate import AttentionGate
from custom_networks.blocks.cbam import CBAM, ChannelGate, SpatialGate
from custom_networks.blocks.conv_block import ConvBlock, SeparableBottleneckBlock
from custom_networks.blocks.resampling import DownOp, UpOp
from custom_networks.blocks.skip_conn import AddSkip, AttentionSkip, ConcatSkip

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
