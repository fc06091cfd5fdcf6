"""``benchmarks/bench_polyp.py`` and ``benchmarks/_polyp_study.py``: the pieces that run without training.

The search space against the bundle, the commands of the study (what is tuned, trained and evaluated where),
the test-split scores read from ``metrics.csv``, reuse of finished steps, and the report. The runs themselves
are covered by ``test_harness.py`` (``--quick``).
"""

from __future__ import annotations

import importlib.util
import json
import shlex
import sys
from pathlib import Path

import pytest

from bundle_tools.tune.space import parse_space

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def study():
    sys.path.insert(0, str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location("_polyp_study", REPO / "benchmarks" / "_polyp_study.py")
    module = sys.modules["_polyp_study"] = importlib.util.module_from_spec(spec)  # dataclasses look it up
    spec.loader.exec_module(module)
    return module


def test_search_space_names_only_ids_of_the_polyp_bundles_train_json(study):
    config = json.loads((REPO / study.TRAIN).read_text(encoding="utf-8"))
    space = parse_space(study.SPACE)
    space.check_ids(config, study.TRAIN)
    assert "learning_rate" in space.ids and "network_def#_target_" not in space.ids


def test_every_run_has_its_own_bundle_root_outside_the_bundle_folder(study, tmp_path):
    data, root = tmp_path / "data", tmp_path / "tuned_unet" / "final"
    budget = study.training_overrides(3, 5)
    tune = study.tune_command(data, tmp_path / "space.json", tmp_path / "tuned_unet" / "tune", 4,
                              study.UNET + budget)  # fmt: skip
    train = study.train_command(
        data, root, study.UNET + budget, tmp_path / "tuned_unet" / "tune" / "best.json"
    )
    evaluate = study.evaluate_command(data, root, study.UNET)
    # the network and the budget go to every trial (after --), the searched values only through --args_file
    assert tune[tune.index("--") + 1 :] == [*study.UNET, "--epochs", "3", "--iterations_per_epoch", "5",
                                            "--progress_bar", "False"]  # fmt: skip
    assert train[train.index("--bundle_root") + 1] == str(root) and train[-2] == "--args_file"
    # the final model is scored on the held-out test split, with the network it was trained with
    assert evaluate[evaluate.index("--eval_split") + 1] == "test"
    assert evaluate[evaluate.index("--bundle_root") + 1] == str(root) and evaluate[-2:] == study.UNET
    assert "evaluate.json" in evaluate[evaluate.index("--config_file") + 1]


def test_shown_commands_split_back_into_the_arguments_that_ran(study, tmp_path):
    cmd = study.evaluate_command(tmp_path / "d", tmp_path / "r", study.UNET)
    text = study.shown(cmd)
    assert text.startswith("python -m monai.bundle run --config_file \"['bundles/")
    assert shlex.split(text)[1:] == cmd[1:]


def test_test_scores_average_the_polyp_class_over_pictures_and_skip_background(study, tmp_path):
    csv = tmp_path / "metrics.csv"
    header = "case,class_index,class,dice,iou,precision,recall,hd95_mm,assd_mm,spacing_mm\n"
    rows = [
        "a,0,background,0.1,0.1,0,0,99,9,1",
        "a,1,polyp,0.8,0.6,1,1,4,1,1",
        "b,1,polyp,0.4,0.2,1,1,10,2,1",
    ]
    csv.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    scores = study.test_scores(csv)
    assert scores["dice"] == pytest.approx((0.6, 0.2))  # population std over the two pictures
    assert scores["iou"] == pytest.approx((0.4, 0.2)) and scores["hd95_mm"] == pytest.approx((7.0, 3.0))
    assert scores["pictures"][0] == 2


def test_a_finished_model_is_read_back_not_run_again(study, tmp_path, monkeypatch):
    saved = study.ModelResult(
        "tuned U-Net", 4, 60.0, 30.0, {"dice": [0.7, 0.1]}, ["python -m x"], {"batch_size": 4}
    )
    (tmp_path / "tuned_unet").mkdir()
    (tmp_path / "tuned_unet" / "done.json").write_text(json.dumps(saved.__dict__), encoding="utf-8")
    monkeypatch.setattr(study, "run_logged", lambda *a: pytest.fail("ran a command"))
    assert study.run_model("tuned_unet", tmp_path / "data", tmp_path, 4, 2, 3, 2) == saved


def test_report_has_one_row_per_model_with_test_scores_and_every_command(study):
    scores = {"dice": (0.8, 0.05), "iou": (0.7, 0.04), "hd95_mm": (5.0, 1.5), "pictures": (32, 0.0)}
    results = [
        study.ModelResult("plain U-Net (bundle defaults)", 0, 0.0, 120.0, scores, ["train a", "eval a"]),
        study.ModelResult(
            "tuned CBAM U-Net (bundle network)", 8, 600.0, 120.0, scores, ["tune b"], {"lr": 1}
        ),
    ]
    text = "\n".join(study.report_lines(results, ["synth"], "- Data: ...", 8, 25, 8))
    assert "| plain U-Net (bundle defaults) | 0 | - | 0.0 min | 2.0 min (8 x 25 it) | 0.800 ± 0.050 |" in text
    assert (
        "| tuned CBAM U-Net (bundle network) | 8 | 8 x 25 it | 10.0 min |" in text and "| 5.0 ± 1.5 |" in text
    )
    assert text.index("synth") < text.index("train a") < text.index("tune b")
