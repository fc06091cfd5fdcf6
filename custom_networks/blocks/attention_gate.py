"""Additive grid attention gate of Oktay et al. 2018, "Attention U-Net: Learning Where to Look for
the Pancreas" (arXiv:1804.03999), section 2, eq. 1-2; seed 001.

For skip features x^l (level l) and a gating signal g from the next coarser scale:

    q_att = psi^T( sigma_1( W_x^T x^l + W_g^T g + b_g ) ) + b_psi        (eq. 1)
    alpha = sigma_2( q_att )                                             (eq. 2)
    x_hat = alpha . x^l

with sigma_1 = ReLU and sigma_2 = sigmoid. As in the paper's grid attention, W_x is a strided
convolution that sub-samples x to g's resolution, W_g and psi are 1x1 convolutions, and the
coefficients are resampled (bi/tri-linearly) to x's grid before they multiply x. A 1x1 convolution
and a norm follow the gating, as in the authors' implementation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import layers


class AttentionGate(nn.Module):
    """Additive attention gate (Oktay et al. 2018, eq. 1-2).

    Args:
        spatial_dims: 2 or 3.
        in_channels: channels of the skip features x.
        gating_channels: channels of the gating signal g (from the coarser scale).
        inter_channels: channels of the joint space of W_x x and W_g g; default ``in_channels // 2``.
        sub_sample: stride (and kernel) of W_x, an int or one per axis; the stride between x's level and
            g's (2 matches a gating signal one level coarser, ``(2, 2, 1)`` one level coarser in-plane only).
        norm: norm after the output 1x1 convolution, by MONAI name.

    The attention coefficients pass through ``self.coefficients`` (an identity) so that
    :func:`custom_networks.attention_maps` can read them with a forward hook.

    Example::

        gate = AttentionGate(3, in_channels=32, gating_channels=64)
        x_hat = gate(x, g)    # x: (B, 32, 32, 32, 32), g: (B, 64, 16, 16, 16)
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        gating_channels: int,
        inter_channels: int | None = None,
        sub_sample: layers.AxisSpec = 2,
        norm: layers.NormSpec = "instance",
    ) -> None:
        super().__init__()
        inter_channels = inter_channels or max(in_channels // 2, 1)
        self.interp_mode = layers.interpolation_mode(spatial_dims)
        sub_sample = layers.per_axis(sub_sample, spatial_dims, "AttentionGate sub_sample")
        # W_x: sub-samples x by `sub_sample` (no bias: b_g carries the joint bias)
        self.theta_x = layers.conv(
            spatial_dims, in_channels, inter_channels, kernel_size=sub_sample, stride=sub_sample, bias=False
        )
        # W_g, b_g
        self.phi_g = layers.conv(spatial_dims, gating_channels, inter_channels, kernel_size=1, bias=True)
        # psi, b_psi
        self.psi = layers.conv(spatial_dims, inter_channels, 1, kernel_size=1, bias=True)
        self.coefficients = nn.Identity()
        self.output = nn.Sequential(
            layers.conv(spatial_dims, in_channels, in_channels, kernel_size=1, bias=False),
            layers.norm(norm, spatial_dims, in_channels),
        )

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        theta_x = self.theta_x(x)
        phi_g = self.phi_g(g)
        if phi_g.shape[2:] != theta_x.shape[2:]:
            phi_g = F.interpolate(phi_g, size=theta_x.shape[2:], mode=self.interp_mode, align_corners=False)
        q_att = self.psi(F.relu(theta_x + phi_g))
        alpha = torch.sigmoid(q_att)
        alpha = F.interpolate(alpha, size=x.shape[2:], mode=self.interp_mode, align_corners=False)
        alpha = self.coefficients(alpha)
        return self.output(alpha * x)
