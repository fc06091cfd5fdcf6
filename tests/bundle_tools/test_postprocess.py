"""The largest-component post-processing: the decision after training, its file, and how inference applies it."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.inferers import SimpleInferer
from monai.transforms import AsDiscreted, Compose

from bundle_tools.handlers.checkpoint_files import save_atomic
from bundle_tools.postprocess.after_training import decide_after_training
from bundle_tools.postprocess.decision import (
    decide_largest_component,
    keep_largest_component_labels,
    read_postprocessing,
    write_postprocessing,
)
from bundle_tools.postprocess.largest_component import (
    KeepLargestComponent,
    KeepLargestComponentd,
    largest_component,
)

REPO = Path(__file__).resolve().parents[2]
BUNDLES = ["abdominal_mri_attention_unet", "brain_tumour_mri_cbam_unet", "pancreas_ct_attention_unet"]


def _cases() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Two label-map cases (1, 16, 16, 16).

    Class 1: one true organ, predicted with a spurious island -> the filter helps.
    Class 2: two true blobs, both predicted -> the filter removes true foreground.
    Class 3: one blob predicted exactly -> the filter changes nothing (a tie).
    Class 4: absent from truth and prediction -> no evidence.
    """
    preds, labels = [], []
    for shift in (0, 1):
        truth = np.zeros((1, 16, 16, 16), dtype=np.uint8)
        truth[0, 2 + shift : 7, 2:7, 2:7] = 1
        truth[0, 10:12, 2:4, 2:4] = 2
        truth[0, 10:14, 10:14, 10 + shift : 14] = 2
        truth[0, 2:5, 10:13, 10:13] = 3
        pred = truth.copy()
        pred[0, 13:15, 2:4, 12:14] = 1  # island far from the organ
        preds.append(pred)
        labels.append(truth)
    return preds, labels


def test_decision_keeps_the_filter_where_an_island_is_removed_and_drops_it_where_true_foreground_is():
    preds, labels = _cases()
    decision = decide_largest_component(preds, labels, classes=[1, 2, 3, 4])
    assert decision.keep == (1, 3)  # 3: equal Dice keeps the filter (nnU-Net's rule); 4: no case scored
    assert decision.filtered[1] > decision.raw[1] and decision.raw[1] < 1.0
    assert decision.filtered[2] < decision.raw[2] == 1.0
    assert decision.filtered[3] == decision.raw[3] == 1.0
    assert np.isnan(decision.raw[4]) and decision.cases == 2
    before, after = decision.mean_foreground()
    assert after > before
    content = decision.to_dict(["background", "a", "b", "c", "d"])
    assert content["keep_largest_component"] == [1, 3]
    assert content["classes"] == {"1": "a", "2": "b", "3": "c", "4": "d"}
    assert content["validation_dice"]["raw"]["4"] is None  # NaN is written as null
    assert content["validation_dice"]["mean_foreground"] == {
        "raw": round(before, 6),
        "postprocessed": round(after, 6),
    }


def test_decision_on_multi_label_channels_is_per_channel():
    truth = np.zeros((2, 12, 12, 12), dtype=np.uint8)
    truth[0, 2:8, 2:8, 2:8] = 1
    truth[1, 1:9, 1:9, 1:9] = 1  # channel 1 contains channel 0, like WT contains TC
    truth[1, 10:12, 10:12, 10:12] = 1  # and a second true region
    pred = truth.copy()
    pred[0, 10:11, 0:1, 0:1] = 1  # island of channel 0
    decision = decide_largest_component([pred], [truth], classes=[0, 1], multi_label=True)
    assert decision.keep == (0,)


def test_largest_component_uses_full_connectivity_by_default():
    mask = np.zeros((5, 5, 5), dtype=bool)
    mask[0:2, 0:2, 0:2] = True
    mask[2, 2, 2] = True  # touches the cube at a corner only
    mask[4, 4, 4] = True
    assert largest_component(mask).sum() == 9
    assert largest_component(mask, connectivity=1).sum() == 8


