"""``python -m bundle_tools compare`` with a fake ``run_cv``: the same folds, seed, epochs and shared
overrides reach every network, each with its own ``network_def`` overrides; the budget becomes one epoch
count; the recipe is kept in ``compare.json`` and a changed one is refused; the report is written."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bundle_tools.cli import main
from bundle_tools.experiments import network_costs
from bundle_tools.experiments.compare import NetworkSpec, budget_epochs, resolve_networks
from data_prep.errors import DataPrepError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data") / "ds"
    cmd = [sys.executable, "-m", "data_prep", "synth", "abdominal", str(out), "--cases", "6",
           "--size", "16", "16", "16", "--workers", "1"]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, cwd=REPO, timeout=300)
    return out


def _fake_run_cv(calls: list):
    def run_cv(bundle, dataset_dir, folds, output, overrides=(), seed=0, log=print):  # noqa: ANN001, ANN202
        calls.append({"output": Path(output), "overrides": list(overrides), "folds": folds, "seed": seed})
        better = 0.1 if "custom_networks.CBAMUNet" in overrides else 0.0
        rows = []
        for i in range(6):
            for index, name in ((1, "liver"), (2, "spleen")):
                dice = 0.5 + 0.04 * i + better - 0.01 * index
                rows.append({"case": f"c{i}", "class_index": index, "class": name, "dice": dice, "iou": dice,
                             "precision": dice, "recall": dice, "hd95_mm": 10 - 5 * dice,
                             "assd_mm": 2 - dice, "spacing_mm": "1x1x1", "fold": i % folds})  # fmt: skip
        output = Path(output)
        for k in range(folds):
            fold = output / f"fold_{k}"
            (fold / "runs").mkdir(parents=True, exist_ok=True)
            (fold / "runs" / "training_curves.csv").write_text("epoch,loss,val_mean_dice\n1,0.9,0.4\n")
            (fold / "fold.json").write_text(
                json.dumps({"train_seconds": 30.0, "evaluate_seconds": 6.0, "validation_cases": 3})
            )
        with open(output / "oof_metrics.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return output / "oof_metrics.csv"

    return run_cv


def test_compare_trains_every_network_with_the_same_recipe_and_writes_the_report(
    tmp_path, dataset, monkeypatch, capsys
):
    import bundle_tools.experiments.cv as cv

    calls: list = []
    monkeypatch.setattr(cv, "run_cv", _fake_run_cv(calls))
    out = tmp_path / "cmp"
    argv = ["compare", "--dataset_dir", str(dataset), "--networks", "unet,cbam_unet", "--folds", "2",
            "--output", str(out), "--budget-minutes", "600", "--seed", "3", "--", "--roi_size", "[16,16,16]"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    assert [c["output"].name for c in calls] == ["unet", "cbam_unet"]
    assert all(c["folds"] == 2 and c["seed"] == 3 for c in calls)
    state = json.loads((out / "compare.json").read_text())
    epochs = state["epochs"]
    assert isinstance(epochs, int) and epochs >= 1
    shared = ["--roi_size", "[16,16,16]", "--seed", "3", "--epochs", str(epochs)]
    assert calls[0]["overrides"] == [*shared, "--network_def#_target_", "custom_networks.UNet"]
    assert calls[1]["overrides"] == [*shared, "--network_def#_target_", "custom_networks.CBAMUNet"]
    unet, cbam = state["networks"]["unet"], state["networks"]["cbam_unet"]
    assert unet["parameters"] > 0 and cbam["parameters"] > unet["parameters"]  # CBAM adds its gates
    assert unet["step_seconds"] > 0 and unet["inference_seconds"] > 0
    report = out / "report"
    for name in (
        "report.md",
        "report.html",
        "metrics.csv",
        "tests.csv",
        "networks.csv",
        "validation_curves.png",
    ):
        assert (report / name).is_file(), name
    networks = {r["network"]: r for r in csv.DictReader(open(report / "networks.csv"))}
    assert int(networks["cbam_unet"]["parameters"]) == cbam["parameters"]
    assert float(networks["unet"]["train_minutes"]) == pytest.approx(1.0)  # 2 folds x 30 s

    # run again: nothing is measured again, the report is rewritten from the same recipe
    def no_measure(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("measured again")

    monkeypatch.setattr(network_costs, "measure_costs", no_measure)
    (report / "report.md").unlink()
    assert main([*argv[:-3], "--report-only", *argv[-3:]]) == 0
    assert (report / "report.md").is_file() and len(calls) == 2

    # another recipe in the same folder is refused with one line naming compare.json
    assert main([*argv[:6], "3", *argv[7:]]) == 1
    err = capsys.readouterr().err
    assert "compare.json: was run with folds 2, not 3" in err and len(err.strip().splitlines()) == 1


def test_networks_resolve_from_short_names_targets_and_a_file(tmp_path):
    nets = tmp_path / "nets.json"
    nets.write_text(json.dumps({"wide": {"_target_": "custom_networks.UNet", "norm": "batch",
                                         "channels": [8, 16], "deep_supervision": False}}))  # fmt: skip
    specs = resolve_networks("unet,mine=my_pkg.Net", str(nets))
    assert [s.name for s in specs] == ["unet", "mine", "wide"]
    assert specs[1] == NetworkSpec("mine", "my_pkg.Net", {})
    assert specs[2].overrides() == [
        "--network_def#_target_", "custom_networks.UNet", "--network_def#norm", "batch",
        "--network_def#channels", "[8, 16]", "--network_def#deep_supervision", "False",
    ]  # fmt: skip
    assert [s.name for s in resolve_networks("wide,attention_unet", str(nets))] == ["wide", "attention_unet"]


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        ("unet,resnet", "unknown network 'resnet'"),
        ("unet,unet", "'unet' is named twice"),
        ("unet", "at least 2 networks"),
        ("unet,x=notatarget", "is not a module.Class target"),
    ],
)
def test_bad_network_lists_are_refused_with_one_line(names, problem):
    with pytest.raises(DataPrepError, match=problem):
        resolve_networks(names)


def test_a_network_file_without_target_is_refused(tmp_path):
    nets = tmp_path / "nets.json"
    nets.write_text(json.dumps({"wide": {"norm": "batch"}}))
    with pytest.raises(DataPrepError, match=r"nets.json: network 'wide' needs a \"_target_\" string"):
        resolve_networks("unet", str(nets))


def test_budget_gives_the_epochs_the_slowest_network_fits():
    assert budget_epochs(10, folds=2, epoch_seconds=[20.0, 30.0]) == 10  # 600 s / (2 x 30 s)
    assert budget_epochs(0.1, folds=5, epoch_seconds=[100.0]) == 1  # at least one


def test_epochs_with_a_budget_and_network_overrides_are_refused(tmp_path, dataset, capsys):
    base = ["compare", "--dataset_dir", str(dataset), "--networks", "unet,cbam_unet", "--folds", "2",
            "--output", str(tmp_path / "o")]  # fmt: skip
    assert main([*base, "--budget-minutes", "5", "--", "--epochs", "3"]) == 1
    assert "--epochs: is set by --budget-minutes" in capsys.readouterr().err
    assert main([*base, "--", "--network_def#norm", "batch"]) == 1
    assert "--network_def#norm: the network is set per network" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
