"""bundle_tools.config.paths.bundle_root: the bundle folder of the config being run, never the cwd by accident."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from monai.bundle import ConfigParser, ConfigWorkflow

from bundle_tools.config import paths
from bundle_tools.config.flags import as_bool


def _bundle(root: Path) -> Path:
    (root / "configs").mkdir(parents=True)
    config = {
        "imports": ["$import bundle_tools"],
        "bundle_root": "$bundle_tools.config.bundle_root()",
        "run": ["$@bundle_root"],
    }
    (root / "configs" / "train.json").write_text(json.dumps(config))
    (root / "configs" / "metadata.json").write_text("{}")
    return root


def test_python_api_without_override_follows_monai_and_uses_the_working_directory(tmp_path, monkeypatch):
    """No call-stack walking: from Python, MONAI's convention (the working directory, or bundle_root=)."""
    _bundle(tmp_path / "b")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["x"])
    wf = ConfigWorkflow(config_file="b/configs/train.json", workflow_type=None, logging_file=False)
    wf.initialize()
    assert wf.run() == [str(tmp_path)]


def test_relative_config_from_inside_bundle_gives_absolute_bundle_folder(tmp_path, monkeypatch):
    bundle = _bundle(tmp_path / "b")
    monkeypatch.chdir(bundle)
    monkeypatch.setattr("sys.argv", ["x"])
    wf = ConfigWorkflow(config_file="configs/train.json", workflow_type=None, logging_file=False)
    wf.initialize()
    assert wf.run() == [str(bundle.absolute())]


def test_explicit_override_wins(tmp_path, monkeypatch):
    bundle = _bundle(tmp_path / "b")
    monkeypatch.setattr("sys.argv", ["x"])
    wf = ConfigWorkflow(
        config_file=str(bundle / "configs" / "train.json"),
        workflow_type=None,
        logging_file=False,
        bundle_root="/opt/monailabel/model",
    )
    wf.initialize()
    assert wf.run() == ["/opt/monailabel/model"]


@pytest.mark.parametrize(
    "argv",
    [
        ["m", "run", "--config_file", "{b}/configs/train.json"],
        ["m", "run", "--config_file={b}/configs/train.json"],
        ["m", "run", "--config_file", "['{b}/configs/train.json','{b}/configs/evaluate.json']"],
    ],
)
def test_command_line_config_file_forms(tmp_path, monkeypatch, argv):
    bundle = _bundle(tmp_path / "b")
    monkeypatch.setattr("sys.argv", [a.format(b=bundle) for a in argv])
    parser = ConfigParser(
        {
            "imports": ["$import bundle_tools"],
            "root": "$bundle_tools.config.bundle_root()",
        }
    )
    assert parser.get_parsed_content("root") == str(bundle)


def test_nothing_names_a_config_gives_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["x"])
    assert paths.bundle_root() == str(tmp_path.absolute())


def test_config_outside_configs_folder_gives_its_folder(tmp_path):
    assert paths.bundle_root_from_config(str(tmp_path / "my.json")) == str(tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("false", False),
        ("False", False),
        ("0", False),
        ("true", True),
        ("True", True),
        (True, True),
        (0, False),
    ],
)
def test_flags_read_command_line_words(text, expected):
    assert as_bool(text) is expected


def test_flags_reject_unknown_word():
    with pytest.raises(ValueError, match="not a boolean"):
        as_bool("maybe")
