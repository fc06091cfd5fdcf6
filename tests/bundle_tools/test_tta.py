"""Flip test-time augmentation: single-axis flips and nnU-Net-style mirroring over every axis subset."""

from __future__ import annotations

import itertools

import torch
from monai.inferers import SimpleInferer, SlidingWindowInferer

from bundle_tools.inferers.tta import FlipTTAInferer


class Ramp(torch.nn.Module):
    """Not flip-equivariant: multiplies by a ramp along every spatial axis, counts its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        ramp = sum(
            torch.arange(n, dtype=x.dtype).view([n if i == d else 1 for i in range(x.ndim - 2)])
            for d, n in enumerate(x.shape[2:])
        )
        return x * (1 + ramp)


def expected(x: torch.Tensor, net: Ramp, flips: list[tuple[int, ...]]) -> torch.Tensor:
    total = net(x)
    for dims in flips:
        total = total + torch.flip(net(torch.flip(x, dims)), dims)
    return total / (1 + len(flips))


def test_single_axis_flips_average_the_flipped_back_predictions():
    x = torch.randn(1, 2, 4, 5, 6)
    net = Ramp()
    got = FlipTTAInferer(SimpleInferer(), (1, 2))(x, net)
    assert net.calls == 3
    torch.testing.assert_close(got, expected(x, Ramp(), [(3,), (4,)]))


def test_all_combinations_mirror_every_subset_of_axes_like_nnunet():
    x = torch.randn(1, 1, 4, 5, 6)
    net = Ramp()
    got = FlipTTAInferer(SimpleInferer(), (0, 1, 2), all_combinations=True)(x, net)
    assert net.calls == 8
    subsets = [tuple(a + 2 for a in c) for n in (1, 2, 3) for c in itertools.combinations((0, 1, 2), n)]
    torch.testing.assert_close(got, expected(x, Ramp(), subsets))


def test_wraps_a_sliding_window_inferer():
    x = torch.randn(1, 1, 8, 8, 8)
    sw = SlidingWindowInferer(roi_size=(4, 4, 4), sw_batch_size=2, overlap=0.0)
    got = FlipTTAInferer(sw, (0,))(x, torch.nn.Identity())
    torch.testing.assert_close(got, x)  # identity network: flipping back restores the input
