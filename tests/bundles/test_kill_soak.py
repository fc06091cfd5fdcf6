"""A training killed with SIGKILL 11 times (some kills during checkpoint writes) and resumed each time ends
as an unkilled one: same epochs, one loss and one validation per epoch, no temporary files, weights that
load. (It found two faults, both fixed: the temporary files of model.pt, plan.json and postprocessing.json
were never removed after a kill mid-write, and a mid-epoch checkpoint at an epoch's last iteration let a kill
skip that epoch's validation.)

The soak itself is ``benchmarks/kill_soak.py`` (its longer run writes docs/reliability.md); here a short,
seeded schedule on tiny volumes.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

pytestmark = pytest.mark.slow

KILLS = 11
EPOCHS = 12


@pytest.fixture(scope="module")
def kill_soak(bh):
    """``benchmarks/kill_soak.py`` as a module (benchmark scripts are not a package)."""
    spec = importlib.util.spec_from_file_location("kill_soak", bh.REPO / "benchmarks" / "kill_soak.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_training_killed_repeatedly_and_resumed_ends_like_an_unkilled_run(kill_soak, bh, tmp_path):
    data = bh.synth("abdominal", tmp_path / "ds", cases=6, size=(40, 40, 32))
    bundle = bh.copy_bundle(kill_soak.BUNDLE, tmp_path)
    result = kill_soak.soak(
        bundle,
        data,
        kills=KILLS,
        epochs=EPOCHS,
        iterations_per_epoch=4,
        ckpt_every=2,
        seed=0,
        log_path=tmp_path / "kill_soak.log",
    )
    assert not result.failures, "\n".join(result.failures) + "\n" + result.log_tail()
    assert len(result.kills) == KILLS
    assert result.kills_during_writes >= 2, [str(k) for k in result.kills]
    assert result.resumes == KILLS  # every run after a kill resumed from the latest checkpoint
    assert result.reference_epochs == result.epochs_done == EPOCHS
    assert result.loss_epochs == list(range(1, EPOCHS + 1))
    assert sorted(result.val_epochs) == list(range(1, EPOCHS + 1))  # no epoch's validation skipped by a kill


def test_reliability_section_is_replaced_between_its_markers(kill_soak, tmp_path):
    doc = tmp_path / "reliability.md"
    kill_soak.write_section("first\n", doc)
    assert doc.read_text().startswith("# Reliability\n")
    other = "<!-- other:begin -->\nkept\n<!-- other:end -->\n"
    doc.write_text(doc.read_text() + "\n" + other)
    kill_soak.write_section("second\n", doc)
    text = doc.read_text()
    assert "first" not in text and text.count("second") == 1 and other in text
    assert text.count("<!-- kill_soak:begin -->") == text.count("<!-- kill_soak:end -->") == 1
