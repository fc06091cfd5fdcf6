"""The search space of ``tune``: a JSON file that maps bundle config ids to distributions.

The keys are the ids a bundle run overrides (``python -m monai.bundle run --<id> value``), the values
say how Optuna draws them::

    {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": true},
     "batch_size": {"type": "categorical", "choices": [2, 4, 8]},
     "optimizer_type": {"type": "categorical", "choices": ["adamw", "sgd"]},
     "network_def#channels": {"type": "categorical", "choices": [[16, 32, 64, 128], [32, 64, 128, 256]]},
     "elastic_prob": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
     "num_samples": {"type": "int", "low": 1, "high": 4}}

``float`` and ``int`` take ``low``, ``high`` and either ``log`` (a log-uniform draw, ``low > 0``) or
``step``; ``categorical`` takes ``choices``, any JSON values (lists and objects are handed to Optuna as
their JSON text, which is what its categorical distribution stores). :func:`load_space` checks all of it
and names the file and the key of the first problem; :meth:`SearchSpace.check_ids` checks that every id
is one of the bundle's config, so a misspelt id fails at once instead of tuning nothing.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from data_prep.errors import DataPrepError
from data_prep.io import read_json

__all__ = ["RESERVED_IDS", "Param", "SearchSpace", "load_space", "parse_space"]

#: ids ``tune`` sets for every trial itself (its folder and the data), never searched or overridden
RESERVED_IDS = ("bundle_root", "dataset_dir", "ckpt_dir", "output_dir")

_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(#[A-Za-z0-9_]+)*$")
_FIELDS = {
    "float": {"low", "high", "log", "step"},
    "int": {"low", "high", "log", "step"},
    "categorical": {"choices"},
}
_SCALARS = (type(None), bool, int, float, str)


@dataclass(frozen=True)
class Param:
    """One searched config id and its distribution.

    Args:
        id: the config id (``learning_rate``, ``network_def#channels``).
        type: ``float``, ``int`` or ``categorical``.
        low: lowest value (``float``, ``int``).
        high: highest value, included (``float``, ``int``).
        log: draw log-uniformly.
        step: the grid of values from ``low`` (``float``, ``int``).
        choices: the values of a ``categorical``.
    """

    id: str
    type: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()

    @property
    def encoded(self) -> bool:
        """Whether the choices go to Optuna as JSON text (some are lists or objects)."""
        return self.type == "categorical" and not all(isinstance(c, _SCALARS) for c in self.choices)

    def suggest(self, trial: Any) -> Any:
        """The value of this id for an Optuna ``trial`` (decoded: a list stays a list)."""
        if self.type == "float":
            return trial.suggest_float(self.id, self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            return trial.suggest_int(self.id, self.low, self.high, log=self.log, step=self.step or 1)
        if self.encoded:
            return json.loads(trial.suggest_categorical(self.id, [json.dumps(c) for c in self.choices]))
        return trial.suggest_categorical(self.id, list(self.choices))

    def decode(self, value: Any) -> Any:
        """The override value of what Optuna stored for this id (its ``params``)."""
        return json.loads(value) if self.encoded and isinstance(value, str) else value

    def describe(self) -> str:
        """A short text of the distribution, for tables (``float 0.0001..0.01 log``)."""
        if self.type == "categorical":
            return "one of " + ", ".join(json.dumps(c) for c in self.choices)
        extra = " log" if self.log else (f" step {self.step}" if self.step is not None else "")
        return f"{self.type} {self.low}..{self.high}{extra}"


@dataclass(frozen=True)
class SearchSpace:
    """The parameters of a search, in the order of the file, and the file they came from."""

    params: tuple[Param, ...]
    source: str = "space.json"

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.params]

    def suggest(self, trial: Any) -> dict[str, Any]:
        """``{id: value}`` for an Optuna trial: the trial's config overrides."""
        return {p.id: p.suggest(trial) for p in self.params}

    def decode(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``{id: value}`` of a finished trial's Optuna ``params`` (ids of this space only)."""
        return {p.id: p.decode(params[p.id]) for p in self.params if p.id in params}

    def as_json(self) -> dict[str, Any]:
        """The space as the file would write it (what a resumed study compares)."""
        out: dict[str, Any] = {}
        for p in self.params:
            if p.type == "categorical":
                out[p.id] = {"type": p.type, "choices": list(p.choices)}
            else:
                out[p.id] = {"type": p.type, "low": p.low, "high": p.high, "log": p.log, "step": p.step}
        return out

    def check_ids(self, config: Mapping[str, Any], config_path: str | os.PathLike) -> None:
        """Refuse an id that names nothing in ``config`` (a bundle's ``train.json``) or that ``tune`` sets.

        Args:
            config: the bundle's training config, as JSON.
            config_path: its file, for the message.
        """
        for p in self.params:
            if p.id in RESERVED_IDS:
                raise DataPrepError(
                    f"{self.source}: {p.id}: is set by tune for each trial, it cannot be searched"
                )
            if not _has_id(config, p.id):
                raise DataPrepError(f"{self.source}: {p.id}: is not an id of {config_path}")


def load_space(path: str | os.PathLike) -> SearchSpace:
    """Read and check a search space file; a problem raises ``DataPrepError`` naming the file and the key."""
    return parse_space(read_json(path), str(path))


def parse_space(data: Any, source: str = "space.json") -> SearchSpace:
    """Check a search space (the parsed JSON) and return it.

    Args:
        data: ``{id: {"type": ..., ...}}``.
        source: the file name the messages start with.
    """
    if not isinstance(data, dict) or not data:
        raise DataPrepError(
            f"{source}: expected a JSON object of config ids to distributions, e.g. {_EXAMPLE}"
        )
    return SearchSpace(tuple(_param(source, key, spec) for key, spec in data.items()), source)


_EXAMPLE = '{"learning_rate": {"type": "float", "low": 0.0001, "high": 0.01, "log": true}}'


def _param(source: str, key: str, spec: Any) -> Param:
    def fail(problem: str) -> DataPrepError:
        return DataPrepError(f"{source}: {key}: {problem}")

    if not _ID.match(key):
        raise fail("not a config id (letters, digits and _, parts joined by #, e.g. network_def#channels)")
    if not isinstance(spec, dict) or spec.get("type") not in _FIELDS:
        raise fail('expected {"type": "float" | "int" | "categorical", ...}')
    kind = spec["type"]
    unknown = sorted(set(spec) - _FIELDS[kind] - {"type"})
    if unknown:
        allowed = ", ".join(sorted(_FIELDS[kind]))
        raise fail(f"unknown field(s) {', '.join(unknown)} for type {kind} (allowed: {allowed})")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise fail('"choices" must be a non-empty list')
        texts = [json.dumps(c, sort_keys=True) for c in choices]
        if len(set(texts)) < len(texts):
            raise fail(f'"choices" repeat a value: {choices}')
        return Param(key, kind, choices=tuple(choices))
    number = int if kind == "int" else float
    values = {}
    for field in ("low", "high", "step"):
        value = spec.get(field)
        if value is None and field == "step":
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise fail(f'"{field}" must be a finite number, got {json.dumps(value)}')
        if kind == "int" and value != int(value):
            raise fail(f'"{field}" must be an integer for type int, got {value}')
        values[field] = number(value)
    low, high, step = values["low"], values["high"], values.get("step")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise fail(f'"log" must be true or false, got {json.dumps(log)}')
    if low > high:
        raise fail(f'"low" ({low}) is above "high" ({high})')
    if log and low <= 0:
        raise fail(f'"log": true needs "low" > 0, got {low}')
    if log and step is not None:
        raise fail('"log" and "step" cannot be used together')
    if step is not None and step <= 0:
        raise fail(f'"step" must be positive, got {step}')
    return Param(key, kind, low=low, high=high, log=log, step=step)


def _has_id(config: Any, config_id: str) -> bool:
    node = config
    for part in config_id.split("#"):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif (
            isinstance(node, Sequence)
            and not isinstance(node, str)
            and part.isdigit()
            and int(part) < len(node)
        ):
            node = node[int(part)]
        else:
            return False
    return True
