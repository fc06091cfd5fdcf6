"""Post-processing chosen by cross-validation, and the out-of-fold table it sits beside."""

from __future__ import annotations

import json

import pytest
import torch
from ignite.engine import Engine
from monai.data import MetaTensor

from bundle_tools.experiments.component_scores import ComponentDiceScores, read_component_dice
from bundle_tools.experiments.oof import (
    decide_oof_postprocessing,
    merge_fold_metrics,
    write_oof,
)
from bundle_tools.metrics.summary import ROW_COLUMNS, read_csv_rows
from bundle_tools.postprocess import keep_largest_component_labels
from data_prep.errors import DataPrepError


def _case(name: str, shift: int) -> dict:
    """One-hot (background, class 1, class 2): class 1 predicted right plus a stray island (the filter
    helps), class 2 is truly two blobs, predicted right (the filter removes a true blob: it hurts)."""
    label = torch.zeros(3, 16, 16, 16)
    label[1, 2 + shift : 8, 2:8, 2:8] = 1
    label[2, 10:14, 2:6, 2:6] = 1
    label[2, 10:14, 10:14, 10:14] = 1
    pred = label.clone()
    pred[1, 12:14, 12:14, 2:4] = 1  # the island
    label[0] = 1 - label[1:].amax(0)
    pred[0] = 1 - pred[1:].amax(0)
    meta = {"filename_or_obj": f"/data/imagesTr/{name}.nii.gz"}
    return {
        "pred": MetaTensor(pred, meta=meta),
        "label": MetaTensor(label, meta=meta),
        "image": MetaTensor(torch.zeros(1, 16, 16, 16), meta=meta),
    }


def _fold_scores(path, cases) -> None:
    engine = Engine(lambda engine, batch: batch)  # the "evaluator": its output is the decollated batch
    ComponentDiceScores(path).attach(engine)
    engine.run([[c] for c in cases], max_epochs=1)


def test_islands_that_hurt_one_class_and_help_none_filter_that_class_only(tmp_path):
    _fold_scores(tmp_path / "f0.csv", [_case("p0", 0), _case("p1", 1)])
    _fold_scores(tmp_path / "f1.csv", [_case("p2", 2)])
    rows = read_component_dice(tmp_path / "f0.csv")
    assert {r["case"] for r in rows} == {"p0", "p1"} and {r["class_index"] for r in rows} == {1, 2}

    decision = decide_oof_postprocessing(
        {0: tmp_path / "f0.csv", 1: tmp_path / "f1.csv"},
        tmp_path / "postprocessing.json",
        ["bg", "liver", "kidney"],
    )
    assert decision.keep == (1,)
    assert decision.cases == 3
    assert decision.filtered[1] > decision.raw[1] and decision.filtered[2] < decision.raw[2]
    assert keep_largest_component_labels(tmp_path / "postprocessing.json") == [1]  # what inference reads
    content = json.loads((tmp_path / "postprocessing.json").read_text())
    assert content["model"]["decided_on"] == "out-of-fold predictions" and content["classes"]["1"] == "liver"


def _metrics_csv(path, cases) -> str:
    lines = [",".join(ROW_COLUMNS)]
    for case in cases:
        for c, name in ((1, "liver"), (2, "kidney")):
            lines.append(f"{case},{c},{name},0.5,0.4,0.6,0.7,3,1.5,1x1x1")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_out_of_fold_table_has_every_case_once_with_its_fold_and_a_summary(tmp_path):
    rows = merge_fold_metrics(
        {1: _metrics_csv(tmp_path / "m1.csv", ["c"]), 0: _metrics_csv(tmp_path / "m0.csv", ["a", "b"])}
    )
    table, summary = write_oof(rows, tmp_path)
    written = read_csv_rows(table)
    assert [(r["fold"], r["case"]) for r in written][::2] == [("0", "a"), ("0", "b"), ("1", "c")]
    stats = {(r["class"], r["metric"]): r for r in read_csv_rows(summary)}
    assert stats[("liver", "dice")]["n"] == "3" and float(stats[("kidney", "hd95_mm")]["mean"]) == 3.0


def test_a_case_in_two_folds_is_refused_naming_the_file(tmp_path):
    files = {0: _metrics_csv(tmp_path / "m0.csv", ["a"]), 1: _metrics_csv(tmp_path / "m1.csv", ["a"])}
    with pytest.raises(DataPrepError, match="m1.csv: case a is also in fold 0"):
        merge_fold_metrics(files)
