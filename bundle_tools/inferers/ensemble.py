"""Ensembles of models trained with one plan (the folds of ``python -m bundle_tools cv``) at inference.

:class:`EnsembleInferer` runs a per-model inferer (``@sw_inferer``, or a :class:`FlipTTAInferer` around it,
so flip TTA is per model) with every model, turns each model's logits into probabilities with the
bundle's activation (softmax, or sigmoid for multi-label bundles) and averages the probabilities, as
nnU-Net ensembles its folds. It returns the mean probabilities *in logit form* (``log p`` for softmax,
``logit p`` for sigmoid), because the bundle's post-transforms apply the activation after the inferer:
``softmax(log p) = p`` when ``p`` sums to 1 over the channels and ``sigmoid(logit p) = p``, so the
unchanged ``@activation``, ``Invertd`` (back to the input's geometry), discretisation and
largest-component filter of ``inference.json`` see exactly the mean probabilities.

:meth:`EnsembleInferer.from_checkpoints` loads the models: each weight file only beside its own
``plan.json`` (the checks of :class:`~bundle_tools.handlers.model_loader.PlanCheckedCheckpointLoader`), and
all plans must be the same bytes (one ``plan_sha256``): the preprocessing is the plan's, so an ensemble of
models trained with different plans would be fed inputs some of its models never saw.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from monai.inferers import Inferer

from data_prep.errors import DataPrepError

__all__ = ["EnsembleInferer", "checkpoint_paths"]

#: probabilities are clamped to [EPS, 1 - EPS] before the logit, so no infinity reaches Invertd's resampling
EPS = 1e-7


def checkpoint_paths(value: Any) -> list[str]:
    """The weight files of an ensemble from the config's ``ckpt_paths``: a list of paths, a JSON list, or
    comma-separated paths (a command-line string); ``[]`` for None or empty (a single model)."""
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        text = str(value).strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as err:
                raise DataPrepError(f"ckpt_paths: not a JSON list of weight files ({err}): {text}") from None
        else:
            value = [p for p in text.split(",")]
    paths = [str(p).strip() for p in value if str(p).strip()]
    return paths


def _head(output: Any) -> Any:
    """The full-resolution head of a deep-supervision output (a list/tuple), else the output."""
    return output[0] if isinstance(output, (list, tuple)) else output


class EnsembleInferer(Inferer):
    """Mean of the models' probabilities, each from ``inferer(inputs, model)``; returned in logit form.

    Args:
        inferer: the per-model inferer (sliding window, flip TTA around it, ...).
        networks: the models, loaded and in eval mode.
        sigmoid: the bundle's activation is a sigmoid (multi-label); default softmax over the channels.

    The ``network`` the engine passes is not run; when it is a wrapper with a ``network`` attribute (the
    evaluator's autocast/channels-last :class:`~bundle_tools.engines.autocast.AutocastForward`), every model
    is called through a copy of that wrapper, so the ensemble runs under the engine's precision policy.

    Example:
        >>> inferer = EnsembleInferer(SlidingWindowInferer((64, 64, 32)), [net_a, net_b])  # doctest: +SKIP
        >>> probs = torch.softmax(inferer(image, None), 1)  # == mean of each model's softmax
    """

    def __init__(
        self, inferer: Callable[..., Any], networks: Sequence[torch.nn.Module], sigmoid: bool = False
    ):
        super().__init__()
        if not networks:
            raise ValueError("an ensemble needs at least one network")
        self.inferer = inferer
        self.networks = list(networks)
        self.sigmoid = bool(sigmoid)

    def _call_as(self, network: Any, member: torch.nn.Module) -> Callable[..., Any]:
        if network is not None and not isinstance(network, torch.nn.Module) and hasattr(network, "network"):
            wrapper = copy.copy(network)
            wrapper.network = member
            return wrapper
        return member

    def probabilities(self, inputs: torch.Tensor, network: Any = None, *args: Any, **kwargs: Any) -> Any:
        """The mean over the models of their probabilities on ``inputs`` ``(B, C, *spatial)``."""
        total = None
        for member in self.networks:
            logits = _head(self.inferer(inputs, self._call_as(network, member), *args, **kwargs))
            probs = torch.sigmoid(logits.float()) if self.sigmoid else torch.softmax(logits.float(), dim=1)
            total = probs if total is None else total + probs
        return total / len(self.networks)

    def __call__(self, inputs: torch.Tensor, network: Any = None, *args: Any, **kwargs: Any) -> Any:
        """The mean probabilities in logit form (see the module docstring); a ``MetaTensor`` keeps its meta."""
        probs = self.probabilities(inputs, network, *args, **kwargs).clamp(EPS, 1.0 - EPS)
        return torch.logit(probs) if self.sigmoid else torch.log(probs)

    @classmethod
    def from_checkpoints(
        cls,
        inferer: Callable[..., Any],
        network_def: torch.nn.Module,
        ckpt_paths: Any,
        device: Any = None,
        sigmoid: bool = False,
        reference: str | os.PathLike | None = None,
    ) -> EnsembleInferer:
        """Load one copy of ``network_def`` per weight file of ``ckpt_paths`` (see :func:`checkpoint_paths`).

        Each file is checked as :class:`PlanCheckedCheckpointLoader` checks it (readable, its ``plan.json``
        beside it with the checkpoint's ``plan_sha256``, keys and shapes fitting the network), and all the
        plans must have the same SHA-256 as the plan beside ``reference`` (the config's ``ckpt_path``, whose
        plan drives the preprocessing), or as the first model's when ``reference`` is None.

        Raises:
            DataPrepError: one line naming the file (or the two plans that differ).
        """
        from ..handlers.checkpoint_files import read_checkpoint
        from ..handlers.model_loader import PLAN_FILE, PlanCheckedCheckpointLoader, file_sha256

        paths = checkpoint_paths(ckpt_paths)
        if not paths:
            raise DataPrepError("ckpt_paths: no weight files for the ensemble")
        first_plan, first_sha, first_path = None, None, None
        for path in ([str(reference)] if reference is not None else []) + paths:
            plan = Path(path).parent / PLAN_FILE
            if not plan.is_file():
                raise DataPrepError(
                    f"{path}: no {PLAN_FILE} beside these weights; an ensemble member needs it"
                )
            sha = file_sha256(plan)
            if first_plan is None:
                first_plan, first_sha, first_path = plan, sha, path
            elif sha != first_sha:
                raise DataPrepError(
                    f"{plan}: differs from {first_plan}; the ensemble's models {first_path} and {path} were "
                    "trained with different plans (all models of an ensemble must share one plan)"
                )
        networks = []
        for path in paths:
            member = copy.deepcopy(network_def)
            PlanCheckedCheckpointLoader(path, {"model": member}, map_location=device).check()
            checkpoint = read_checkpoint(Path(path), device)
            state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, dict) else checkpoint
            member.load_state_dict(state)
            networks.append(member.to(device).eval() if device is not None else member.eval())
        return cls(inferer, networks, sigmoid=sigmoid)
