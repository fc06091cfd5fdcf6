"""Training's ``finalize`` step: decide the largest-component filter with the best model on the validation
cases and write ``models/postprocessing.json`` (the rule and the file: :mod:`bundle_tools.postprocess.decision`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor

from ..handlers.checkpoint_files import is_rank0, read_checkpoint, unwrap
from .decision import FILENAME, case_dice, decide_from_scores, score_rows, write_postprocessing

__all__ = ["decide_after_training"]

_log = logging.getLogger(__name__)


def _validation_scores(
    evaluator: Any, network: torch.nn.Module, multi_label: bool, connectivity: int | None
) -> tuple[list[int], np.ndarray, np.ndarray]:
    """One sliding-window pass of ``network`` over ``evaluator``'s validation loader: per-case Dice."""
    device = next(network.parameters()).device
    forward: Any = network
    if hasattr(evaluator, "autocast_network"):  # the evaluator's amp policy and channels-last inputs
        wrapped = evaluator.network
        evaluator.network = network  # not a DDP wrapper: ranks see different numbers of cases
        try:
            forward = evaluator.autocast_network()
        finally:
            evaluator.network = wrapped
    classes: list[int] = []  # from the network's output channels
    raw, filtered = [], []
    network.eval()
    with torch.no_grad():
        for batch in evaluator.data_loader:
            logits = evaluator.inferer(batch["image"].to(device), forward)
            logits = (logits.as_tensor() if isinstance(logits, MetaTensor) else logits).float().cpu()
            channels = logits.shape[1]
            classes = list(range(channels)) if multi_label else list(range(1, channels))
            for i in range(logits.shape[0]):
                pred = torch.sigmoid(logits[i]) >= 0.5 if multi_label else logits[i].argmax(0, keepdim=True)
                r, f = case_dice(pred, batch["label"][i], classes, multi_label, connectivity)
                raw.append(r)
                filtered.append(f)
    return classes, score_rows(raw, len(classes)), score_rows(filtered, len(classes))


def _remove_stale(path: Path, why: str) -> None:
    if is_rank0() and path.exists():
        path.unlink()
        _log.info(f"removed {path}: {why}")


def decide_after_training(
    evaluator: Any,
    ckpt_dir: str | os.PathLike,
    class_names: Sequence[str] | None = None,
    multi_label: bool = False,
    enabled: bool = True,
    connectivity: int | None = None,
    model_file: str = "model.pt",
    filename: str = FILENAME,
) -> Path | None:
    """Training's ``finalize`` step: decide the largest-component filter with the best model, write the file.

    Loads ``ckpt_dir/model_file`` (``{"model": state dict}``) into the evaluator's network, runs its
    inferer once over its validation loader (not the evaluator itself: no metrics, handlers or
    checkpoints are triggered), decides per class (module docstring) and writes ``ckpt_dir/filename``.
    Under ``torch.distributed`` call it on every rank: each scores its share of the validation cases,
    rank 0 gathers the scores and writes the file.

    Args:
        evaluator: the validation evaluator (``"@validate#evaluator"``): its ``network``, ``inferer``
            and ``data_loader`` are used.
        ckpt_dir: the folder of the weights (``models/``).
        class_names: names indexed by label value (or channel), for the file.
        multi_label: sigmoid outputs thresholded at 0.5, one binary channel per class (all channels are
            candidates); otherwise softmax/argmax label maps (candidates: labels 1..C-1).
        enabled: False skips the decision and removes a ``postprocessing.json`` left by an earlier
            training (it belongs to other weights).
        connectivity: see :func:`largest_component`.
        model_file: the best model's file name.
        filename: the decision's file name.

    Returns:
        The written path on rank 0; None elsewhere, when disabled, or without a best model.
    """
    ckpt_dir = Path(ckpt_dir)
    path = ckpt_dir / filename
    if not enabled:
        _remove_stale(path, "post-processing disabled (postprocess=False); it was decided for other weights")
        return None
    dist = torch.distributed
    distributed = dist.is_available() and dist.is_initialized()
    if distributed:
        dist.barrier()  # rank 0 may still be writing the last best model
    model_path = ckpt_dir / model_file
    if not model_path.is_file():
        _log.warning(f"{model_path}: no best model (no validation improved?); post-processing not decided")
        _remove_stale(path, "no best model to decide for")
        return None
    network = unwrap(evaluator.network)
    device = next(network.parameters()).device
    checkpoint = read_checkpoint(model_path, device)  # weights-only; a truncated file is named
    network.load_state_dict(checkpoint.get("model", checkpoint))  # or a bare state dict (MONAI's saver)
    classes, raw, filtered = _validation_scores(evaluator, network, multi_label, connectivity)
    if distributed:
        gathered: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, (classes, raw, filtered))
        classes = next((c for c, _, _ in gathered if c), classes)
        empty = [np.empty((0, len(classes)))]  # no rank had a validation case
        raw = np.concatenate([score_rows(r, len(classes)) for c, r, _ in gathered if c] or empty)
        filtered = np.concatenate([score_rows(f, len(classes)) for c, _, f in gathered if c] or empty)
    if not is_rank0():
        return None
    decision = decide_from_scores(raw, filtered, classes)
    model = {k: cast(checkpoint[k]) for k, cast in (("epoch", int), ("metric", float)) if k in checkpoint}
    write_postprocessing(decision.to_dict(class_names, multi_label, model), path)
    before, after = decision.mean_foreground()
    _log.info(
        f"post-processing on {decision.cases} validation cases: keep the largest component of "
        f"{list(decision.keep) or 'no class'}; mean foreground Dice {before:.4f} -> {after:.4f} ({path})"
    )
    return path
