"""Vendoring and config rewriting: project code is copied to ``scripts.<package>``, the configs follow it,
``bundle_root`` no longer needs the project, ``@_meta_`` references are inlined, label names are right."""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from pathlib import Path

import pytest

from bundle_tools.export import ExportError
from bundle_tools.export.configs import (
    channel_def_for_labels,
    code_strings,
    inline_meta_references,
    rewrite_configs,
)
from bundle_tools.export.vendoring import (
    PROJECT_PACKAGES,
    referenced_packages,
    rewrite_references,
    vendor_packages,
    vendored_source,
)


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


def test_vendored_files_are_the_tested_files_but_for_imports_of_a_sibling_package(tmp_path, monkeypatch):
    vendored = vendor_packages(["custom_networks", "bundle_tools"], tmp_path / "scripts")
    written = vendored["files"]
    assert "custom_networks/blocks/layers.py" in written and "bundle_tools/config/flags.py" in written
    assert "data_prep/io.py" in written  # imported by bundle_tools, so copied too
    assert not any(w.startswith("bundle_tools/export") for w in written)
    changed = dict(line.split(": ", 1) for line in vendored["changed_lines"])
    for rel in written[1:]:
        package = rel.split("/")[0]
        source = importlib.util.find_spec(package).submodule_search_locations[0]
        original = (Path(source) / rel.split("/", 1)[1]).read_text(encoding="utf-8").splitlines()
        copy = (tmp_path / "scripts" / rel).read_text(encoding="utf-8").splitlines()
        assert len(copy) == len(original), rel
        for number, (a, b) in enumerate(zip(original, copy, strict=True), start=1):
            if a != b:  # only an import of another project package, which now starts with scripts.
                assert changed[f"{rel}:{number}"] == b.strip(), (rel, number)
                assert b == re.sub(r"\bfrom (\w+)", r"from scripts.\1", a, count=1), (rel, a, b)
                assert re.search(r"from (bundle_tools|custom_networks|data_prep)\b", a), (rel, a)
                assert not a.lstrip().startswith(f"from {package}"), (rel, a)
    assert changed, "bundle_tools imports data_prep: some lines must change"
    for line in vendored["changed_lines"]:
        assert line.split(": ", 1)[1].startswith("from scripts."), line

    # import them in this process under the name "scripts", hiding the project's packages
    for mod in [m for m in sys.modules if m == "scripts" or m.startswith("scripts.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.syspath_prepend(str(tmp_path))
    flags = importlib.import_module("scripts.bundle_tools.config.flags")
    assert flags.as_bool("false") is False
    assert (
        "scripts.bundle_tools.visualize.figures" not in sys.modules
    )  # the lazy __init__ imported flags alone
    nets = importlib.import_module("scripts.custom_networks")
    assert nets.AttentionUNet.__module__ == "scripts.custom_networks.attention_unet"
    saver = importlib.import_module("scripts.bundle_tools.transforms.atomic_save")
    assert saver.atomic_write.__module__ == "scripts.data_prep.io"
    assert not [
        m for m in sys.modules if m.startswith("scripts.") and m.split(".")[1] not in PROJECT_PACKAGES
    ]
    for mod in [m for m in sys.modules if m == "scripts" or m.startswith("scripts.")]:
        del sys.modules[mod]


def test_only_imports_of_a_sibling_package_change_and_own_absolute_imports_are_refused():
    with pytest.raises(ExportError, match=r"bundle_tools/x.py:2: imports its own package absolutely"):
        vendored_source("import os\nfrom bundle_tools.io import y\n", "bundle_tools", "bundle_tools/x.py")
    text = "from .a import b\n\n\ndef f():\n    from data_prep.io import (\n        w,\n    )\n"
    code, changed, imported = vendored_source(text, "bundle_tools", "bundle_tools/x.py")
    assert code == text.replace("from data_prep.io", "from scripts.data_prep.io")
    assert changed == ["bundle_tools/x.py:5: from scripts.data_prep.io import ("] and imported == {
        "data_prep"
    }


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
