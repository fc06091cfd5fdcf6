"""Early stopping on the validation metric that survives a resume.

:class:`ValidationEarlyStop` is MONAI's ``EarlyStopHandler`` (ignite's ``EarlyStopping``) listed among
the *trainer's* handlers but scoring the *validator* after each validation run, so a config needs no
reference cycle (trainer -> validator -> trainer). Its counter and best score are a ``state_dict``, so the
latest checkpoint carries them and a resumed run keeps its patience. A NaN score counts as no improvement.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from monai.handlers import EarlyStopHandler
from monai.utils import IgniteInfo, min_version, optional_import

Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")

__all__ = ["ValidationEarlyStop", "metric_score"]


def metric_score(metric_name: str | None = None) -> Callable[[Engine], float]:
    """A score function reading ``engine.state.metrics[metric_name]`` (default the key metric); NaN -> -inf."""

    def score(engine: Engine) -> float:
        name = metric_name or engine.state.key_metric_name
        value = float(engine.state.metrics.get(name, math.nan))
        return -math.inf if math.isnan(value) else value

    return score


class ValidationEarlyStop(EarlyStopHandler):
    """Stop training when the validator's metric has not improved for ``patience`` validations.

    Args:
        validator: the evaluator run by ``ValidationHandler`` (``"@validate#evaluator"``).
        patience: validations without improvement before the trainer is terminated (seed 000: 10).
        metric_name: the validator metric (higher is better); default its key metric.
        min_delta: an increase of at most ``min_delta`` is no improvement.
        score_function: overrides ``metric_name``: ``engine -> float`` on the validator.
    """

    def __init__(
        self,
        validator: Engine,
        patience: int,
        metric_name: str | None = None,
        min_delta: float = 0.0,
        score_function: Callable[[Engine], float] | None = None,
    ) -> None:
        super().__init__(
            patience=patience,
            score_function=score_function or metric_score(metric_name),
            min_delta=min_delta,
            epoch_level=True,
        )
        self.validator = validator
        self._pending: Mapping[str, Any] | None = None

    def attach(self, engine: Engine) -> None:
        """Bind to the trainer ``engine`` and score the validator after each of its runs.

        Args:
            engine: the trainer.
        """
        self.set_trainer(engine)
        if self._pending is not None:
            self._handler.load_state_dict(self._pending)
            self._pending = None
        self.validator.add_event_handler(Events.COMPLETED, self)

    def state_dict(self) -> dict[str, Any]:
        """The state of the underlying ignite ``EarlyStopping`` (``counter``, ``best_score``, ...)."""
        if self._handler is None:
            if self._pending is None:
                raise RuntimeError("ValidationEarlyStop is not attached to a trainer yet")
            return dict(self._pending)
        return dict(self._handler.state_dict())

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore the counter and best score (before or after :meth:`attach`)."""
        state = dict(state_dict)
        if self._handler is None:
            self._pending = state
        else:
            self._handler.load_state_dict(state)
