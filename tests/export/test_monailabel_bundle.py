"""``--to monailabel``: a self-contained bundle folder and zip; its inference runs with
``python -m monai.bundle run`` in a fresh process where the project's packages are not importable."""

from __future__ import annotations

import hashlib
import json
import zipfile

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser

from bundle_tools.export.configs import REQUIRED_IDS, code_strings
from bundle_tools.export.vendoring import rewrite_references

BUNDLE_NAMES = ["abdominal_mri_attention_unet", "pancreas_ct_attention_unet", "brain_tumour_mri_cbam_unet"]


def test_exported_bundle_is_complete_and_names_only_its_own_code(exported_monailabel, trained_bundles):
    name = "abdominal_mri_attention_unet"
    out = exported_monailabel(name)
    for rel in ("configs/metadata.json", "configs/inference.json", "configs/train.json", "configs/logging.conf",
                "models/model.pt", "models/model.ts", "models/plan.json", "scripts/__init__.py",
                "scripts/custom_networks/attention_unet.py", "scripts/bundle_tools/transforms/plan_transforms.py",
                "docs/README.md", "docs/export.json", "LICENSE"):  # fmt: skip
        assert (out / rel).is_file(), rel

    # model.pt: the state dict under "model" and the hash of the plan shipped beside it, loadable with
    # weights_only=True, equal to the source
    ckpt = torch.load(out / "models" / "model.pt", weights_only=True)
    source = torch.load(trained_bundles(name) / "models" / "model.pt", weights_only=True)["model"]
    assert sorted(ckpt) == ["model", "plan_sha256"] and ckpt["model"].keys() == source.keys()
    assert ckpt["plan_sha256"] == hashlib.sha256((out / "models" / "plan.json").read_bytes()).hexdigest()
    assert all(torch.equal(ckpt["model"][k], source[k]) for k in source)

    # configs: every _target_ and expression names scripts.<package>; no metadata references in inference.json
    for path in (out / "configs").glob("*.json"):
        config = json.loads(path.read_text(encoding="utf-8"))
        for code in code_strings(config):
            assert rewrite_references(code) == code, (path.name, code)
    inference = json.loads((out / "configs" / "inference.json").read_text(encoding="utf-8"))
    assert "_meta_" not in json.dumps(inference)
    assert inference["bundle_root"] == "." and inference["network_def"]["_target_"].startswith("scripts.")
    assert inference["imports"][0] == "$import scripts"
    for file, ids in REQUIRED_IDS.items():
        parser = ConfigParser()
        parser.read_config(str(out / "configs" / file))
        assert all(i in parser for i in ids), file

    # metadata: label names for MONAI Label, no requirement on this project
    meta = json.loads((out / "configs" / "metadata.json").read_text(encoding="utf-8"))
    assert meta["network_data_format"]["outputs"]["pred"]["channel_def"] == {
        "0": "background",
        "1": "liver",
        "2": "right_kidney",
        "3": "left_kidney",
        "4": "spleen",
    }
    assert "seg3d-bundles" not in meta.get("required_packages_version", {})
    extra = {"metadata.json": ""}
    torch.jit.load(str(out / "models" / "model.ts"), _extra_files=extra)
    assert json.loads(extra["metadata.json"]) == meta

    # the zip holds the same files under the bundle's name
    with zipfile.ZipFile(out.with_name(out.name + ".zip")) as zf:
        zipped = sorted(zf.namelist())
    files = sorted(f"{out.name}/{p.relative_to(out).as_posix()}" for p in out.rglob("*") if p.is_file())
    assert zipped == files


def test_multilabel_bundle_shows_the_label_map_names(exported_monailabel):
    out = exported_monailabel("brain_tumour_mri_cbam_unet")
    pred = json.loads((out / "configs" / "metadata.json").read_text(encoding="utf-8"))["network_data_format"][
        "outputs"
    ]["pred"]
    assert pred["channel_def"] == {
        "0": "background",
        "1": "edema",
        "2": "non_enhancing_tumour",
        "3": "enhancing_tumour",
    }
    assert pred["network_channel_def"] == {"0": "TC", "1": "WT", "2": "ET"}


@pytest.mark.slow
@pytest.mark.parametrize("name", BUNDLE_NAMES)
def test_exported_bundle_infers_where_the_project_is_not_importable(
    name, exported_monailabel, datasets, tmp_path, eh
):
    out = exported_monailabel(name)
    for package in ("custom_networks", "bundle_tools", "data_prep"):
        proc = eh.isolated(["-c", f"import {package}"], out)
        assert proc.returncode != 0 and f"No module named '{package}'" in proc.stderr
    proc = eh.isolated(["-c", "import scripts.custom_networks as m; print(m.__file__)"], out)
    assert proc.returncode == 0 and proc.stdout.strip().startswith(str(out)), proc.stderr

    data = datasets(name)
    images = sorted((data / "imagesTr").glob("*.nii.gz"))[:1]
    inputs = tmp_path / "in"
    inputs.mkdir()
    for image in images:
        (inputs / image.name).symlink_to(image)
    preds = tmp_path / "pred"
    proc = eh.isolated(
        ["-m", "monai.bundle", "run", "--config_file", "configs/inference.json", "--input_dir", str(inputs),
         "--output_dir", str(preds), "--roi_size", "[32,32,32]", "--sw_batch_size", "1"],
        out,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    for image in images:
        src = nib.load(image)
        pred = nib.load(preds / image.name.replace(".nii.gz", "_seg.nii.gz"))
        assert pred.shape[:3] == src.shape[:3]
        np.testing.assert_allclose(pred.affine, src.affine, atol=1e-4)
