"""CBAM's channel and spatial gates against Woo et al. 2018, eq. 2-3, computed directly."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import custom_networks as cn


def test_channel_gate_is_sigmoid_of_shared_mlp_over_avg_and_max_pool():
    torch.manual_seed(0)
    gate = cn.ChannelGate(32, reduction=16)  # hidden = max(32 // 16, 4) = 4
    x = torch.randn(2, 32, 5, 6, 7)
    w0, b0 = gate.mlp[0].weight, gate.mlp[0].bias
    w1, b1 = gate.mlp[2].weight, gate.mlp[2].bias
    assert w0.shape == (4, 32)

    def mlp(v):
        return torch.relu(v @ w0.T + b0) @ w1.T + b1

    avg = x.mean(dim=(2, 3, 4))
    mx = x.amax(dim=(2, 3, 4))
    m_c = torch.sigmoid(mlp(avg) + mlp(mx))
    torch.testing.assert_close(gate(x), x * m_c[:, :, None, None, None])


def test_channel_gate_hidden_width_has_a_floor():
    assert cn.ChannelGate(16, reduction=16).mlp[0].out_features == 4
    assert cn.ChannelGate(2, reduction=16).mlp[0].out_features == 2
    assert cn.ChannelGate(256, reduction=16).mlp[0].out_features == 16


def test_spatial_gate_is_sigmoid_of_norm_of_conv_over_max_and_mean():
    torch.manual_seed(0)
    gate = cn.SpatialGate(3, kernel_size=7, norm="batch").eval()
    gate.norm.running_mean.fill_(0.3)
    gate.norm.running_var.fill_(2.0)
    x = torch.randn(2, 5, 9, 9, 9)
    pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
    conv = F.conv3d(pooled, gate.conv.weight, padding=3)
    bn = (conv - 0.3) / torch.sqrt(torch.tensor(2.0) + gate.norm.eps) * gate.norm.weight + gate.norm.bias
    torch.testing.assert_close(gate(x), x * torch.sigmoid(bn), atol=1e-5, rtol=1e-4)
    assert gate.conv.weight.shape == (1, 2, 7, 7, 7) and gate.conv.bias is None


def test_cbam_applies_channel_then_spatial_gate_in_2d_and_3d():
    for dims in (2, 3):
        cbam = cn.CBAM(dims, 8).eval()
        x = torch.randn(1, 8, *([6] * dims))
        torch.testing.assert_close(cbam(x), cbam.spatial_gate(cbam.channel_gate(x)))


def test_cbam_unet_places_cbam_after_each_encoder_block():
    net = cn.CBAMUNet(3, 4, 3, channels=(8, 16, 32))
    assert [type(g).__name__ for g in net.encoder_gates] == ["CBAM", "CBAM", "CBAM"]
    assert [g.channel_gate.mlp[2].out_features for g in net.encoder_gates] == [8, 16, 32]


def test_spatial_gate_works_on_maps_thinner_than_its_kernel():
    # the 4 x 4 x 1 bottleneck of an anisotropic network under a 7^3 kernel: the padding covers the thin axis
    torch.manual_seed(0)
    gate = cn.SpatialGate(3, kernel_size=7, norm="batch").eval()
    x = torch.randn(2, 5, 4, 4, 1)
    pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
    conv = F.conv3d(pooled, gate.conv.weight, padding=3)
    torch.testing.assert_close(gate(x), x * torch.sigmoid(gate.norm(conv)), atol=1e-5, rtol=1e-4)
    assert cn.SpatialGate(3, kernel_size=(7, 7, 1)).conv.weight.shape == (1, 2, 7, 7, 1)
