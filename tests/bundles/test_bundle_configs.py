"""The bundles' configs are composed from one shared graph and a task.json each (bundle_tools.config.compose)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bundle_tools.config.compose import SHARED_FOLDER, bundle_dirs, compose_bundle, stale_configs

REPO = Path(__file__).resolve().parents[2]
BUNDLES = REPO / "bundles"
HANDLER_POSITION = re.compile(r"handlers(?:#|::)\d+")


def test_every_bundle_has_a_task_and_its_committed_configs_equal_their_sources():
    names = [b.name for b in bundle_dirs(BUNDLES)]
    assert names == sorted(p.parent.parent.name for p in BUNDLES.glob("*/configs/metadata.json"))
    result = subprocess.run(
        [sys.executable, "-m", "bundle_tools", "configs", "--check", "--root", str(BUNDLES)],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_config_edited_by_hand_is_found_and_rewritten(tmp_path):
    shutil.copytree(BUNDLES / SHARED_FOLDER, tmp_path / SHARED_FOLDER)
    bundle = tmp_path / "abdominal_mri_attention_unet"
    shutil.copytree(BUNDLES / bundle.name, bundle, ignore=shutil.ignore_patterns("models", "runs", "eval"))
    train = bundle / "configs" / "train.json"
    train.write_text(
        train.read_text(encoding="utf-8").replace('"epochs": 30', '"epochs": 31'), encoding="utf-8"
    )
    assert stale_configs(bundle) == [train]
    check = [sys.executable, "-m", "bundle_tools", "configs", "--check", "--root", str(tmp_path)]
    result = subprocess.run(check, capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 1 and result.stderr.startswith(f"error: {train}: differ from")
    assert len(result.stderr.strip().splitlines()) == 1
    assert stale_configs(bundle, write=True) == [train]
    assert stale_configs(bundle) == []
    assert json.loads(train.read_text(encoding="utf-8"))["epochs"] == 30


def test_no_config_refers_to_a_handler_by_list_position():
    files = [
        *BUNDLES.glob("*/configs/*.json"),
        *BUNDLES.glob("*/task.json"),
        *(BUNDLES / SHARED_FOLDER).glob("*.json"),
    ]
    assert len(files) > 10
    for path in files:
        assert not HANDLER_POSITION.search(path.read_text(encoding="utf-8")), path


@pytest.mark.parametrize("bundle", bundle_dirs(BUNDLES), ids=lambda b: b.name)
def test_a_task_holds_only_what_differs_from_the_shared_graph(bundle):
    """Every id a task.json sets changes the shared graph (no copies of shared settings)."""
    task = json.loads((bundle / "task.json").read_text(encoding="utf-8"))
    shared_dir = BUNDLES / SHARED_FOLDER
    for section, override in task.items():
        shared = {}
        for name in ["common.json", f"{section}.json"] if section != "common" else ["common.json"]:
            if (shared_dir / name).is_file():
                shared.update(json.loads((shared_dir / name).read_text(encoding="utf-8")))
        for key, value in override.items():
            node = shared
            for part in key.split("#"):
                node = node.get(part) if isinstance(node, dict) else None
            assert node != value, f"{bundle.name}/task.json: {section}#{key} repeats the shared value"


@pytest.mark.parametrize("bundle", bundle_dirs(BUNDLES), ids=lambda b: b.name)
def test_flags_are_read_as_booleans_once(bundle):
    for name, config in compose_bundle(bundle).items():
        text = json.dumps(config)
        flags = config.get("flags", {})
        assert text.count("as_bool(") == len(flags), name
        for flag, expression in flags.items():
            assert expression == f"$bundle_tools.config.as_bool(@{flag})"
