"""Loading trained weights for inference and evaluation: only with the plan they were trained with.

Training writes ``models/plan.json`` and then ``models/model.pt``, whose ``"plan_sha256"`` is the SHA-256 of
the exact bytes of that ``plan.json`` (:class:`~bundle_tools.handlers.checkpoints.BestModelSaver`). The
plan decides the network's topology and the preprocessing (spacing, intensity normalisation), so weights
run with another plan give wrong masks, or none, without any error. Here:

* :func:`plan_beside_weights` - the configs' ``plan``: the ``plan.json`` beside the weights; weights
  without one are refused (no silent fall-back to the dataset's plan or the bundle's default plan).
* :class:`PlanCheckedCheckpointLoader` - MONAI's ``CheckpointLoader`` (same arguments, same place in the
  configs' handler lists, so MONAI Label and MONAI's tools read the configs as before) that refuses, with
  one line naming the file, a missing or unreadable checkpoint, a plan whose SHA-256 is not the
  checkpoint's ``plan_sha256``, and weights whose keys or shapes do not fit the network. A checkpoint
  without ``plan_sha256`` (saved before it existed) is loaded with a warning.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from monai.handlers import CheckpointLoader
from monai.utils import IgniteInfo, min_version, optional_import

from data_prep.errors import DataPrepError
from data_prep.plan import Plan, load_plan

from .checkpoint_files import read_checkpoint

if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")

__all__ = [
    "PLAN_FILE",
    "PLAN_SHA256_KEY",
    "PlanCheckedCheckpointLoader",
    "file_sha256",
    "plan_beside_weights",
    "weight_mismatches",
]

PLAN_FILE = "plan.json"
"""The name of the plan beside the weights."""

PLAN_SHA256_KEY = "plan_sha256"
"""The checkpoint key holding the SHA-256 (hex) of the bytes of the ``plan.json`` written beside it."""

_log = logging.getLogger(__name__)


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 (hex) of the bytes of ``path``."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def plan_beside_weights(
    ckpt_path: str | os.PathLike,
    without_weights: str | os.PathLike | Sequence[str | os.PathLike] = (),
) -> Plan:
    """The plan the weights ``ckpt_path`` were trained with: ``plan.json`` in the same folder.

    Args:
        ckpt_path: the weights (``models/model.pt``); they need not exist yet.
        without_weights: plans (the first that exists is read) to build the network from while there are
            no weights at all: metadata, workflow and export checks build the graph of an untrained bundle
            (the dataset's ``plan.json``, the bundle's ``configs/default_plan.json``). Nothing is inferred
            with it: the checkpoint loader refuses the run for want of weights.

    Raises:
        DataPrepError: ``'<ckpt>: no plan.json beside these weights; ...'`` when the weights exist (or no
            ``without_weights`` plan is there) and the plan does not; errors of the plan file name it.
    """
    ckpt = Path(ckpt_path)
    plan = ckpt.parent / PLAN_FILE
    if plan.is_file():
        return load_plan(plan)
    if isinstance(without_weights, (str, os.PathLike)):
        without_weights = [without_weights]
    template = next((Path(p) for p in without_weights if Path(p).is_file()), None)
    if not ckpt.exists() and template is not None:
        return load_plan(template)
    weights = "these weights" if ckpt.exists() else "these weights (which do not exist either)"
    raise DataPrepError(
        f"{ckpt}: no {PLAN_FILE} beside {weights}; inference needs the plan they were trained with "
        f"(training writes it as {plan}; copy it there with the weights)"
    )


def _check_plan(checkpoint: Any, ckpt: Path, plan: Path) -> None:
    expected = checkpoint.get(PLAN_SHA256_KEY) if isinstance(checkpoint, Mapping) else None
    if expected is None:
        _log.warning(
            f"{ckpt}: no {PLAN_SHA256_KEY} (weights saved before it was recorded); cannot check that "
            f"{plan} is the plan they were trained with"
        )
        return
    if not plan.is_file():
        raise DataPrepError(f"{ckpt}: no {PLAN_FILE} beside these weights; inference needs {plan}")
    if file_sha256(plan) != str(expected):
        raise DataPrepError(f"{plan}: does not match the weights {ckpt} (trained with another plan)")


def weight_mismatches(
    expected: Mapping[str, Any], weights: Mapping[str, Any]
) -> tuple[list[str], list[str], list[tuple[str, tuple, tuple]]]:
    """How ``weights`` (a state dict) fail to fit a network whose state dict is ``expected``: the keys
    missing, the keys unexpected, and ``(key, weights' shape, network's shape)`` where shapes differ (in the
    network's key order). Inference (here) and the exporter report them, each in its own words."""
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    shapes = [
        (k, tuple(getattr(weights[k], "shape", ())), tuple(v.shape))
        for k, v in expected.items()
        if k in weights and tuple(getattr(weights[k], "shape", ())) != tuple(v.shape)
    ]
    return missing, unexpected, shapes


def _check_fits(state: Any, module: torch.nn.Module, ckpt: Path, name: str, strict: bool) -> None:
    if not isinstance(state, Mapping):
        raise DataPrepError(f"{ckpt}: not a readable checkpoint (no state dict under {name!r})")
    expected = module.state_dict()
    missing, unexpected, shapes = weight_mismatches(expected, state)
    first_missing = missing[0] if strict and missing else None
    first_shape = shapes[0] if shapes else None
    order = list(expected)
    if first_missing is not None and (
        first_shape is None or order.index(first_missing) < order.index(first_shape[0])
    ):
        raise DataPrepError(f"{ckpt}: the weights do not fit the network: {first_missing} is missing")
    if first_shape is not None:
        key, got, want = first_shape
        raise DataPrepError(
            f"{ckpt}: the weights do not fit the network: {key} has shape {got}, the network {want}"
        )
    if strict and unexpected:
        raise DataPrepError(f"{ckpt}: the weights do not fit the network: unexpected {unexpected[0]}")


class PlanCheckedCheckpointLoader(CheckpointLoader):
    """MONAI's ``CheckpointLoader`` that loads weights only beside the plan they were trained with.

    Before loading (at the engine's start, before the first case), the checkpoint must be readable, the
    SHA-256 of ``plan_path`` must be the checkpoint's ``plan_sha256`` (when it has one) and every network of
    ``load_dict`` must fit its state dict, key by key and shape by shape; each refusal is one line that
    names the file.

    Args:
        load_path, load_dict, name, map_location, strict, strict_shape: as MONAI's ``CheckpointLoader``.
        plan_path: the plan the configs run with; default ``plan.json`` beside ``load_path``.
    """

    def __init__(
        self,
        load_path: str,
        load_dict: dict,
        name: str | None = None,
        map_location: Any = None,
        strict: bool = True,
        strict_shape: bool = True,
        plan_path: str | os.PathLike | None = None,
    ) -> None:
        super().__init__(load_path, load_dict, name, map_location, strict, strict_shape)
        ckpt = Path(load_path)
        self.plan_path = Path(plan_path) if plan_path is not None else ckpt.parent / PLAN_FILE

    def check(self) -> None:
        """Refuse the checkpoint (``DataPrepError`` naming the file) unless it can be loaded as trained."""
        ckpt = Path(self.load_path)
        checkpoint = read_checkpoint(ckpt, self.map_location)
        _check_plan(checkpoint, ckpt, self.plan_path)
        first = next(iter(self.load_dict))
        if len(self.load_dict) == 1 and (not isinstance(checkpoint, Mapping) or first not in checkpoint):
            checkpoint = {first: checkpoint}  # a bare state dict, as MONAI's loader reads it
        for name, obj in self.load_dict.items():
            if isinstance(obj, torch.nn.Module):
                if name not in checkpoint:
                    raise DataPrepError(f"{ckpt}: not a readable checkpoint (no {name!r} in it)")
                if self.strict_shape:
                    _check_fits(checkpoint[name], obj, ckpt, name, self.strict)

    def __call__(self, engine: Engine) -> None:
        """Check the checkpoint, then load it as MONAI's ``CheckpointLoader`` does."""
        self.check()
        super().__call__(engine)
