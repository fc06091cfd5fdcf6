"""Flip test-time augmentation for any MONAI inferer.

:class:`FlipTTAInferer` runs the wrapped inferer (e.g. a ``SlidingWindowInferer``) on the input and on its
flips along each of ``spatial_axes``, flips each prediction back and averages the logits. Choose axes that
keep the labels' meaning: a left-right flip swaps left and right organs (CHAOS kidneys), so the abdominal
bundle flips only the other two axes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import combinations
from typing import Any

import torch
from monai.inferers import Inferer

__all__ = ["FlipTTAInferer"]


class FlipTTAInferer(Inferer):
    """Average of ``inferer(x)`` and ``flip(inferer(flip(x, a)), a)`` for each spatial axis ``a``.

    Args:
        inferer: the inferer to wrap (``"@sw_inferer"``).
        spatial_axes: spatial axes (0 = first spatial axis) to flip, one pass each.
        all_combinations: flip every non-empty subset of ``spatial_axes`` instead (2^n - 1 extra passes,
            nnU-Net's test-time mirroring: 8 passes in all for three axes).
    """

    def __init__(
        self,
        inferer: Callable[..., Any],
        spatial_axes: Sequence[int] = (0, 1, 2),
        all_combinations: bool = False,
    ) -> None:
        super().__init__()
        self.inferer = inferer
        self.spatial_axes = tuple(int(a) for a in spatial_axes)
        if all_combinations:
            subsets = (
                c for n in range(1, len(self.spatial_axes) + 1) for c in combinations(self.spatial_axes, n)
            )
            self.flips = [tuple(a + 2 for a in subset) for subset in subsets]
        else:
            self.flips = [(a + 2,) for a in self.spatial_axes]

    def __call__(self, inputs: torch.Tensor, network: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Flip-averaged prediction of ``network`` on ``inputs`` ``(B, C, *spatial)``."""
        total = self.inferer(inputs, network, *args, **kwargs)
        for dims in self.flips:
            pred = self.inferer(torch.flip(inputs, dims), network, *args, **kwargs)
            total = total + torch.flip(pred, dims)
        return total / (1 + len(self.flips))
