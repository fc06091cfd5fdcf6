"""What a network costs under a bundle's recipe: its parameters, a training step, inference of one case.

The network is ``network_def`` of the bundle's ``configs/train.json`` with the dataset's plan (channels,
strides, kernels, classes) and the comparison's overrides, built as the training builds it, so the
parameter count is the trained model's. The timings use random weights and zeros (speed does not depend
on the values) on the device the training would use:

* a training step: forward, backward and an SGD step on a batch of ``batch_size`` patches of ``roi_size``;
* inference of one case: sliding-window inference of a case of the plan's ``median_shape`` with the
  bundle's ``roi_size`` and ``sw_overlap`` (Gaussian blending), without loading, resampling and
  postprocessing.

Each is the median of ``repeats`` runs after one warm-up run.
"""

from __future__ import annotations

import ast
import os
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from data_prep.errors import DataPrepError

__all__ = ["NetworkCosts", "bundle_parser", "epoch_seconds", "measure_costs", "override_values"]


class NetworkCosts(dict):
    """``parameters``, ``step_seconds`` (None unless asked), ``inference_seconds``, ``device``, and the
    recipe values read on the way: ``roi_size``, ``batch_size``, ``iterations_per_epoch``, ``epochs``,
    ``val_interval``, ``median_shape``."""


def override_values(overrides: Sequence[str]) -> dict[str, Any]:
    """``{id: value}`` of ``--id value`` / ``--id=value`` pairs, values read as Python literals when they
    are (``[32,32,32]``, ``2``, ``True``) and as strings otherwise, as ``python -m monai.bundle run`` does."""
    values: dict[str, Any] = {}
    tokens = list(overrides)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--"):
            raise DataPrepError(f"{token}: not a --id value override")
        key, eq, value = token[2:].partition("=")
        if not eq:
            if i + 1 >= len(tokens):
                raise DataPrepError(f"{token}: override without a value")
            value, i = tokens[i + 1], i + 1
        try:
            values[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            values[key] = value
        i += 1
    return values


def bundle_parser(bundle: str | os.PathLike, dataset_dir: str | os.PathLike, overrides: Sequence[str]):  # noqa: ANN201
    """A MONAI ``ConfigParser`` of ``BUNDLE/configs/train.json`` with ``dataset_dir`` and the overrides."""
    from monai.bundle import ConfigParser

    config_file = Path(bundle) / "configs" / "train.json"
    parser = ConfigParser()
    parser.read_config(str(config_file))
    parser["dataset_dir"] = str(Path(dataset_dir).absolute())
    for key, value in override_values(overrides).items():
        parser[key] = value
    return parser


def measure_costs(
    bundle: str | os.PathLike,
    dataset_dir: str | os.PathLike,
    overrides: Sequence[str],
    name: str,
    step: bool = False,
    repeats: int = 2,
) -> NetworkCosts:
    """Build ``network_def`` with ``overrides`` and measure it (see the module's docstring).

    Args:
        bundle: the bundle folder.
        dataset_dir: the dataset (its ``plan.json``).
        overrides: the network's and the shared overrides, ``["--id", "value", ...]``.
        name: the network's name, for errors.
        step: whether to time a training step too.
        repeats: timed runs after the warm-up.
    """
    import torch

    parser = bundle_parser(bundle, dataset_dir, overrides)
    try:
        network = parser.get_parsed_content("network_def", instantiate=True)
        recipe = {k: parser.get_parsed_content(k) for k in ("roi_size", "batch_size", "sw_overlap")}
        recipe.update(
            {k: parser.get_parsed_content(k) for k in ("iterations_per_epoch", "epochs", "val_interval")}
        )
        plan = parser.get_parsed_content("plan")
    except Exception as err:  # noqa: BLE001 - any config or constructor error, named by network
        raise DataPrepError(f"{name}: network_def cannot be built from {bundle}: {err}") from err
    if not isinstance(network, torch.nn.Module):
        raise DataPrepError(f"{name}: network_def is a {type(network).__name__}, not a torch.nn.Module")
    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    network = network.to(device)
    costs = NetworkCosts(
        parameters=sum(p.numel() for p in network.parameters()),
        device=str(device),
        median_shape=list(plan.median_shape),
        roi_size=[int(s) for s in recipe["roi_size"]],
        batch_size=int(recipe["batch_size"]),
        iterations_per_epoch=int(recipe["iterations_per_epoch"]),
        epochs=int(recipe["epochs"]),
        val_interval=int(recipe["val_interval"]),
        step_seconds=None,
    )
    channels = int(plan.num_channels)
    costs["inference_seconds"] = _inference_seconds(
        network, channels, costs["median_shape"], costs["roi_size"], float(recipe["sw_overlap"]), repeats
    )
    if step:
        costs["step_seconds"] = _step_seconds(
            network, channels, costs["roi_size"], costs["batch_size"], repeats
        )
    return costs


def _timed(run: Any, repeats: int, device: Any) -> float:
    import torch

    seconds = []
    for i in range(repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i:  # the first run warms up
            seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def _inference_seconds(
    network: Any, channels: int, shape: Sequence[int], roi: Sequence[int], overlap: float, repeats: int
) -> float:
    import torch
    from monai.inferers import SlidingWindowInferer

    device = next(network.parameters()).device
    inferer = SlidingWindowInferer(roi_size=list(roi), sw_batch_size=1, overlap=overlap, mode="gaussian")
    image = torch.zeros((1, channels, *shape), device=device)
    network.eval()

    def run() -> None:
        with torch.inference_mode():
            inferer(image, network)

    return _timed(run, repeats, device)


def _step_seconds(network: Any, channels: int, roi: Sequence[int], batch: int, repeats: int) -> float:
    import torch

    device = next(network.parameters()).device
    optimizer = torch.optim.SGD(network.parameters(), lr=1e-6)
    image = torch.randn((batch, channels, *roi), device=device)
    network.train()

    def run() -> None:
        optimizer.zero_grad(set_to_none=True)
        out = network(image)
        outputs = out if isinstance(out, list | tuple) else [out]
        loss = sum(o.float().mean() for o in outputs if torch.is_tensor(o))
        loss.backward()
        optimizer.step()

    seconds = _timed(run, repeats, device)
    network.eval()
    return seconds


def epoch_seconds(costs: Mapping[str, Any], validation_cases: int) -> float:
    """Estimated seconds of one training epoch: its steps plus, every ``val_interval`` epochs, sliding-window
    inference of the validation cases."""
    steps = costs["iterations_per_epoch"] * (costs["step_seconds"] or 0.0)
    return steps + validation_cases * costs["inference_seconds"] / max(1, costs["val_interval"])
