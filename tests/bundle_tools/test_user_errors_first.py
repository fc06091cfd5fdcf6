"""A user error leaves an engine before its handlers log it: MONAI's ``StatsHandler`` logs every exception
with its traceback, which would bury the one-line message; a bug still reaches it."""

from __future__ import annotations

import logging

import pytest
import torch
from monai.handlers import StatsHandler

from bundle_tools.engines import AmpSupervisedEvaluator, AmpSupervisedTrainer
from data_prep.errors import DataPrepError


class _FailingLoader:
    def __init__(self, err: Exception):
        self.err = err

    def __len__(self) -> int:
        return 1

    def __iter__(self):
        raise self.err


def _engines(err: Exception, with_handlers: bool):
    net = torch.nn.Conv3d(1, 2, 1)
    handlers = [StatsHandler(name="stats_under_test", tag_name="loss")] if with_handlers else None
    trainer = AmpSupervisedTrainer(
        device="cpu",
        max_epochs=1,
        train_data_loader=_FailingLoader(err),
        network=net,
        optimizer=torch.optim.SGD(net.parameters(), lr=0.1),
        loss_function=torch.nn.CrossEntropyLoss(),
        train_handlers=handlers,
    )
    evaluator = AmpSupervisedEvaluator("cpu", _FailingLoader(err), net, val_handlers=handlers)
    return trainer, evaluator


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize("with_handlers", [True, False])
def test_a_user_error_is_raised_before_the_stats_handler_logs_it_and_a_bug_is_logged(with_handlers):
    logged = _Records()
    logging.getLogger("stats_under_test").addHandler(logged)
    try:
        for engine in _engines(DataPrepError("data/case_0.nii.gz: not a readable image"), with_handlers):
            with pytest.raises(DataPrepError, match="case_0.nii.gz"):
                engine.run()
        assert logged.records == []
        if with_handlers:
            for engine in _engines(KeyError("a bug"), with_handlers):
                with pytest.raises(KeyError):
                    engine.run()
            assert [r.exc_info[0] for r in logged.records] == [
                KeyError,
                KeyError,
            ]  # the tracebacks are logged
    finally:
        logging.getLogger("stats_under_test").removeHandler(logged)
