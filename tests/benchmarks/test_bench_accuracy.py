"""``benchmarks/bench_accuracy.py`` and ``benchmarks/nnunet_train.py``: the pieces that run without training.

Conversion to nnU-Net's raw layout, the split, the epoch planning arithmetic of both sides, the probe's timing
and the report. The test that needs nnU-Net itself (its dataset integrity check on a converted dataset) runs in
``.venv-nnunet`` and is skipped, saying why, when that environment cannot be made.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from data_prep.synth import write_synth_dataset

REPO = Path(__file__).resolve().parents[2]
SIZE = (16, 16, 16)
CLASSES = ["background", "liver", "right_kidney", "left_kidney", "spleen"]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def nnunet_train():
    return _load("nnunet_train")


@pytest.fixture(scope="module")
def bench():
    return _load("bench_accuracy")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_synth_dataset("abdominal", tmp_path_factory.mktemp("d") / "abd", n_cases=8, size=SIZE)


# ------------------------------------------------------------------------------------------- nnU-Net layout


def test_conversion_writes_training_and_validation_cases_in_nnunet_v2_layout(nnunet_train, dataset, tmp_path):
    folder, cases = nnunet_train.convert_dataset(dataset, tmp_path / "raw", dataset_id=7)
    datalist = json.loads((dataset / "datalist.json").read_text(encoding="utf-8"))
    names = {k: [Path(e["image"]).name.removesuffix(".nii.gz") for e in datalist[k]] for k in datalist if
             k in ("training", "validation", "test")}  # fmt: skip
    assert folder == tmp_path / "raw" / "Dataset007_Abdominal"
    assert cases == {"train": names["training"], "val": names["validation"], "test": names["test"]}
    seen = names["training"] + names["validation"]
    assert sorted(p.name for p in (folder / "imagesTr").iterdir()) == sorted(f"{c}_0000.nii.gz" for c in seen)
    assert sorted(p.name for p in (folder / "labelsTr").iterdir()) == sorted(f"{c}.nii.gz" for c in seen)
    manifest = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    assert manifest["channel_names"] == {"0": "MR"}
    assert manifest["labels"] == {name: i for i, name in enumerate(CLASSES)}
    assert manifest["numTraining"] == len(seen) and manifest["file_ending"] == ".nii.gz"
    case = seen[0]
    ours, theirs = (
        nib.load(dataset / "imagesTr" / f"{case}.nii.gz"),
        nib.load(folder / "imagesTr" / f"{case}_0000.nii.gz"),
    )
    np.testing.assert_array_equal(ours.get_fdata(), theirs.get_fdata())
    np.testing.assert_allclose(ours.affine, theirs.affine)
    # a second conversion with the same id replaces the folder (nnU-Net refuses two datasets with one id)
    nnunet_train.convert_dataset(dataset, tmp_path / "raw", dataset_id=7)
    assert [p.name for p in (tmp_path / "raw").iterdir()] == ["Dataset007_Abdominal"]


def test_conversion_splits_multichannel_images_into_one_file_per_channel(nnunet_train, tmp_path):
    brain = write_synth_dataset("brain_tumour", tmp_path / "brain", n_cases=3, size=SIZE)
    folder, cases = nnunet_train.convert_dataset(brain, tmp_path / "raw", dataset_id=8)
    manifest = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    assert manifest["channel_names"] == {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"}
    case = cases["train"][0]
    source = nib.load(brain / "imagesTr" / f"{case}.nii.gz").get_fdata()
    for c in range(4):
        channel = nib.load(folder / "imagesTr" / f"{case}_{c:04d}.nii.gz")
        assert channel.shape == SIZE
        np.testing.assert_allclose(channel.get_fdata(), source[..., c])


def test_splits_file_trains_on_our_training_cases_and_validates_on_ours(nnunet_train, tmp_path):
    path = nnunet_train.write_splits(tmp_path / "pre", ["a", "b"], ["c"])
    assert json.loads(path.read_text(encoding="utf-8")) == [{"train": ["a", "b"], "val": ["c"]}]
    with pytest.raises(ValueError, match="validation"):
        nnunet_train.write_splits(tmp_path / "pre", ["a"], [])


def test_labels_and_dataset_names_follow_nnunet_rules(nnunet_train):
    assert nnunet_train.nnunet_labels({"1": "tumour", "0": "background"}) == {"background": 0, "tumour": 1}
    with pytest.raises(ValueError, match="consecutive"):
        nnunet_train.nnunet_labels({"0": "background", "2": "tumour"})
    assert nnunet_train.dataset_folder_name(42, "brain tumour") == "Dataset042_BrainTumour"
    with pytest.raises(ValueError, match="three digits"):
        nnunet_train.dataset_folder_name(1000, "x")


def test_missing_datalist_is_reported_with_its_path(nnunet_train, tmp_path):
    with pytest.raises(ValueError, match="datalist.json"):
        nnunet_train.read_split(tmp_path)


# ---------------------------------------------------------------------------------------- epoch planning


def test_nnunet_keeps_250_iterations_when_enough_epochs_fit(nnunet_train):
    # 250 x 1 s + 50 x 0.5 s + 5 s = 280 s per epoch; 0.95 * 3600 - 100 = 3320 s -> 11 epochs
    assert nnunet_train.plan_epochs(3600, 100, 1.0, 0.5, 5.0, min_epochs=10) == (11, 250, 50)


def test_nnunet_shortens_epochs_when_few_fit_and_keeps_its_validation_ratio(nnunet_train):
    # 0.95 * 1800 - 64 = 1646 s for at least 10 epochs of <= 164.6 s: 7 iterations and 1 validation
    # iteration (7 x 20 + 5 + 2 = 147 s; 8 would need 2 validation iterations, 172 s) -> 11 such epochs fit
    epochs, iterations, val_iterations = nnunet_train.plan_epochs(1800, 64, 20.0, 5.0, 2.0, min_epochs=10)
    assert (epochs, iterations, val_iterations) == (11, 7, 1)
    epoch_s = iterations * 20 + val_iterations * 5 + 2
    assert epochs * epoch_s <= 0.95 * 1800 - 64 < (epochs + 1) * epoch_s
    # almost nothing left (7 s): one epoch of the steps that fit next to one validation step and the overhead
    assert nnunet_train.plan_epochs(60, 50, 2.0, 1.0, 1.0, min_epochs=10) == (1, 2, 1)


def test_bundle_epochs_fill_the_budget_after_the_probes_startup(bench):
    probe = {"startup_s": 30.0, "step_s": 2.0, "epoch_overhead_s": 20.0}
    # 0.95 * 1800 - 30 = 1680 s; epochs of 100 x 2 s + 20 s = 220 s -> 7
    assert bench.bundle_epochs(1800, probe, 100, min_epochs=5) == (7, 100)
    # half the budget: 825 s fits 3 such epochs < 5 -> 5 epochs of (165 - 20) / 2 = 72 iterations
    assert bench.bundle_epochs(900, probe, 100, min_epochs=5) == (5, 72)
    assert bench.bundle_epochs(40, probe, 100, min_epochs=5) == (1, 1)  # 8 s: no room, one iteration


def test_probe_timing_splits_an_epoch_into_steps_startup_and_validation(bench):
    start = 1000.0
    # 4 iterations per epoch: epoch 1 (slow start) then its validation at 1020; epoch 2 then its validation at 1036
    times = [1012, 1014, 1015, 1016, 1024, 1026, 1028, 1030]
    losses = [(float(t), i + 1, 1.0) for i, t in enumerate(times)]
    dice = [(1020.0, 1, 0.1), (1036.0, 2, 0.2)]
    timing = bench.probe_timing(start, losses, dice, iterations=4)
    # epoch 2: 16 s, iterations 2 s apart -> 8 s of it is validation and the rest of an epoch's cost
    assert timing == {"startup_s": 4.0, "step_s": 2.0, "epoch_overhead_s": 8.0, "probe_epoch_s": 16.0}
    with pytest.raises(RuntimeError, match="probe"):
        bench.probe_timing(start, losses[:3], dice, iterations=4)


# ---------------------------------------------------------------------------------------------------- data


def test_split_puts_the_wanted_case_counts_in_the_datalist(bench, tmp_path):
    root = write_synth_dataset(
        "abdominal", tmp_path / "abd", n_cases=14, size=SIZE
    )  # 9 patients, 5 with 2 cases
    datalist = bench.choose_split(root, 8, 2, 4)
    assert bench.split_counts(datalist) == (8, 2, 4)
    on_disk = json.loads((root / "datalist.json").read_text(encoding="utf-8"))
    assert bench.split_counts(on_disk) == (8, 2, 4)
    where = {e["patient"]: k for k in ("training", "validation", "test") for e in on_disk[k]}
    assert all(where[e["patient"]] == k for k in where.values() for e in on_disk[k])  # whole patients


# -------------------------------------------------------------------------------------------------- report


def _scores(dice: float) -> dict:
    names = CLASSES[1:]
    return {"dice": dict.fromkeys(names, dice), "hd95_mm": dict.fromkeys(names, 4.0), "mean_dice": dice,
            "mean_hd95_mm": 4.0, "cases": 4}  # fmt: skip


def test_table_has_one_row_per_model_and_a_cell_per_class(bench):
    rows = [
        {"model": "nnU-Net", "budget_s": 1800, "train_s": 1790, "epochs": "10 x 8", "scores": _scores(0.5),
         "predict_s": 120.0},
        {"model": "bundle (B)", "budget_s": 1800, "train_s": 1700, "epochs": "7 x 100", "scores": _scores(0.9),
         "predict_s": 12.0},
        {"model": "bundle (B/2)", "budget_s": 900, "train_s": 900, "epochs": "0 x 100", "scores": None,
         "predict_s": None},
    ]  # fmt: skip
    lines = bench.format_table(rows, CLASSES).splitlines()
    assert len(lines) == 2 + len(rows)
    assert len({line.count("|") for line in lines}) == 1  # every row has every column
    assert "liver: Dice (HD95 mm)" in lines[0] and "prediction (s/case)" in lines[0]
    assert "| 0.900 (4.0) |" in lines[3] and "| 30.0 | 29.8 | 10 x 8 |" in lines[2]
    assert lines[4].endswith("| - | - | - | - | - | - | - |")
    targets = bench.target_lines(rows[0], rows[1], rows[2])
    assert targets[0].startswith("- Bundle mean test Dice >= nnU-Net's at equal budget: met (0.900 vs 0.500)")
    assert "10.0x" in targets[-1] and "met" in targets[-1]
    assert len(targets) == 2  # no scores at half the budget: that target is left out
    assert "not met" in bench.target_lines({**rows[0], "scores": _scores(0.95)}, rows[1], None)[0]


def test_curves_are_drawn_to_a_png(bench, tmp_path):
    path = bench.plot_curves(
        {
            "nnU-Net pseudo Dice": [(1.0, 0.2), (2.0, 0.4)],
            "bundle (B) val mean Dice": [(0.5, 0.6), (1.5, 0.8)],
        },
        {"B": 2.0, "B/2": 1.0},
        tmp_path / "curves.png",
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------------------------- nnU-Net


@pytest.mark.slow
def test_converted_dataset_passes_nnunets_integrity_check(nnunet_python, nnunet_train, dataset, tmp_path):
    folder, _ = nnunet_train.convert_dataset(dataset, tmp_path / "raw", dataset_id=9)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    code = (
        "import sys\n"
        "from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity\n"
        "verify_dataset_integrity(sys.argv[1], 1)\n"
    )
    proc = subprocess.run([str(nnunet_python), "-c", code, str(folder)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
