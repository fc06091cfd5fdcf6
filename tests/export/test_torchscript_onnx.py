"""``--to torchscript`` and ``--to onnx``: the exported files give the eager network's output (onnxruntime for
ONNX), on inputs of other sizes than the one exported with, and the export records its check."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bundle_tools.export import export_onnx, export_torchscript, load_bundle
from bundle_tools.export.checks import ONNX_TOLERANCE, TORCHSCRIPT_TOLERANCE

BUNDLE_NAMES = ["abdominal_mri_attention_unet", "pancreas_ct_attention_unet", "brain_tumour_mri_cbam_unet"]


@pytest.mark.parametrize("name", BUNDLE_NAMES)
def test_torchscript_export_equals_eager_at_other_sizes(name, trained_bundles, tmp_path):
    bundle = trained_bundles(name)
    report = export_torchscript(bundle, tmp_path / "ts")

    path = tmp_path / "ts" / "models" / "model.ts"
    record = report["files"]["models/model.ts"]
    assert record["check"]["max_abs_diff"] <= 10 * TORCHSCRIPT_TOLERANCE["atol"]
    assert json.loads((tmp_path / "ts" / "export.json").read_text(encoding="utf-8")) == report

    source = load_bundle(bundle)
    extra = {"metadata.json": "", "inference.json": ""}
    scripted = torch.jit.load(str(path), _extra_files=extra).eval()
    assert json.loads(extra["metadata.json"])["version"] == source.metadata["version"]
    channels = source.spec.channels
    x = torch.randn(3, channels, 16, 48, 32)  # batch and sizes that the export's own check did not use
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), source.network(x), **TORCHSCRIPT_TOLERANCE)


@pytest.mark.slow
def test_onnx_export_equals_eager_in_onnxruntime_with_dynamic_sizes(trained_bundles, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    bundle = trained_bundles("abdominal_mri_attention_unet")
    report = export_onnx(bundle, tmp_path / "onnx")

    record = report["files"]["models/model.onnx"]
    assert record["dynamic_sizes"] is True
    assert (record["input_name"], record["output_name"]) == ("image", "pred")
    assert record["check"]["atol"] == ONNX_TOLERANCE["atol"] and len(record["check"]["inputs"]) == 2

    session = ort.InferenceSession(
        str(tmp_path / "onnx" / "models" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    (inp,) = session.get_inputs()
    assert inp.shape[0] == "batch" and all(isinstance(s, str) for s in inp.shape[2:])
    source = load_bundle(bundle)
    x = torch.randn(3, 1, 16, 64, 32)
    (out,) = session.run(None, {inp.name: x.numpy()})
    with torch.no_grad():
        expected = source.network(x).numpy()
    np.testing.assert_allclose(out, expected, **ONNX_TOLERANCE)
