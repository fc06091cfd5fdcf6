"""Helpers of the inference tests (``test_inference_reliability.py``, ``test_dicom_seg.py``): the abdominal
bundle's ``inference.json`` with every output under a test folder, and weights as training leaves them.

Loaded by path (``--import-mode=importlib`` imports neither conftest nor sibling modules):

    helpers = load_helpers(__file__)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from monai.bundle import ConfigParser

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "bundles" / "abdominal_mri_attention_unet"


def inference_parser(tmp_path: Path, **overrides) -> ConfigParser:
    """The bundle's inference.json, every output and the weights under ``tmp_path``."""
    parser = ConfigParser()
    parser.read_config(str(BUNDLE / "configs" / "inference.json"))
    parser.update(
        {
            "bundle_root": str(BUNDLE),
            "ckpt_dir": str(tmp_path / "models"),
            "output_dir": str(tmp_path / "out"),
            "dataset_dir": str(tmp_path / "no_dataset"),
            "amp": False,
            "postprocess": False,
            **overrides,
        }
    )
    return parser


def fake_training(tmp_path: Path, plan: dict, with_hash: bool = True) -> Path:
    """``models/plan.json`` and ``models/model.pt`` as training writes them (seeded untrained weights, with the
    plan's hash unless ``with_hash`` is False, as older runs saved them); the weights' path."""
    models = tmp_path / "models"
    models.mkdir(exist_ok=True)
    data = (json.dumps(plan, indent=2) + "\n").encode("utf-8")
    (models / "plan.json").write_bytes(data)
    torch.manual_seed(0)
    net = inference_parser(tmp_path).get_parsed_content("network_def")
    state = {"model": net.state_dict(), "epoch": 1, "metric": 0.5}
    if with_hash:
        state["plan_sha256"] = hashlib.sha256(data).hexdigest()
    torch.save(state, models / "model.pt")
    return models / "model.pt"
