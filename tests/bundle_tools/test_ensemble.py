"""The fold ensemble at inference: mean of the models' probabilities, per-model TTA, one plan for all."""

from __future__ import annotations

import json

import pytest
import torch
from monai.data import MetaTensor
from monai.inferers import SlidingWindowInferer

from bundle_tools.engines.autocast import AutocastForward
from bundle_tools.engines.precision import resolve_amp
from bundle_tools.handlers.model_loader import PLAN_SHA256_KEY, file_sha256
from bundle_tools.inferers import EnsembleInferer, FlipTTAInferer, checkpoint_paths
from data_prep.errors import DataPrepError


def _net(seed: int, out_channels: int = 3) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv3d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv3d(4, out_channels, 1)
    ).eval()


def _image() -> MetaTensor:
    affine = torch.tensor(
        [[0.0, -1.5, 0, 10], [2.0, 0, 0, -4], [0, 0, 3.0, 7], [0, 0, 0, 1]], dtype=torch.float64
    )
    return MetaTensor(torch.randn(1, 1, 12, 10, 8, generator=torch.Generator().manual_seed(3)), affine=affine)


def test_ensemble_softmax_is_the_mean_of_the_models_probabilities_and_keeps_the_affine():
    nets, image = [_net(0), _net(1)], _image()
    sw = SlidingWindowInferer(roi_size=(8, 8, 8), overlap=0.25, mode="gaussian")
    with torch.no_grad():
        out = EnsembleInferer(sw, nets)(image, None)
        expected = sum(torch.softmax(sw(image, n).as_tensor(), 1) for n in nets) / 2
    assert isinstance(out, MetaTensor) and torch.equal(out.affine, image.affine)
    torch.testing.assert_close(torch.softmax(out.as_tensor(), 1), expected, atol=1e-5, rtol=1e-5)
    single = torch.softmax(sw(image, nets[0]).as_tensor(), 1)
    assert not torch.allclose(expected, single, atol=1e-3)  # the two models differ: a real average


def test_ensemble_sigmoid_and_per_model_flip_tta():
    nets, image = [_net(0, 2), _net(5, 2)], _image()
    tta = FlipTTAInferer(SlidingWindowInferer(roi_size=(8, 8, 8)), (0, 2))
    with torch.no_grad():
        out = EnsembleInferer(tta, nets, sigmoid=True)(image, None)
        expected = sum(torch.sigmoid(tta(image, n).as_tensor()) for n in nets) / 2
    torch.testing.assert_close(torch.sigmoid(out.as_tensor()), expected, atol=1e-5, rtol=1e-5)


def test_ensemble_runs_each_model_through_the_engines_wrapper():
    nets, image = [_net(0), _net(1)], _image()
    wrapper = AutocastForward(torch.nn.Identity(), resolve_amp("cpu", False), single_head=True)
    sw = SlidingWindowInferer(roi_size=(8, 8, 8))
    with torch.no_grad():
        out = EnsembleInferer(sw, nets)(image, wrapper)  # the engine's own network (Identity) is not run
        expected = sum(torch.softmax(sw(image, n).as_tensor(), 1) for n in nets) / 2
    torch.testing.assert_close(torch.softmax(out.as_tensor(), 1), expected, atol=1e-5, rtol=1e-5)


def _save(folder, net, plan_text: str):
    folder.mkdir(parents=True)
    (folder / "plan.json").write_text(plan_text)
    torch.save(
        {"model": net.state_dict(), PLAN_SHA256_KEY: file_sha256(folder / "plan.json")}, folder / "model.pt"
    )
    return str(folder / "model.pt")


def test_from_checkpoints_loads_each_model_beside_its_plan(tmp_path):
    nets = [_net(0), _net(1)]
    paths = [_save(tmp_path / f"fold_{i}", n, json.dumps({"p": 1})) for i, n in enumerate(nets)]
    ensemble = EnsembleInferer.from_checkpoints(SlidingWindowInferer((8, 8, 8)), _net(9), json.dumps(paths))
    for loaded, net in zip(ensemble.networks, nets):
        for a, b in zip(loaded.state_dict().values(), net.state_dict().values()):
            assert torch.equal(a, b)


def test_from_checkpoints_refuses_models_of_different_plans_naming_both(tmp_path):
    a = _save(tmp_path / "fold_0", _net(0), json.dumps({"p": 1}))
    b = _save(tmp_path / "fold_1", _net(1), json.dumps({"p": 2}))
    with pytest.raises(DataPrepError, match="different plans") as err:
        EnsembleInferer.from_checkpoints(SlidingWindowInferer((8, 8, 8)), _net(9), [a, b])
    assert a in str(err.value) and b in str(err.value)


def test_from_checkpoints_refuses_weights_whose_plan_was_changed(tmp_path):
    a = _save(tmp_path / "fold_0", _net(0), json.dumps({"p": 1}))
    b = _save(tmp_path / "fold_1", _net(1), json.dumps({"p": 1}))
    torch.save({"model": _net(1).state_dict(), PLAN_SHA256_KEY: "0" * 64}, b)
    with pytest.raises(DataPrepError, match="trained with another plan"):
        EnsembleInferer.from_checkpoints(SlidingWindowInferer((8, 8, 8)), _net(9), f"{a},{b}")


def test_checkpoint_paths_reads_lists_json_and_comma_separated_text():
    assert checkpoint_paths(None) == [] and checkpoint_paths("") == [] and checkpoint_paths([]) == []
    assert checkpoint_paths(["a.pt", "b.pt"]) == ["a.pt", "b.pt"]
    assert checkpoint_paths('["a.pt", "b.pt"]') == ["a.pt", "b.pt"]
    assert checkpoint_paths("a.pt, b.pt") == ["a.pt", "b.pt"]


def test_from_checkpoints_refuses_models_whose_plan_is_not_the_configs_plan(tmp_path):
    a = _save(tmp_path / "fold_0", _net(0), json.dumps({"p": 1}))
    other = _save(tmp_path / "single", _net(1), json.dumps({"p": 2}))
    with pytest.raises(DataPrepError, match="different plans"):
        EnsembleInferer.from_checkpoints(SlidingWindowInferer((8, 8, 8)), _net(9), [a], reference=other)
