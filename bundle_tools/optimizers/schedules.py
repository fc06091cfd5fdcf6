"""Learning-rate schedules over a whole training run, stepped once per iteration.

:func:`poly_with_warmup` is nnU-Net's "poly" decay (Isensee et al., Nature Methods 2021: ``lr_t = lr_0
(1 - t / T) ** 0.9`` over all ``T`` iterations) after a linear warm-up, so the rate is defined by the run's
length, not by how many epochs a small dataset happens to give. In a bundle config::

    "lr_scheduler": {"_target_": "bundle_tools.optimizers.schedules.poly_with_warmup", "optimizer": "@optimizer",
                     "total_iterations": "$@epochs * @iterations_per_epoch",
                     "warmup_iterations": "@warmup_iterations"}

stepped by ``{"_target_": "LrScheduleHandler", "lr_scheduler": "@lr_scheduler", "epoch_level": false}``.
"""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

__all__ = ["poly_factor", "poly_with_warmup"]


def poly_factor(
    iteration: int, total_iterations: int, warmup_iterations: int = 0, exponent: float = 0.9
) -> float:
    """The multiple of the initial rate at ``iteration`` (0-based): linear warm-up, then poly decay to 0.

    Warm-up goes from ``1 / (warmup_iterations + 1)`` to 1 over ``warmup_iterations`` iterations; the poly
    decay then runs over the remaining ones, ``(1 - t / T_rest) ** exponent``.
    """
    if total_iterations < 1:
        raise ValueError(f"total_iterations must be positive, got {total_iterations}")
    if not 0 <= warmup_iterations < total_iterations:
        raise ValueError(f"warmup_iterations must be in [0, {total_iterations}), got {warmup_iterations}")
    if iteration < warmup_iterations:
        return (iteration + 1) / (warmup_iterations + 1)
    rest = total_iterations - warmup_iterations
    done = min(iteration - warmup_iterations, rest)
    return (1.0 - done / rest) ** exponent


def poly_with_warmup(
    optimizer: Optimizer, total_iterations: int, warmup_iterations: int = 0, exponent: float = 0.9
) -> LambdaLR:
    """A ``LambdaLR`` following :func:`poly_factor`; call ``step()`` after every iteration.

    Args:
        optimizer: the optimizer whose rates (``lr`` of each group) are the peak rates.
        total_iterations: iterations of the whole run (``epochs * iterations_per_epoch``).
        warmup_iterations: iterations of linear warm-up at the start.
        exponent: the poly exponent (0.9 as nnU-Net).

    Its ``state_dict`` holds the iteration count, so a resumed run continues the same curve.
    """
    return LambdaLR(
        optimizer,
        lambda i: poly_factor(int(i), int(total_iterations), int(warmup_iterations), float(exponent)),
    )
