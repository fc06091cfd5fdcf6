"""The resume loader: checkpoints written before an object joined the checkpoint still resume."""

from __future__ import annotations

import logging

import pytest
import torch
from ignite.engine import Engine

from bundle_tools.handlers.checkpoint_files import save_atomic
from bundle_tools.handlers.checkpoints import ResumeCheckpointLoader
from bundle_tools.handlers.training_curves import TrainingCurves
from data_prep.errors import DataPrepError


def _trainer() -> Engine:
    return Engine(lambda engine, batch: {"loss": 1.0})


def test_resume_from_a_checkpoint_without_an_optional_key_starts_that_object_afresh(tmp_path, caplog):
    net, old = torch.nn.Linear(2, 2), _trainer()
    old.run([0, 1], max_epochs=2)
    path = save_atomic({"network": net.state_dict(), "trainer": old.state_dict()}, tmp_path / "latest.pt")

    trainer, curves = _trainer(), TrainingCurves(tmp_path)
    load_dict = {"network": torch.nn.Linear(2, 2), "training_curves": curves}
    ResumeCheckpointLoader(str(path), load_dict, optional_keys=["training_curves"]).attach(trainer)
    curves.attach(trainer)
    with caplog.at_level(logging.WARNING):
        trainer.run([0, 1], max_epochs=3)
    assert f"{path}: no 'training_curves' state" in caplog.text
    assert curves.history["epoch"] == [3]  # the epochs of the older run are not in that checkpoint
    assert torch.equal(load_dict["network"].weight, net.weight)

    # without optional_keys, the same checkpoint is refused, naming the file and the missing state
    engine = _trainer()
    strict = ResumeCheckpointLoader(str(path), {"training_curves": TrainingCurves(tmp_path)})
    strict.attach(engine)
    with pytest.raises(DataPrepError, match=f"{path}: holds no 'training_curves' state"):
        strict(engine)
