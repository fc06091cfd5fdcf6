"""ONNX export: ``models/model.onnx`` with dynamic batch and spatial sizes, checked with onnxruntime.

The network is exported with ``torch.onnx.export(..., dynamo=True)`` (the TorchScript-based exporter
cannot follow the channels-last conversion inside the networks' ``forward``). Each spatial side that the
metadata gives as ``"k*n"`` becomes ``k * Dim``: ONNX Runtime then accepts every multiple of k, as the
network does. Where the network cannot be exported with dynamic sizes, the export falls back to the
sample size and says so in ``export.json``. Input and output are named after the metadata's
``network_data_format`` keys (``image``, ``pred``).
"""

from __future__ import annotations

import inspect
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from .checks import ONNX_TOLERANCE, check_outputs, check_shapes
from .errors import ExportError
from .report import export_model_file
from .source import BundleSource, InputSpec

__all__ = ["MAX_SIDE", "export_onnx", "save_onnx"]

MAX_SIDE = 1024
"""The largest spatial side (voxels) of the dynamic ONNX graph."""

_log = logging.getLogger(__name__)


def _dynamic_shapes(network: torch.nn.Module, spec: InputSpec) -> dict[str, dict[int, Any]]:
    from torch.export import Dim

    name = next(iter(inspect.signature(network.forward).parameters))
    axes: dict[int, Any] = {0: Dim("batch", min=1, max=1024)}
    for axis, (multiple, _) in enumerate(spec.sides):
        if multiple is not None:
            axes[2 + axis] = multiple * Dim(f"n{axis}", min=1, max=max(2, MAX_SIDE // multiple))
    return {name: axes}


def _export(network: torch.nn.Module, x: torch.Tensor, spec: InputSpec, dynamic: dict | None) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.onnx.export(
            network,
            (x,),
            dynamo=True,
            dynamic_shapes=dynamic,
            input_names=[spec.key],
            output_names=[spec.output_key],
            verbose=False,
        )


def _onnxruntime_session(path: Path) -> Any:
    try:
        import onnxruntime
    except ImportError as err:
        raise ExportError(
            f"{path}: onnxruntime is needed to check the ONNX export (pip install 'seg3d-bundles[export]')"
        ) from err
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def save_onnx(source: BundleSource, path: Path) -> dict[str, Any]:
    """Export ``source.network`` to ``path`` and check it with onnxruntime against the eager network.

    Returns:
        The record: file, whether sizes are dynamic (and why not), the check.
    """
    spec, network = source.spec, source.network
    shapes = check_shapes(spec)
    x = torch.randn(shapes[0])
    record: dict[str, Any] = {"file": path.name}
    try:
        program = _export(network, x, spec, _dynamic_shapes(network, spec))
        record["dynamic_sizes"] = spec.dynamic
    except Exception as err:  # noqa: BLE001 - fall back to the sample size whatever the exporter raised
        _log.warning(
            f"{source.root}: ONNX export with dynamic sizes failed ({err}); exporting for {tuple(x.shape)}"
        )
        try:
            program = _export(network, x, spec, None)
        except Exception as err2:  # noqa: BLE001
            raise ExportError(f"{source.root}: the network cannot be exported to ONNX: {err2}") from err2
        record["dynamic_sizes"] = False
        record["static_reason"] = str(err).splitlines()[0] if str(err) else type(err).__name__
        shapes = shapes[:1]
    path.parent.mkdir(parents=True, exist_ok=True)
    program.save(str(path), external_data=False)
    session = _onnxruntime_session(path)
    input_name = session.get_inputs()[0].name

    def run(t: torch.Tensor) -> Any:
        return session.run(None, {input_name: t.numpy()})[0]

    record["input_name"], record["output_name"] = input_name, session.get_outputs()[0].name
    record["check"] = check_outputs(run, network, shapes, ONNX_TOLERANCE, "ONNX (onnxruntime)", path)
    return record


def export_onnx(
    bundle_dir: str | os.PathLike,
    out: str | os.PathLike,
    ckpt: str | os.PathLike | None = None,
    args_file: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Export a trained bundle to ``OUT/models/model.onnx`` (and ``OUT/export.json``, the check's record).

    Args:
        bundle_dir: the bundle folder.
        out: a folder that does not exist yet.
        ckpt: the weights; default ``models/model.pt`` of the bundle.
        args_file: the overrides the model was trained with (``monai.bundle run --args_file``).
    """
    return export_model_file(bundle_dir, out, ckpt, "onnx", "models/model.onnx", save_onnx, args_file)
