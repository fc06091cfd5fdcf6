"""``export --args_file``: the overrides a model was run with travel into the export; a fold ensemble
(``bundle_tools cv``'s ``ensemble.json``) becomes ``models/ensemble_K.pt`` of a MONAI Label bundle that infers
what the project's ensemble inference infers, where the project is not importable."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from bundle_tools.export import export_torchscript
from bundle_tools.export.errors import ExportError
from bundle_tools.export.overrides import apply_overrides, read_export_args
from data_prep.errors import DataPrepError

ABDOMINAL = "abdominal_mri_attention_unet"


def test_an_args_file_is_split_into_weights_local_paths_and_overrides(tmp_path):
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({
        "ckpt_paths": "a/model.pt,b/model.pt", "ckpt_path": "a/model.pt", "postprocessing_file": "pp.json",
        "dataset_dir": "/data", "datalist": "/data/datalist.json", "out_channels": 1, "loss_options#x": {},
    }))  # fmt: skip
    args = read_export_args(args_file)
    assert [p.parts[-2:] for p in args.ckpt_paths] == [("a", "model.pt"), ("b", "model.pt")]
    assert args.ckpt_path.is_absolute() and args.postprocessing.name == "pp.json"
    assert sorted(args.dropped) == ["datalist", "dataset_dir"]
    assert args.overrides == {"out_channels": 1, "loss_options#x": {}}


@pytest.mark.parametrize(
    "content, problem",
    [("[1, 2]", "JSON object"), ("{", "not readable JSON"), ('{"ckpt_path": "$@x"}', "not an expression")],
)
def test_a_bad_args_file_is_one_error_naming_it(tmp_path, content, problem):
    args_file = tmp_path / "args.json"
    args_file.write_text(content)
    with pytest.raises(ExportError, match=problem) as err:
        read_export_args(args_file)
    assert str(args_file) in str(err.value)


def test_overrides_set_nested_ids_only_where_their_parent_is():
    config = {
        "out_channels": 2,
        "loss_options": {"dice_ce": {}},
        "network_def": {"out_channels": "@out_channels"},
    }
    out = apply_overrides(config, {"out_channels": 1, "loss_options#dice_bce": {"a": 1}, "train#x": 3})
    assert out["out_channels"] == 1 and out["loss_options"] == {"dice_ce": {}, "dice_bce": {"a": 1}}
    assert "train" not in out and config["out_channels"] == 2  # the source is not changed
    assert apply_overrides({"network_def": {}}, {"loss_options#dice_bce": {}}) == {"network_def": {}}


def test_the_exported_ensemble_carries_every_fold_and_drops_local_paths(exported_ensemble):
    args_file, out = exported_ensemble
    folds = json.loads(args_file.read_text())["ckpt_paths"]
    for k, fold in enumerate(folds):
        exported = torch.load(out / "models" / f"ensemble_{k}.pt", weights_only=True)
        source = torch.load(fold, weights_only=True)
        assert exported["plan_sha256"] == source["plan_sha256"]
        assert all(torch.equal(exported["model"][n], t) for n, t in source["model"].items())
    first = torch.load(out / "models" / "model.pt", weights_only=True)["model"]
    assert all(torch.equal(first[n], t) for n, t in torch.load(folds[0], weights_only=True)["model"].items())
    inference = json.loads((out / "configs" / "inference.json").read_text())
    assert "ensemble_0.pt" in inference["ckpt_paths"] and "ensemble_1.pt" in inference["ckpt_paths"]
    decision = json.loads(args_file.read_text())["postprocessing_file"]
    assert (out / "models" / "postprocessing.json").read_bytes() == Path(decision).read_bytes()
    report = json.loads((out / "docs" / "export.json").read_text())
    assert report["args_left_out"] == ["datalist"] and "models/ensemble_1.pt" in report["files"]


@pytest.mark.slow
def test_the_exported_ensemble_infers_as_the_projects_ensemble(exported_ensemble, trained_bundles, datasets,
                                                                tmp_path, eh):  # fmt: skip
    args_file, out = exported_ensemble
    image = sorted((datasets(ABDOMINAL) / "imagesTr").glob("*.nii.gz"))[0]
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / image.name).symlink_to(image)
    sizes = ["--roi_size", "[32,32,32]", "--sw_batch_size", "1"]
    project = tmp_path / "project"
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file",
           str(trained_bundles(ABDOMINAL) / "configs" / "inference.json"), "--args_file", str(args_file),
           "--input_dir", str(inputs), "--output_dir", str(project), *sizes]  # fmt: skip
    proc = subprocess.run(cmd, env=eh.subprocess_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = {}
    single = tmp_path / "single.json"
    single.write_text('{"ckpt_paths": null}')
    for name, extra in (("exported", []), ("exported_one_model", ["--args_file", str(single)])):
        proc = eh.isolated(["-m", "monai.bundle", "run", "--config_file", "configs/inference.json", "--input_dir",
                            str(inputs), "--output_dir", str(tmp_path / name), *sizes, *extra], out)  # fmt: skip
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
        runs[name] = nib.load(tmp_path / name / image.name.replace(".nii.gz", "_seg.nii.gz"))
    expected = nib.load(project / image.name.replace(".nii.gz", "_seg.nii.gz"))
    np.testing.assert_array_equal(np.asarray(runs["exported"].dataobj), np.asarray(expected.dataobj))
    np.testing.assert_allclose(runs["exported"].affine, nib.load(image).affine, atol=1e-4)
    # the ensemble is what runs: fold 0 alone segments otherwise
    assert not np.array_equal(np.asarray(runs["exported_one_model"].dataobj), np.asarray(expected.dataobj))


def test_members_with_another_plan_are_refused_naming_both(trained_bundles, tmp_path, eh):
    args_file = eh.make_fold_ensemble(trained_bundles(ABDOMINAL), tmp_path / "cv")
    plan = tmp_path / "cv" / "fold_1" / "models" / "plan.json"
    plan.write_text(plan.read_text().replace("{", '{"note": "another plan",', 1))
    with pytest.raises(DataPrepError, match="different plans") as err:
        from bundle_tools.export import export_monailabel

        export_monailabel(trained_bundles(ABDOMINAL), tmp_path / "out", make_zip=False, args_file=args_file)
    assert str(plan) in str(err.value) and not (tmp_path / "out").exists()


def test_one_network_formats_refuse_an_ensemble(trained_bundles, tmp_path, eh):
    args_file = eh.make_fold_ensemble(trained_bundles(ABDOMINAL), tmp_path / "cv")
    with pytest.raises(ExportError, match="holds one network"):
        export_torchscript(trained_bundles(ABDOMINAL), tmp_path / "ts", args_file=args_file)
    assert not (tmp_path / "ts").exists()


def test_args_file_and_ckpt_together_are_refused(trained_bundles, tmp_path, eh):
    args_file = eh.make_fold_ensemble(trained_bundles(ABDOMINAL), tmp_path / "cv")
    bundle = trained_bundles(ABDOMINAL)
    cmd = [sys.executable, "-m", "bundle_tools", "export", str(bundle), "--to", "torchscript", "--out",
           str(tmp_path / "ts"), "--ckpt", str(bundle / "models" / "model.pt"), "--args_file", str(args_file)]  # fmt: skip
    proc = subprocess.run(cmd, env=eh.subprocess_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and proc.stderr.strip().count("\n") == 0
    assert "give the weights once" in proc.stderr and str(args_file) in proc.stderr
    shutil.rmtree(tmp_path / "cv")
