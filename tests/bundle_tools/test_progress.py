"""``loss_value``: the trainer's loss as a float from a batch output dict or a decollated list."""

from __future__ import annotations

import torch

from bundle_tools.handlers.progress import loss_value


def test_loss_value_reads_a_batch_dict_and_a_decollated_list():
    loss = torch.tensor(0.25)
    assert loss_value({"loss": loss, "pred": torch.zeros(2)}) == 0.25
    assert loss_value([{"loss": loss}, {"loss": loss}]) == 0.25
    assert loss_value({"loss": 1.5}) == 1.5
