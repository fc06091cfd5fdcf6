"""A progress bar for the bundle trainers: ignite's ``ProgressBar`` showing the running loss.

MONAI engines attach handlers with ``handler.attach(engine)`` only, so ignite's ``ProgressBar`` would
show no loss; :class:`LossProgressBar` passes its ``output_transform`` at attach time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ignite.handlers import ProgressBar
from monai.handlers import from_engine

__all__ = ["LossProgressBar", "loss_value"]


class LossProgressBar(ProgressBar):
    """ignite ``ProgressBar`` (tqdm) per epoch with the iteration's loss.

    Args:
        output_transform: maps ``engine.state.output`` to ``{"loss": value}`` or a number; default the
            ``loss`` of MONAI's trainer output.
        kwargs: ``ProgressBar`` arguments (``persist``, ``bar_format``, ``desc``, ...).
    """

    def __init__(self, output_transform: Callable[[Any], Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.output_transform = output_transform or (lambda out: {"loss": loss_value(out)})

    def attach(self, engine: Any, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Attach to ``engine`` with the loss shown (other ``ProgressBar.attach`` arguments pass through)."""
        kwargs.setdefault("output_transform", self.output_transform)
        super().attach(engine, *args, **kwargs)


def loss_value(output: Any) -> float:
    """The trainer's loss as a float (for TensorBoard/MLflow handlers), from a dict or decollated list."""
    loss = from_engine(["loss"], first=True)(output)  # a 1-tuple from a dict, the item from a decollated list
    loss = loss[0] if isinstance(loss, tuple) else loss
    return float(loss.detach().float().mean()) if hasattr(loss, "detach") else float(loss)
