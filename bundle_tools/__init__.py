"""What the bundle configs name besides networks, in MONAI's rooms (see docs/architecture.md).

``data`` (loaders that re-raise their threads' errors, the dataset pre-flight), ``engines`` (trainer and
evaluator), ``handlers`` (checkpoints, early stop, curves, reports), ``metrics``
(Dice, HD95, ASSD in mm), ``losses``, ``inferers`` (flip TTA), ``transforms`` (plan-driven preprocessing),
``postprocess`` (largest component), ``optimizers`` (learning-rate schedules), ``visualize`` (pictures),
``config`` (bundle root, flags, plan checks), ``experiments`` (cross-validation, comparisons), ``tune``
(hyper-parameter search) and ``export`` (TorchScript, ONNX, MONAI Label).

The rooms are imported on first use (PEP 562), so ``import bundle_tools`` in an inference config does not
import matplotlib or the metrics' scipy.
"""

from __future__ import annotations

import importlib
from types import ModuleType

ROOMS = (
    "config",
    "data",
    "engines",
    "experiments",
    "export",
    "handlers",
    "inferers",
    "losses",
    "metrics",
    "optimizers",
    "postprocess",
    "transforms",
    "tune",
    "visualize",
)

__all__ = list(ROOMS)


def __getattr__(name: str) -> ModuleType:
    if name in ROOMS:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *ROOMS])