def test_postprocessing_json_is_written_atomically_with_the_umask_mode_and_read_back(tmp_path):
    path = tmp_path / "models" / "postprocessing.json"
    old = os.umask(0o027)
    try:
        write_postprocessing({"version": 1, "keep_largest_component": [2]}, path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert keep_largest_component_labels(path) == [2]
    # a write that fails midway leaves the previous decision and no temporary file
    with pytest.raises(TypeError):
        write_postprocessing({"version": 1, "keep_largest_component": [1], "bad": object()}, path)
    assert keep_largest_component_labels(path) == [2]
    assert [p.name for p in path.parent.iterdir()] == ["postprocessing.json"]


def test_no_file_means_no_filter_and_a_bad_file_names_itself(tmp_path):
    assert keep_largest_component_labels(tmp_path / "postprocessing.json") == []
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": 7}))
    with pytest.raises(ValueError, match="bad.json: not a version-1"):
        read_postprocessing(bad)
    bad.write_text(json.dumps({"version": 1, "keep_largest_component": ["1"]}))
    with pytest.raises(ValueError, match="bad.json: keep_largest_component"):
        read_postprocessing(bad)


def _islands() -> torch.Tensor:
    """Logits (3, 10, 10, 10) whose argmax has a big and a one-voxel component of labels 1 and 2."""
    label = torch.zeros(10, 10, 10, dtype=torch.long)
    label[1:4, 1:4, 1:4] = 1
    label[8, 8, 8] = 1
    label[5:9, 1:5, 1:5] = 2
    label[1, 8, 8] = 2
    return torch.nn.functional.one_hot(label, 3).permute(3, 0, 1, 2).float()


def test_inference_chain_applies_exactly_the_stored_labels(tmp_path):
    path = write_postprocessing(
        {"version": 1, "keep_largest_component": [1]}, tmp_path / "postprocessing.json"
    )
    chain = Compose(
        [
            AsDiscreted(keys="pred", argmax=True),
            KeepLargestComponentd(keys="pred", applied_labels=keep_largest_component_labels(path)),
        ]
    )
    out = chain({"pred": _islands()})["pred"]
    assert out.shape == (1, 10, 10, 10)
    assert out[0, 8, 8, 8] == 0 and (out == 1).sum() == 27  # label 1's island is gone
    assert out[0, 1, 8, 8] == 2 and (out == 2).sum() == 65  # label 2 is not filtered
    # the same on one-hot data (evaluation) and with no labels (no file): untouched
    onehot = KeepLargestComponent([1], is_onehot=True)(_islands())
    assert onehot[1].sum() == 27 and onehot[2].sum() == 65 and onehot[0].sum() == 1000 - 27 - 1 - 65
    raw = _islands()
    assert torch.equal(KeepLargestComponent([])(raw), raw)


class _FixedLogits(torch.nn.Module):
    """Returns ``scale * logits`` whatever the input; ``scale`` is the one weight in the checkpoint."""

    def __init__(self, logits: torch.Tensor, scale: float) -> None:
        super().__init__()
        self.logits = logits
        self.scale = torch.nn.Parameter(torch.tensor(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.logits.expand(x.shape[0], *self.logits.shape)


def test_decide_after_training_loads_the_best_model_and_writes_the_decision(tmp_path):
    preds, labels = _cases()
    logits = torch.nn.functional.one_hot(torch.as_tensor(preds[0][0]).long(), 5).permute(3, 0, 1, 2).float()
    best = _FixedLogits(logits, 1.0)
    save_atomic({"model": best.state_dict(), "epoch": 3, "metric": 0.5}, tmp_path / "model.pt")
    network = _FixedLogits(logits, -1.0)  # the last epoch's weights: argmax would be all background
    batch = {"image": torch.zeros(1, 1, 16, 16, 16), "label": torch.as_tensor(labels[0])[None]}
    evaluator = SimpleNamespace(network=network, inferer=SimpleInferer(), data_loader=[batch])

    path = decide_after_training(evaluator, tmp_path, class_names=["bg", "a", "b", "c", "d"])
    content = read_postprocessing(path)
    assert network.scale.item() == 1.0
    assert content["keep_largest_component"] == [1, 3] and content["cases"] == 1
    assert content["label_kind"] == "label_map" and content["model"] == {"epoch": 3, "metric": 0.5}

    # switched off: no decision, and the file of earlier weights is removed
    assert decide_after_training(evaluator, tmp_path, enabled=False) is None
    assert not path.exists()
    # no best model: nothing decided
    (tmp_path / "model.pt").unlink()
    assert decide_after_training(evaluator, tmp_path) is None and not path.exists()


def _keep_transform(compose: Compose) -> KeepLargestComponentd:
    found = [t for t in compose.transforms if isinstance(t, KeepLargestComponentd)]
    assert len(found) == 1, compose.transforms
    return found[0]


@pytest.mark.parametrize("name", BUNDLES)
def test_bundle_inference_and_evaluation_apply_the_stored_decision(name, tmp_path):
    configs = REPO / "bundles" / name / "configs"
    plan = f"$data_prep.plan.load_plan({str(configs / 'default_plan.json')!r})"
    write_postprocessing({"version": 1, "keep_largest_component": [0, 2]}, tmp_path / "postprocessing.json")
    multi_label = name.startswith("brain")

    infer = ConfigParser()
    infer.read_config(str(configs / "inference.json"))
    infer.update({"bundle_root": str(configs.parent), "ckpt_dir": str(tmp_path)})
    keep = _keep_transform(infer.get_parsed_content("postprocessing"))
    assert keep.filter.applied_labels == (0, 2) and keep.filter.is_onehot == multi_label

    evaluate = ConfigParser()
    evaluate.read_config([str(configs / "train.json"), str(configs / "evaluate.json")])
    evaluate.update({"bundle_root": str(configs.parent), "ckpt_dir": str(tmp_path), "plan": plan})
    keep = _keep_transform(evaluate.get_parsed_content("validate#postprocessing"))
    assert keep.filter.applied_labels == (0, 2) and keep.filter.is_onehot
    assert evaluate["finalize"] == []  # evaluation never re-decides (its split may be the test set)

    # --postprocess false, or no file: nothing is filtered
    infer.update({"postprocess": False})
    assert _keep_transform(infer.get_parsed_content("postprocessing")).filter.applied_labels == ()
    (tmp_path / "postprocessing.json").unlink()
    evaluate.update({"ckpt_dir": str(tmp_path)})
    assert _keep_transform(evaluate.get_parsed_content("validate#postprocessing")).filter.applied_labels == ()


@pytest.mark.parametrize("name", BUNDLES)
def test_training_decides_in_finalize_behind_a_flag(name):
    train = json.loads((REPO / "bundles" / name / "configs" / "train.json").read_text(encoding="utf-8"))
    assert train["postprocess"] is True
    assert "bundle_tools.postprocess.decide_after_training" in train["decide_postprocessing"]
    assert train["finalize"] == ["@decide_postprocessing"]
    multi_gpu = json.loads(
        (REPO / "bundles" / name / "configs" / "multi_gpu_train.json").read_text(encoding="utf-8")
    )
    assert multi_gpu["finalize"][0] == "@decide_postprocessing"  # before the ranks leave the process group
    assert "$import bundle_tools" in train["imports"]


_DDP_SCRIPT = """
import sys, torch, torch.distributed as dist, torch.multiprocessing as mp
from types import SimpleNamespace
from monai.inferers import SimpleInferer
from bundle_tools.postprocess.after_training import decide_after_training

class Fixed(torch.nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits, self.scale = logits, torch.nn.Parameter(torch.tensor(1.0))
    def forward(self, x):
        return self.scale * self.logits.expand(x.shape[0], *self.logits.shape)

def work(rank, folder):
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=2)
    data = torch.load(f"{folder}/cases.pt")
    pred, label = data["preds"][rank], data["labels"][rank]
    logits = torch.nn.functional.one_hot(pred[0].long(), 5).permute(3, 0, 1, 2).float()
    batch = {"image": torch.zeros(1, 1, *pred.shape[1:]), "label": label[None]}
    evaluator = SimpleNamespace(network=Fixed(logits), inferer=SimpleInferer(), data_loader=[batch])
    path = decide_after_training(evaluator, folder)
    assert (path is not None) == (rank == 0), (rank, path)
    dist.destroy_process_group()

if __name__ == "__main__":
    mp.spawn(work, args=(sys.argv[1],), nprocs=2)
"""


def test_decide_after_training_under_ddp_gathers_every_rank_and_rank0_writes(tmp_path):
    import subprocess
    import sys

    preds, labels = _cases()
    torch.save(
        {"preds": [torch.as_tensor(p) for p in preds], "labels": [torch.as_tensor(t) for t in labels]},
        tmp_path / "cases.pt",
    )
    save_atomic({"model": {"scale": torch.tensor(1.0)}, "epoch": 1, "metric": 0.1}, tmp_path / "model.pt")
    script = tmp_path / "ddp.py"
    script.write_text(_DDP_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    content = read_postprocessing(tmp_path / "postprocessing.json")
    assert content["cases"] == 2 and content["keep_largest_component"] == [1, 3]
