"""Vendoring and config rewriting: project code moves to ``scripts.<package>``, the configs follow it,
``bundle_root`` no longer needs the project, ``@_meta_`` references are inlined, label names are right."""

from __future__ import annotations

import ast
import re
import sys

import pytest

from bundle_tools.export import ExportError
from bundle_tools.export.configs import (
    channel_def_for_labels,
    code_strings,
    inline_meta_references,
    rewrite_configs,
)
from bundle_tools.export.vendoring import referenced_packages, rewrite_references, vendor_packages


def test_references_to_project_packages_are_rewritten_and_others_left_alone():
    text = "$bundle_tools.config.flags.as_bool(@x) and my_bundle_tools.y and a.custom_networks and custom_networksX"
    assert rewrite_references(text) == (
        "$scripts.bundle_tools.config.flags.as_bool(@x) and my_bundle_tools.y and a.custom_networks and custom_networksX"
    )
    assert rewrite_references("from custom_networks.blocks import layers") == (
        "from scripts.custom_networks.blocks import layers"
    )
    assert referenced_packages(["custom_networks.AttentionUNet", "$monai.x", "$import bundle_tools"]) == {
        "custom_networks",
        "bundle_tools",
    }


def test_configs_name_scripts_drop_unused_imports_and_keep_bundle_root_free_of_the_project():
    configs = {
        "inference.json": {
            "imports": [
                "$import os",
                "$import bundle_tools",
                "$import bundle_tools.config.paths",
                "$import custom_networks",
            ],
            "bundle_root": "$bundle_tools.config.paths.bundle_root()",
            "plan": "$bundle_tools.load_plan(@ckpt_dir)",
            "network_def": {"_target_": "custom_networks.AttentionUNet", "spatial_dims": 3},
            "label": "custom_networks is named in plain text",
        },
        "train.json": {"imports": ["$import bundle_tools"], "plan": "$bundle_tools.load_plan(@dataset_dir)"},
    }
    out, packages = rewrite_configs(configs, {})
    infer = out["inference.json"]
    assert packages == {"bundle_tools", "custom_networks"}
    assert infer["imports"] == [
        "$import scripts",
        "$import os",
        "$import scripts.bundle_tools",
        "$import scripts.custom_networks",
    ]
    assert infer["bundle_root"] == "."
    assert infer["network_def"]["_target_"] == "scripts.custom_networks.AttentionUNet"
    assert infer["label"] == "custom_networks is named in plain text"
    assert out["train.json"]["plan"] == "$scripts.bundle_tools.load_plan(@ckpt_dir)"
    assert (
        configs["inference.json"]["bundle_root"] == "$bundle_tools.config.paths.bundle_root()"
    )  # input untouched


def test_meta_references_are_inlined_as_values_and_as_literals_in_expressions():
    meta = {"network_data_format": {"outputs": {"pred": {"num_channels": 5, "channel_def": {"0": "bg"}}}}}
    config = {
        "n": "@_meta_#network_data_format#outputs#pred#num_channels",
        "names": "$list(@_meta_#network_data_format#outputs#pred#channel_def.values())",
    }
    out = inline_meta_references(config, meta, "configs/inference.json")
    assert out == {"n": 5, "names": "$list({'0': 'bg'}.values())"}
    with pytest.raises(ExportError, match="configs/inference.json: @_meta_#nope is not in metadata.json"):
        inline_meta_references({"x": "@_meta_#nope"}, meta, "configs/inference.json")


def test_label_names_come_from_the_label_map_that_inference_writes():
    meta = {"network_data_format": {"outputs": {"pred": {"channel_def": {"0": "TC", "1": "WT", "2": "ET"}}}}}
    inference = {"class_names": ["background", "edema", "non_enhancing_tumour", "enhancing_tumour"]}
    assert channel_def_for_labels(meta, inference) == {
        "0": "background",
        "1": "edema",
        "2": "non_enhancing_tumour",
        "3": "enhancing_tumour",
    }
    assert channel_def_for_labels(meta, {}) == {"0": "TC", "1": "WT", "2": "ET"}
    with pytest.raises(ExportError, match="channel_def"):
        channel_def_for_labels({"network_data_format": {"outputs": {"pred": {}}}}, {})


def test_vendored_packages_import_lazily_under_scripts_without_the_project(tmp_path, monkeypatch):
    written = vendor_packages(["custom_networks", "bundle_tools"], tmp_path / "scripts")
    assert "custom_networks/blocks/layers.py" in written and "bundle_tools/config/flags.py" in written
    assert not any(w.startswith("bundle_tools/export") for w in written)
    for rel in written:
        tree = ast.parse((tmp_path / "scripts" / rel).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and re.fullmatch(r"[\w.]+", node.value)
            ):
                names.append(
                    node.value
                )  # dotted names in strings, e.g. importlib.import_module("custom_networks")
            for name in names:  # imports and strings (importlib, _target_ examples) name scripts.<package>
                assert rewrite_references(name) == name, (rel, name)
    init = (tmp_path / "scripts" / "bundle_tools" / "__init__.py").read_text(encoding="utf-8")
    assert "def __getattr__" in init  # the rooms are imported on first use

    # import them in this process under the name "scripts", hiding the project's packages
    for mod in [m for m in sys.modules if m == "scripts" or m.startswith("scripts.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    flags = importlib.import_module("scripts.bundle_tools.config.flags")
    assert flags.as_bool("false") is False
    assert (
        "scripts.bundle_tools.visualize.figures" not in sys.modules
    )  # the lazy __init__ imported flags alone
    nets = importlib.import_module("scripts.custom_networks")
    assert nets.AttentionUNet.__module__ == "scripts.custom_networks.attention_unet"
    for mod in [m for m in sys.modules if m == "scripts" or m.startswith("scripts.")]:
        del sys.modules[mod]


def test_code_strings_are_targets_and_expressions_only():
    config = {"a": {"_target_": "X"}, "b": "$y", "c": "plain", "imports": ["$import z"]}
    assert list(code_strings(config)) == ["X", "$y", "$import z"]
    assert list(code_strings(config, include_imports=False)) == ["X", "$y"]


def test_handlers_referred_to_by_list_position_or_not_dicts_are_refused():
    from bundle_tools.export.configs import check_handler_references
    from bundle_tools.export.errors import ExportError

    by_position = {"train": {"handlers": [{"_target_": "A"}], "checkpoint_dict": {"c": "@train#handlers#0"}}}
    with pytest.raises(
        ExportError, match=r"configs/train.json: refers to handlers by list position \(@train#handlers#0\)"
    ):
        check_handler_references(by_position, "configs/train.json")
    with pytest.raises(ExportError, match="list position"):
        check_handler_references({"best": "$@validate#handlers#2.x"}, "configs/evaluate.json")
    reference = {"train": {"handlers": [{"_target_": "A"}, "@train#early_stop"]}}
    with pytest.raises(ExportError, match="handler dicts only"):
        check_handler_references(reference, "configs/train.json")
    named = {
        "train": {
            "handlers": [{"_target_": "A"}],
            "early_stop": {"_target_": "E"},
            "trainer": {"train_handlers": "$@train#handlers + [@train#early_stop]"},
        }
    }
    check_handler_references(named, "configs/train.json")
