"""TorchScript (script and trace) and ONNX outputs equal the eager outputs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import custom_networks as cn

NETWORKS = [cn.UNet, cn.AttentionUNet, cn.CBAMUNet, cn.ImprovedUNet]


def eager(cls, deep_supervision=False):
    torch.manual_seed(0)
    return cls(3, 1, 3, channels=(4, 8, 16), deep_supervision=deep_supervision).eval()


@pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)
def test_torchscript_script_and_trace_equal_eager(cls):
    net = eager(cls, deep_supervision=True)
    x = torch.randn(1, 1, 16, 16, 16)
    scripted = torch.jit.script(net)
    torch.testing.assert_close(scripted(x), net(x), atol=1e-5, rtol=1e-4)
    # a different size through the same scripted module
    x2 = torch.randn(2, 1, 8, 16, 24)
    torch.testing.assert_close(scripted(x2), net(x2), atol=1e-5, rtol=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(net, x)
    torch.testing.assert_close(traced(x), net(x), atol=1e-5, rtol=1e-4)
    # scripted training mode keeps deep supervision
    scripted_train = torch.jit.script(net.train())
    assert isinstance(scripted_train(x), list)


@pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)
def test_onnx_export_with_dynamic_sizes_equals_eager(cls, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from torch.export import Dim

    net = eager(cls)
    x = torch.randn(1, 1, 16, 16, 16)
    dynamic = {
        "x": {
            0: Dim("batch", min=1, max=16),
            2: 4 * Dim("d", max=128),
            3: 4 * Dim("h", max=128),
            4: 4 * Dim("w", max=128),
        }
    }
    _assert_onnx_matches_eager(ort, net, x, dynamic, torch.randn(2, 1, 24, 16, 8), tmp_path)


# 0.8 x 0.8 x 5 mm data: per-axis divisors (8, 8, 4); AttentionUNet also with per-axis interpolation
ANISOTROPIC = {"strides": [[2, 2, 1], [2, 2, 2], [2, 2, 2]], "kernel_sizes": [[3, 3, 1], [3, 3, 1], 3, 3]}
ANISOTROPIC_CASES = [(cls, {}) for cls in NETWORKS] + [(cn.AttentionUNet, {"up_mode": "interp"})]


def anisotropic(cls, **kw):
    torch.manual_seed(0)
    return cls(3, 1, 3, channels=(4, 8, 16, 32), **ANISOTROPIC, **kw).eval()


def case_id(case):
    return case[0].__name__ + "".join(f"-{v}" for v in case[1].values())


@pytest.mark.parametrize("case", ANISOTROPIC_CASES, ids=case_id)
def test_torchscript_of_an_anisotropic_network_equals_eager(case):
    cls, kw = case
    net = anisotropic(cls, deep_supervision=True, **kw)
    x, x2 = torch.randn(1, 1, 32, 32, 8), torch.randn(2, 1, 16, 24, 12)
    scripted = torch.jit.script(net)
    for inp in (x, x2):
        torch.testing.assert_close(scripted(inp), net(inp), atol=1e-5, rtol=1e-4)
    with pytest.raises(torch.jit.Error, match=r"side 6 of axis 2 is not divisible by 4"):
        scripted(torch.randn(1, 1, 32, 32, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(net, x)
    torch.testing.assert_close(traced(x), net(x), atol=1e-5, rtol=1e-4)
    eager_train, scripted_train = net.train()(x), torch.jit.script(net)(x)
    torch.testing.assert_close(scripted_train, eager_train, atol=1e-5, rtol=1e-4)
    assert [tuple(o.shape[2:]) for o in eager_train] == [(32, 32, 8), (16, 16, 8), (8, 8, 4)]


@pytest.mark.parametrize("case", ANISOTROPIC_CASES, ids=case_id)
def test_onnx_export_of_an_anisotropic_network_with_per_axis_dynamic_sizes_equals_eager(case, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from torch.export import Dim

    cls, kw = case
    net = anisotropic(cls, **kw)
    assert net.divisor == (8, 8, 4)
    x = torch.randn(1, 1, 32, 32, 8)
    sides = {axis + 2: k * Dim(name, max=64) for axis, (k, name) in enumerate(zip(net.divisor, "dhw"))}
    dynamic = {"x": {0: Dim("batch", min=1, max=16), **sides}}
    _assert_onnx_matches_eager(ort, net, x, dynamic, torch.randn(2, 1, 16, 24, 12), tmp_path)


def _assert_onnx_matches_eager(ort, net, x, dynamic, other_input, tmp_path) -> None:
    """Export ``net`` with dynamic sizes and check onnxruntime against eager on an input of another shape."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(net, (x,), dynamo=True, dynamic_shapes=dynamic, verbose=False)
    path = tmp_path / "model.onnx"
    program.save(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: other_input.numpy()})
    np.testing.assert_allclose(out, net(other_input).detach().numpy(), atol=1e-4, rtol=1e-3)
