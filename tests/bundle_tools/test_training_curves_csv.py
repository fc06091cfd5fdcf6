"""training_curves.csv: the curves' history as numbers beside the PNG, rewritten after every epoch."""

from __future__ import annotations

import csv
import math

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402
from ignite.engine import Engine, Events  # noqa: E402

from bundle_tools.handlers.training_curves import TrainingCurves, history_csv  # noqa: E402

NAMES = ["background", "liver", "left kidney"]


def _rows(path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_csv_has_a_row_per_epoch_with_loss_metrics_and_per_class_columns(tmp_path):
    curves = TrainingCurves(tmp_path, class_names=NAMES)
    curves.record(1, loss=0.9)
    curves.record(2, loss=0.7)
    curves.record(
        2,
        metrics={"val_mean_dice": 0.5, "val_hd95_mm": math.nan},
        per_class={"liver": 0.6, "left kidney": 0.4},
    )
    curves.record(3, loss=0.6)
    assert curves.draw() == tmp_path / "training_curves.png"
    assert (tmp_path / "training_curves.png").stat().st_size > 1000  # the picture is still drawn
    assert curves.csv_path == tmp_path / "training_curves.csv"
    rows = _rows(curves.csv_path)
    assert list(rows[0]) == [
        "epoch",
        "loss",
        "val_mean_dice",
        "val_hd95_mm",
        "val_mean_dice_liver",
        "val_mean_dice_left_kidney",
    ]
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert float(rows[1]["loss"]) == 0.7 and float(rows[1]["val_mean_dice"]) == 0.5
    assert float(rows[1]["val_mean_dice_left_kidney"]) == 0.4
    assert rows[0]["val_mean_dice"] == "" and rows[2]["val_mean_dice"] == ""  # epochs without validation
    assert rows[1]["val_hd95_mm"] == ""  # not finite
    assert not list(tmp_path.glob(".*.tmp*"))  # written through a renamed temporary file


def test_csv_of_an_empty_history_is_a_header():
    curves = TrainingCurves("unused")
    assert history_csv(curves.history, None) == "epoch,loss\n"


def test_csv_is_rewritten_after_every_epoch_of_a_trainer(tmp_path):
    trainer = Engine(lambda engine, batch: {"loss": torch.tensor(float(engine.state.epoch))})
    curves = TrainingCurves(tmp_path)
    curves.attach(trainer)
    seen: list[list[str]] = []
    trainer.add_event_handler(
        Events.EPOCH_COMPLETED,
        lambda e: seen.append([r["loss"] for r in _rows(tmp_path / "training_curves.csv")]),
    )
    trainer.run([0, 1], max_epochs=3)
    assert seen == [["1.0"], ["1.0", "2.0"], ["1.0", "2.0", "3.0"]]


def test_csv_of_a_resumed_history_keeps_the_epochs_before_the_resume(tmp_path):
    first = TrainingCurves(tmp_path / "first")
    first.record(1, loss=0.9, metrics={"val_mean_dice": 0.3})
    resumed = TrainingCurves(tmp_path / "resumed")
    resumed.load_state_dict(first.state_dict())
    resumed.record(2, loss=0.8, metrics={"val_mean_dice": 0.4})
    resumed.draw()
    rows = _rows(tmp_path / "resumed" / "training_curves.csv")
    assert [(r["epoch"], r["val_mean_dice"]) for r in rows] == [("1", "0.3"), ("2", "0.4")]
