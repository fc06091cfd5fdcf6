"""The bundle being exported: its configs, metadata, trained weights and the network they belong to.

:func:`load_bundle` checks everything an export needs before anything is written: the configs parse (with
the overrides of an ``--args_file``, :mod:`bundle_tools.export.overrides`), ``models/model.pt`` (or ``--ckpt``,
or the args file's ``ckpt_path``) loads with ``torch.load(..., weights_only=True)``, its state dict fits the
``network_def`` of ``configs/inference.json`` exactly (same keys, same shapes), and the models of an ensemble
(``ckpt_paths``) pass the checks of inference (their plans beside them, all the same bytes).
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from data_prep.plan import Plan, load_plan

from ..handlers.model_loader import weight_mismatches
from .errors import ExportError
from .overrides import OVERRIDDEN_FILES, ExportArgs, apply_overrides, read_export_args

__all__ = ["BundleSource", "InputSpec", "load_bundle", "load_json", "state_dict_from_checkpoint"]


@dataclass(frozen=True)
class InputSpec:
    """The network input of ``network_data_format`` in ``metadata.json``.

    Attributes:
        key: the input's name (``"image"``).
        channels: input channels.
        sides: per spatial axis ``(multiple, fixed)``: ``(k, None)`` for ``"k*n"`` (any multiple of k),
            ``(None, s)`` for a fixed size s.
        output_key: the first output's name (``"pred"``).
    """

    key: str
    channels: int
    sides: tuple[tuple[int | None, int | None], ...]
    output_key: str

    @property
    def dynamic(self) -> bool:
        """True when every spatial side may be any multiple of its divisor."""
        return all(multiple is not None for multiple, _ in self.sides)

    def shape(self, batch: int, factors: tuple[int, ...]) -> tuple[int, ...]:
        """An input shape: each ``k*n`` side as ``k * factor``, fixed sides as they are."""
        sides = [
            fixed if multiple is None else multiple * f
            for (multiple, fixed), f in zip(self.sides, factors, strict=True)
        ]
        return (batch, self.channels, *sides)


@dataclass
class BundleSource:
    """A trained bundle, checked and loaded.

    Attributes:
        root: the bundle folder.
        metadata: ``configs/metadata.json``, with the input shape and labels of ``plan`` when there is one.
        configs: every ``configs/*.json`` but the metadata, by file name.
        ckpt_path: the weights file.
        state_dict: the network's weights (tensors only).
        network: the eager network of ``inference.json``'s ``network_def`` with the weights, in eval mode.
        spec: the network input of the metadata.
        plan: the plan the weights were trained with (``plan.json`` beside them), None when there is none.
        args: the ``--args_file``, split (:class:`~bundle_tools.export.overrides.ExportArgs`).
        members: the state dicts of an ensemble's models (``ckpt_paths``), in order; ``[]`` for one model.
    """

    root: Path
    metadata: dict[str, Any]
    configs: dict[str, Any]
    ckpt_path: Path
    state_dict: dict[str, torch.Tensor]
    network: torch.nn.Module
    spec: InputSpec
    plan: Plan | None = None
    args: ExportArgs = field(default_factory=ExportArgs)
    members: list[dict[str, torch.Tensor]] = field(default_factory=list)

    @property
    def plan_path(self) -> Path:
        """``plan.json`` beside the weights (where inference reads the plan)."""
        return self.ckpt_path.parent / "plan.json"

    @property
    def postprocessing_path(self) -> Path:
        """The largest-component decision: the args file's ``postprocessing_file``, else the one beside the
        weights (it may not exist)."""
        return self.args.postprocessing or self.ckpt_path.parent / "postprocessing.json"


def load_json(path: Path) -> Any:
    """A JSON file, or an :class:`ExportError` naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ExportError(f"{path}: missing") from err
    except (OSError, ValueError) as err:
        raise ExportError(f"{path}: not readable JSON ({err})") from err


def state_dict_from_checkpoint(ckpt: Any, path: Path, key: str = "model") -> dict[str, torch.Tensor]:
    """The state dict in a checkpoint: ``ckpt[key]`` (as written by the bundles' ``BestModelSaver``) or a
    bare state dict.

    Args:
        ckpt: what ``torch.load`` returned.
        path: the file (for messages).
        key: the key of the state dict in a checkpoint dict.
    """
    if isinstance(ckpt, Mapping) and key in ckpt and isinstance(ckpt[key], Mapping):
        ckpt = ckpt[key]
    if not isinstance(ckpt, Mapping) or not ckpt:
        raise ExportError(
            f"{path}: not a checkpoint with a state dict under {key!r} (found {type(ckpt).__name__})"
        )
    bad = [k for k, v in ckpt.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ExportError(
            f"{path}: no state dict under {key!r} and the file is not a bare state dict "
            f"(non-tensor entries: {', '.join(map(str, bad[:5]))})"
        )
    return {str(k): v for k, v in ckpt.items()}


def _load_weights(path: Path, key: str) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ExportError(
            f"{path}: no trained weights; train the bundle first "
            "(python -m monai.bundle run training --config_file <bundle>/configs/train.json ...) or pass --ckpt"
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling problem is a bad weights file
        raise ExportError(f"{path}: cannot be loaded with torch.load(weights_only=True): {err}") from err
    return state_dict_from_checkpoint(ckpt, path, key)


def _check_fits(
    network: torch.nn.Module, weights: Mapping[str, torch.Tensor], path: Path, config: Path
) -> None:
    missing, unexpected, mismatched = weight_mismatches(network.state_dict(), weights)
    missing, unexpected = sorted(missing), sorted(unexpected)
    shapes = [f"{k} {got} vs {want}" for k, got, want in mismatched]
    problems = []
    if missing:
        problems.append(
            f"{len(missing)} missing ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})"
        )
    if unexpected:
        problems.append(
            f"{len(unexpected)} unexpected ({', '.join(unexpected[:3])}{', ...' if len(unexpected) > 3 else ''})"
        )
    if shapes:
        problems.append(
            f"{len(shapes)} of another shape ({'; '.join(shapes[:3])}{'; ...' if len(shapes) > 3 else ''})"
        )
    if problems:
        raise ExportError(f"{path}: weights do not match the network_def of {config}: " + "; ".join(problems))


_SIDE = re.compile(r"^\s*(?:(\d+)\s*\*\s*)?n\s*$")
_SIDE_POW = re.compile(r"^\s*(\d+)\s*\*\*\s*(\d+)\s*\*\s*n\s*$")


def _side(value: Any, meta_path: Path) -> tuple[int | None, int | None]:
    if isinstance(value, int) and value > 0:
        return None, value
    if isinstance(value, str):
        m = _SIDE.match(value)
        if m:
            return int(m.group(1) or 1), None
        m = _SIDE_POW.match(value)
        if m:
            return int(m.group(1)) ** int(m.group(2)), None
    raise ExportError(f"{meta_path}: spatial_shape entry {value!r} is neither a size nor 'k*n'")


def _input_spec(metadata: Mapping[str, Any], meta_path: Path) -> InputSpec:
    try:
        fmt = metadata["network_data_format"]
        key, image = next(iter(fmt["inputs"].items()))
        out_key = next(iter(fmt["outputs"]))
        channels = int(image["num_channels"])
        shape = image["spatial_shape"]
    except (KeyError, TypeError, StopIteration, ValueError) as err:
        raise ExportError(
            f"{meta_path}: network_data_format needs inputs (num_channels, spatial_shape) and outputs ({err!r})"
        ) from err
    if not isinstance(shape, list) or len(shape) not in (2, 3):
        raise ExportError(f"{meta_path}: spatial_shape {shape!r} must list 2 or 3 sides")
    return InputSpec(str(key), channels, tuple(_side(v, meta_path) for v in shape), str(out_key))


def build_network(
    inference: Path, metadata: Path, config: dict | None = None, ckpt: Path | None = None
) -> torch.nn.Module:
    """The eager network of ``network_def`` in ``inference`` (project packages importable).

    Args:
        inference: ``configs/inference.json`` (its bundle folder is the ``bundle_root``).
        metadata: ``configs/metadata.json``.
        config: the content to use instead of the file's (with an args file's overrides).
        ckpt: the weights, whose ``plan.json`` gives the topology; default the config's ``ckpt_path``.
    """
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_meta(str(metadata))
    parser.read_config(config if config is not None else str(inference))
    parser["bundle_root"] = str(Path(inference).absolute().parent.parent)  # models/plan.json: its topology
    if ckpt is not None and "ckpt_path" in parser:
        parser["ckpt_path"] = str(ckpt)
    try:
        network = parser.get_parsed_content("network_def", instantiate=True)
    except Exception as err:  # noqa: BLE001 - report any config problem with the file name
        raise ExportError(f"{inference}: network_def cannot be built: {err}") from err
    if not isinstance(network, torch.nn.Module):
        raise ExportError(f"{inference}: network_def is a {type(network).__name__}, not a torch.nn.Module")
    return network


def load_bundle(
    bundle_dir: str | os.PathLike,
    ckpt: str | os.PathLike | None = None,
    key: str = "model",
    args_file: str | os.PathLike | None = None,
    target: str = "monailabel",
) -> BundleSource:
    """Check and load a trained bundle for export.

    Args:
        bundle_dir: the bundle folder (``configs/metadata.json``, ``configs/inference.json``, ``models/``).
        ckpt: the weights file; default the args file's ``ckpt_path``, else the first of its ``ckpt_paths``,
            else ``models/model.pt`` of the bundle.
        key: the key of the state dict in the checkpoint (bare state dicts are accepted too).
        args_file: the overrides the model was trained and run with (``monai.bundle run --args_file``).
        target: the export format; only ``monailabel`` carries an ensemble (refused, before any weights are
            read, for ``torchscript`` and ``onnx``, which hold one network).
    """
    root = Path(bundle_dir).absolute()
    if not root.is_dir():
        raise ExportError(f"{root}: not a bundle folder (no such directory)")
    configs_dir = root / "configs"
    meta_path, infer_path = configs_dir / "metadata.json", configs_dir / "inference.json"
    metadata = load_json(meta_path)
    configs = {p.name: load_json(p) for p in sorted(configs_dir.glob("*.json")) if p.name != "metadata.json"}
    if "inference.json" not in configs:
        raise ExportError(f"{infer_path}: missing")
    args = read_export_args(args_file)
    if ckpt is not None and args.ckpt_path is not None:
        raise ExportError(f"{args_file}: names ckpt_path and --ckpt was given too; give the weights once")
    if args.ckpt_paths and target != "monailabel":
        raise ExportError(
            f"{args_file}: names an ensemble (ckpt_paths); {target} holds one network: export one model, or the "
            "ensemble with --to monailabel"
        )
    configs = {
        n: apply_overrides(c, args.overrides) if n in OVERRIDDEN_FILES else c for n, c in configs.items()
    }
    if ckpt is not None:
        ckpt_path = Path(ckpt).absolute()
    else:
        ckpt_path = args.ckpt_path or (
            args.ckpt_paths[0] if args.ckpt_paths else root / "models" / "model.pt"
        )
    weights = _load_weights(ckpt_path, key)
    network = build_network(infer_path, meta_path, configs["inference.json"], ckpt_path)
    plan_path = ckpt_path.parent / "plan.json"
    plan = load_plan(plan_path) if plan_path.is_file() else None
    if plan is not None:
        metadata = trained_metadata(metadata, plan, network)
    spec = _input_spec(metadata, meta_path)
    _check_fits(network, weights, ckpt_path, infer_path)
    network.load_state_dict(weights, strict=True)
    network.eval()
    members = _ensemble_members(network, args.ckpt_paths, ckpt_path) if args.ckpt_paths else []
    return BundleSource(root, metadata, configs, ckpt_path, weights, network, spec, plan, args, members)


def _ensemble_members(
    network: torch.nn.Module, paths: list[Path], reference: Path
) -> list[dict[str, torch.Tensor]]:
    """The state dicts of an ensemble's models, checked as inference checks them (one plan for all)."""
    from ..inferers.ensemble import EnsembleInferer

    ensemble = EnsembleInferer.from_checkpoints(
        None, network, [str(p) for p in paths], "cpu", reference=reference
    )
    return [{k: v.detach().clone() for k, v in member.state_dict().items()} for member in ensemble.networks]


def trained_metadata(metadata: Mapping[str, Any], plan: Plan, network: torch.nn.Module) -> dict[str, Any]:
    """``metadata.json`` as the weights were trained: the input channels and per-axis sizes of the plan's
    topology (``"k*n"`` with k twice the product of an axis' strides, so n = 1 still leaves two voxels a
    side at the coarsest level), the network's output channels, and for networks with one output channel per
    class the plan's class names."""
    meta = copy.deepcopy(dict(metadata))
    fmt = meta["network_data_format"]
    shape = [f"{2 * d}*n" for d in plan.divisor]
    image = next(iter(fmt["inputs"].values()))
    image.update(num_channels=plan.num_channels, spatial_shape=shape)
    pred = next(iter(fmt["outputs"].values()))
    pred["spatial_shape"] = shape
    out_channels = getattr(getattr(network, "head", None), "out_channels", None)
    if isinstance(out_channels, int):  # e.g. one channel for a binary task's sigmoid head
        pred["num_channels"] = out_channels
    if out_channels == plan.num_classes:
        pred["channel_def"] = {str(i): name for i, name in enumerate(plan.class_names)}
    return meta
