"""Checks of an exported network against the eager one: the same output on sample inputs within a tolerance.

Tolerances (absolute + relative to the eager output, as in ``torch.allclose``):

* TorchScript: ``atol = 1e-4``, ``rtol = 1e-4`` (the same kernels; differences come from fusion order);
* ONNX (onnxruntime, CPU): ``atol = 1e-4``, ``rtol = 1e-3`` (other kernels for convolutions and norms).

``atol`` is in units of the output's scale: it is multiplied by the largest ``|eager|`` output when that is
above 1, since float32 rounding differences grow with the logits' magnitude (a deep 2D network's logits on
random inputs reach tens, and a difference of 1e-4 there is a rounding of the seventh digit).

Two inputs are checked: batch 1 with every ``k*n`` side at ``2k``, and batch 2 with sides ``3k, 2k(, 2k)``,
so an export that only works for the traced size fails.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import ExportError
from .source import InputSpec

__all__ = ["ONNX_TOLERANCE", "TORCHSCRIPT_TOLERANCE", "check_outputs", "check_shapes"]

TORCHSCRIPT_TOLERANCE = {"atol": 1e-4, "rtol": 1e-4}
ONNX_TOLERANCE = {"atol": 1e-4, "rtol": 1e-3}


def check_shapes(spec: InputSpec) -> list[tuple[int, ...]]:
    """The sample input shapes of the checks (the second differs from the first wherever sizes may vary)."""
    dims = len(spec.sides)
    return [spec.shape(1, (2,) * dims), spec.shape(2, (3, 2, 2)[:dims])]


def _as_tensor(out: Any, what: str, path: Path) -> torch.Tensor:
    if isinstance(out, np.ndarray):
        return torch.from_numpy(out)
    if isinstance(out, torch.Tensor):
        return out
    raise ExportError(
        f"{path}: {what} returned {type(out).__name__}, expected one tensor (network in eval mode)"
    )


def check_outputs(
    exported: Callable[[torch.Tensor], Any],
    network: torch.nn.Module,
    shapes: list[tuple[int, ...]],
    tolerance: dict[str, float],
    what: str,
    path: Path,
) -> dict[str, Any]:
    """Run ``exported`` and the eager ``network`` on random inputs of ``shapes`` and compare.

    Returns the record of the check (inputs, largest absolute difference, tolerance); raises
    :class:`ExportError` naming ``path`` when an output differs.
    """
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for shape in shapes:
        x = torch.randn(shape, generator=generator)
        with torch.no_grad():
            expected = _as_tensor(network(x), "the eager network", path).float()
            got = _as_tensor(exported(x), what, path).float()
        if tuple(got.shape) != tuple(expected.shape):
            raise ExportError(
                f"{path}: {what} output shape {tuple(got.shape)} differs from the eager {tuple(expected.shape)} "
                f"on input {shape}"
            )
        diff = float((got - expected).abs().max())
        worst = max(worst, diff)
        scale = max(1.0, float(expected.abs().max()))
        if not torch.allclose(got, expected, atol=tolerance["atol"] * scale, rtol=tolerance["rtol"]):
            raise ExportError(
                f"{path}: {what} output differs from the eager network on input {shape}: max |diff| {diff:.3g} "
                f"exceeds atol {tolerance['atol']} x {scale:.3g} (largest |eager|) + rtol {tolerance['rtol']} "
                "x |eager|"
            )
    return {"inputs": [list(s) for s in shapes], "max_abs_diff": worst, **tolerance}
