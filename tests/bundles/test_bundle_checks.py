"""MONAI's bundle checks on every bundle: metadata against the project's schema (offline), network
input/output against the metadata, TorchScript export equal to the network, workflow properties."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigParser, ConfigWorkflow, ckpt_export, verify_metadata, verify_net_in_out

BUNDLE_NAMES = [
    "abdominal_mri_attention_unet",
    "brain_tumour_mri_cbam_unet",
    "pancreas_ct_attention_unet",
    "polyp_kvasir_cbam_unet",
]
REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "bundle_tools" / "schemas" / "meta_schema.json"


def _outside(dataset: Path, tmp_path: Path) -> dict:
    """Overrides that keep every output out of the repository."""
    return {
        "dataset_dir": str(dataset),
        "ckpt_dir": str(tmp_path / "models"),
        "output_dir": str(tmp_path / "out"),
        "cache_rate": 0.0,
        "num_workers": 0,
    }


def _configs(name: str) -> Path:
    return REPO / "bundles" / name / "configs"


@pytest.fixture
def no_network(monkeypatch):
    """Fail any attempt to open a network connection (verify_metadata must not download)."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.parametrize("name", BUNDLE_NAMES)
def test_metadata_verifies_offline_against_project_schema(name, no_network):
    verify_metadata(meta_file=str(_configs(name) / "metadata.json"), filepath=str(SCHEMA))


def test_metadata_schema_rejects_missing_channel_def(tmp_path, no_network):
    meta = json.loads((_configs(BUNDLE_NAMES[0]) / "metadata.json").read_text(encoding="utf-8"))
    del meta["network_data_format"]["outputs"]["pred"]["channel_def"]
    bad = tmp_path / "metadata.json"
    bad.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="channel_def"):
        verify_metadata(meta_file=str(bad), filepath=str(SCHEMA))


@pytest.mark.parametrize("name", BUNDLE_NAMES)
def test_metadata_channels_match_network_and_class_names(name):
    meta = json.loads((_configs(name) / "metadata.json").read_text(encoding="utf-8"))
    parser = ConfigParser()
    parser.read_config(str(_configs(name) / "inference.json"))  # no dataset: the bundle's default plan
    parser["bundle_root"] = str(_configs(name).parent)
    fmt = meta["network_data_format"]
    net = parser.get_parsed_content("network_def")
    assert fmt["inputs"]["image"]["num_channels"] == parser.get_parsed_content("network_def#in_channels")
    assert fmt["outputs"]["pred"]["num_channels"] == parser.get_parsed_content("network_def#out_channels")
    assert len(fmt["outputs"]["pred"]["channel_def"]) == fmt["outputs"]["pred"]["num_channels"]
    assert isinstance(net, torch.nn.Module)


@pytest.mark.parametrize("name", BUNDLE_NAMES)
def test_verify_net_in_out_passes_with_default_arguments(name):
    """As the Model Zoo's CI runs it: n=1 of the metadata's spatial shape must be a valid input."""
    verify_net_in_out(
        net_id="network_def",
        meta_file=str(_configs(name) / "metadata.json"),
        config_file=str(_configs(name) / "inference.json"),
        device="cpu",
        bundle_root=str(_configs(name).parent),  # from Python, MONAI's override (the command line finds it)
    )


@pytest.mark.parametrize("name", BUNDLE_NAMES)
def test_ckpt_export_torchscript_matches_network(name, tmp_path):
    configs = _configs(name)
    parser = ConfigParser()
    parser.read_config(str(configs / "inference.json"))
    parser["bundle_root"] = str(configs.parent)
    torch.manual_seed(0)
    net = parser.get_parsed_content("network_def").eval()
    ckpt = tmp_path / "model.pt"
    torch.save({"model": net.state_dict()}, ckpt)
    ts_path = tmp_path / "model.ts"
    ckpt_export(
        net_id="network_def",
        filepath=str(ts_path),
        ckpt_file=str(ckpt),
        meta_file=str(configs / "metadata.json"),
        config_file=str(configs / "inference.json"),
        key_in_ckpt="model",
        bundle_root=str(configs.parent),
    )
    scripted = torch.jit.load(str(ts_path)).eval()
    x = torch.randn(1, net_in(parser), *((32,) * 3 if net.spatial_dims == 3 else (128, 128)))
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), net(x), rtol=1e-4, atol=1e-4)
    extra = {"metadata.json": "", "inference.json": ""}
    torch.jit.load(str(ts_path), _extra_files=extra)
    assert json.loads(extra["metadata.json"])["version"]


def net_in(parser: ConfigParser) -> int:
    return int(parser.get_parsed_content("network_def#in_channels"))


@pytest.mark.parametrize("name", BUNDLE_NAMES)
def test_train_workflow_has_required_properties(name, datasets, tmp_path):
    configs = _configs(name)
    workflow = ConfigWorkflow(
        config_file=str(configs / "train.json"),
        meta_file=str(configs / "metadata.json"),
        workflow_type="train",
        logging_file=False,
        **_outside(datasets(name), tmp_path),
    )
    workflow.initialize()
    assert workflow.check_properties() == []
    assert workflow.max_epochs == 30 and workflow.val_interval == 1


@pytest.mark.parametrize("name", BUNDLE_NAMES)
def test_inference_workflow_has_required_properties(name, datasets, tmp_path):
    configs = _configs(name)
    workflow = ConfigWorkflow(
        config_file=str(configs / "inference.json"),
        meta_file=str(configs / "metadata.json"),
        workflow_type="infer",
        logging_file=False,
        **_outside(datasets(name), tmp_path),
    )
    workflow.initialize()
    assert workflow.check_properties() == []


@pytest.mark.parametrize("name", BUNDLE_NAMES)
def test_multi_gpu_and_evaluate_configs_merge_with_train(name):
    configs = _configs(name)
    merged = ConfigParser()
    merged.read_config([str(configs / "train.json"), str(configs / "multi_gpu_train.json")])
    assert "$import torch.distributed as dist" in merged["imports"]
    assert "$import bundle_tools" in merged["imports"]


@pytest.mark.parametrize("name", BUNDLE_NAMES)
def test_inference_network_and_preprocessing_match_training(name):
    """inference.json stands alone (MONAI Label runs it by itself); it must not drift from train.json."""
    configs = _configs(name)
    train = json.loads((configs / "train.json").read_text(encoding="utf-8"))
    infer = json.loads((configs / "inference.json").read_text(encoding="utf-8"))
    assert infer["network_def"] == train["network_def"]
    for key in (
        "roi_size",
        "sw_batch_size",
        "sw_overlap",
        "channels_last",
        "reuse_freed_memory",
        "num_classes",
        "dataset_dir",
    ):
        assert infer[key] == train[key], key
    assert train["sw_inferer"] == infer["sw_inferer"]
    assert infer["base_transforms"] == train["base_transforms"]  # one definition, keys from load_keys
    assert infer["preprocessing"]["transforms"] == "@base_transforms"
    assert infer["load_keys"] == ["image"] and train["load_keys"] == ["image", "label"]
