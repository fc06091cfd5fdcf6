"""The attention gate against Oktay et al. 2018, eq. 1-2, and the attention maps read-out."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import custom_networks as cn


def test_gate_matches_equations_1_and_2_computed_directly():
    torch.manual_seed(0)
    gate = cn.AttentionGate(3, in_channels=6, gating_channels=8, inter_channels=4, norm="batch").eval()
    x = torch.randn(2, 6, 8, 8, 8)
    g = torch.randn(2, 8, 4, 4, 4)
    # W_x: 2^3 convolution with stride 2 (sub-sampling), no bias; W_g, psi: 1x1 with biases
    wx = gate.theta_x.weight
    wg, bg = gate.phi_g.weight, gate.phi_g.bias
    psi, bpsi = gate.psi.weight, gate.psi.bias
    theta = F.conv3d(x, wx, stride=2)
    phi = torch.einsum("bchwd,oc->bohwd", g, wg[:, :, 0, 0, 0]) + bg.view(1, -1, 1, 1, 1)
    q_att = torch.einsum("bchwd,oc->bohwd", torch.relu(theta + phi), psi[:, :, 0, 0, 0]) + bpsi.view(
        1, -1, 1, 1, 1
    )
    alpha = torch.sigmoid(q_att)
    alpha_up = F.interpolate(alpha, size=(8, 8, 8), mode="trilinear", align_corners=False)
    expected = gate.output(alpha_up * x)
    torch.testing.assert_close(gate(x, g), expected, atol=1e-5, rtol=1e-4)
    assert theta.shape[2:] == g.shape[2:], "W_x sub-samples x to the gating signal's grid"


def test_attention_maps_have_the_skip_shape_and_values_in_unit_interval():
    net = cn.AttentionUNet(3, 1, 3, channels=(4, 8, 16, 32)).train()
    x = torch.randn(2, 1, 32, 24, 16)
    maps = cn.attention_maps(net, x)
    # gated skip levels 1 and 2 (level 0, the finest, is not gated by default): finest first
    assert [tuple(m.shape) for m in maps] == [(2, 1, 16, 12, 8), (2, 1, 8, 6, 4)]
    for m in maps:
        assert m.min() >= 0 and m.max() <= 1
        assert m.std() > 0, "coefficients depend on the input"
    assert net.training, "training mode is restored"
    assert all(
        not h
        for g in net.modules()
        if isinstance(g, cn.AttentionGate)
        for h in [g.coefficients._forward_hooks]
    )


def test_attention_maps_in_2d_cover_every_requested_level():
    net = cn.AttentionUNet(2, 1, 2, channels=(4, 8, 16), attention_levels=[0, 1])
    maps = cn.attention_maps(net, torch.randn(1, 1, 32, 32))
    assert [tuple(m.shape) for m in maps] == [(1, 1, 32, 32), (1, 1, 16, 16)]


def test_gate_with_per_axis_sub_sample_matches_equation_1_with_that_stride():
    torch.manual_seed(0)
    gate = cn.AttentionGate(3, in_channels=6, gating_channels=8, inter_channels=4, sub_sample=(2, 2, 1))
    gate = gate.eval()
    assert gate.theta_x.kernel_size == gate.theta_x.stride == (2, 2, 1)
    x = torch.randn(2, 6, 8, 8, 3)
    g = torch.randn(2, 8, 4, 4, 3)  # one level coarser in-plane only
    theta = F.conv3d(x, gate.theta_x.weight, stride=(2, 2, 1))
    assert theta.shape[2:] == g.shape[2:]
    phi = F.conv3d(g, gate.phi_g.weight, gate.phi_g.bias)
    alpha = torch.sigmoid(F.conv3d(torch.relu(theta + phi), gate.psi.weight, gate.psi.bias))
    alpha_up = F.interpolate(alpha, size=(8, 8, 3), mode="trilinear", align_corners=False)
    torch.testing.assert_close(gate(x, g), gate.output(alpha_up * x), atol=1e-5, rtol=1e-4)


def test_plain_skips_accept_and_ignore_sub_sample():
    for skip in (cn.ConcatSkip, cn.AddSkip):
        merge = skip(3, skip_channels=4, up_channels=4, gating_channels=8, sub_sample=(2, 2, 1))
        x = torch.randn(1, 4, 4, 4, 2)
        assert merge(x, x, torch.randn(1, 8, 2, 2, 2)).shape[2:] == x.shape[2:]
