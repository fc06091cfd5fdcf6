"""Budgeted training of ``benchmarks/nnunet_train.py``: epochs planned from timed steps so nnU-Net's poly schedule
fits the wall-clock budget, the per-epoch curve, and the stop at the budget (nnU-Net's environment; imports
nothing of this project)."""

from __future__ import annotations

import csv
import math
import os
import statistics
import sys
import time
from pathlib import Path

NNUNET_ITERATIONS = 250  # nnUNetTrainer.num_iterations_per_epoch
NNUNET_VAL_ITERATIONS = 50  # nnUNetTrainer.num_val_iterations_per_epoch
MARGIN = 0.95  # epochs are planned into this share of the budget: steps vary by a few per cent
CURVE_COLUMNS = (
    "epoch",
    "seconds",
    "mean_fg_dice",
    "ema_fg_dice",
    "dice_per_class",
    "train_loss",
    "val_loss",
    "lr",
)

# --------------------------------------------------------------------------------------------- epoch planning


def plan_epochs(
    budget_s: float,
    elapsed_s: float,
    train_step_s: float,
    val_step_s: float,
    epoch_overhead_s: float = 2.0,
    iterations: int = NNUNET_ITERATIONS,
    val_iterations: int = NNUNET_VAL_ITERATIONS,
    min_epochs: int = 10,
    margin: float = MARGIN,
) -> tuple[int, int, int]:
    """``(num_epochs, iterations_per_epoch, val_iterations_per_epoch)`` that fill what is left of a budget.

    An epoch costs ``iterations * train_step_s + val_iterations * val_step_s + epoch_overhead_s``; the epochs that
    fit in ``margin * budget_s - elapsed_s`` are planned. When fewer than ``min_epochs`` epochs of ``iterations``
    fit, epochs are shortened so that ``min_epochs`` fit, with validation iterations in the same proportion (at
    least one of each), so that the poly learning rate still decays over several epochs and the curve has points.
    At least one epoch is always planned (training stops at the budget anyway).
    """
    if min(train_step_s, budget_s) <= 0 or val_step_s < 0 or iterations < 1 or min_epochs < 1:
        raise ValueError("need positive step times, budget, iterations and min_epochs")
    left = max(0.0, margin * budget_s - elapsed_s)
    ratio = val_iterations / iterations

    def epoch_s(n: int) -> float:
        return n * train_step_s + max(1, round(n * ratio)) * val_step_s + epoch_overhead_s

    epochs = math.floor(left / epoch_s(iterations))
    if epochs >= min_epochs:
        return epochs, iterations, val_iterations
    per_epoch = left / min_epochs
    n = min(iterations, math.floor((per_epoch - epoch_overhead_s) / (train_step_s + ratio * val_step_s)))
    while n >= 1 and epoch_s(n) > per_epoch:  # validation iterations round up
        n -= 1
    if n >= 1:
        return math.floor(left / epoch_s(n)), n, max(1, round(n * ratio))
    n = math.floor((left - val_step_s - epoch_overhead_s) / train_step_s)
    return 1, max(1, min(iterations, n)), 1


# ---------------------------------------------------------------------------------------------------- training


def _log_value(trainer, key: str):
    try:
        value = trainer.logger.get_value(key, step=-1)
    except (IndexError, KeyError, AssertionError):
        return None
    if isinstance(value, list | tuple):
        return [float(v) for v in value]
    return float(value)


def _epoch_row(trainer, epoch: int, seconds: float) -> dict:
    return {
        "epoch": epoch,
        "seconds": round(seconds, 2),
        "mean_fg_dice": _log_value(trainer, "mean_fg_dice"),
        "ema_fg_dice": _log_value(trainer, "ema_fg_dice"),
        "dice_per_class": _log_value(trainer, "dice_per_class_or_region"),
        "train_loss": _log_value(trainer, "train_losses"),
        "val_loss": _log_value(trainer, "val_losses"),
        "lr": _log_value(trainer, "lrs"),
    }


def write_curve(rows: list[dict], path: Path) -> None:
    """The per-epoch rows as CSV (``dice_per_class`` joined with ``;``), written whole each time."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(CURVE_COLUMNS))
        writer.writeheader()
        for row in rows:
            cells = dict(row)
            if isinstance(cells.get("dice_per_class"), list):
                cells["dice_per_class"] = ";".join(f"{v:.4f}" for v in cells["dice_per_class"])
            writer.writerow(cells)
    os.replace(tmp, path)


def _say(message: str) -> None:
    print(f"[nnunet_train] {message}", file=sys.stderr, flush=True)


def train_for_budget(trainer, budget_s: float, t0: float, curve_path: Path, args) -> dict:
    """nnU-Net's ``run_training``, hook for hook, with planned epochs, stopped at ``t0 + budget_s``: a step that
    would end after it (at the measured step times) is not started."""
    import torch

    expected = {"train": 0.0, "val": 0.0}  # seconds of a step, once measured

    def over(step: str | None = None) -> bool:
        return time.time() - t0 + (expected[step] if step else 0.0) >= budget_s

    rows: list[dict] = []
    stopped = False
    iterations_done = 0
    trainer.on_train_start()
    plan: dict = {}
    steps: list[float] = []  # seconds of each of epoch 0's training steps (data loading included)
    try:
        epoch = trainer.current_epoch
        while epoch < trainer.num_epochs and not stopped:
            epoch_start = time.time()
            trainer.on_epoch_start()
            trainer.on_train_epoch_start()
            outputs = []
            probe_s = 0.0
            while len(outputs) < trainer.num_iterations_per_epoch:
                if over("train"):
                    stopped = True
                    break
                tic = time.perf_counter()
                outputs.append(trainer.train_step(next(trainer.dataloader_train)))
                iterations_done += 1
                if epoch == 0:
                    steps.append(time.perf_counter() - tic)
                    if not plan and len(steps) > args.probe_iterations:  # the first step is warm-up
                        tic = time.perf_counter()
                        plan.update(_probe_and_plan(trainer, steps, budget_s, t0, args, over))
                        expected.update(train=plan["train_step_s"], val=plan["val_step_s"])
                        probe_s = time.perf_counter() - tic
                        _say(
                            f"probe: {plan['train_step_s']:.2f} s/train step, {plan['val_step_s']:.2f} s/val step"
                            f" -> {plan['iterations_per_epoch']} iterations/epoch, {plan['num_epochs']} epochs"
                        )
            if stopped:
                break
            trainer.on_train_epoch_end(outputs)
            val_start = time.time()
            with torch.no_grad():
                trainer.on_validation_epoch_start()
                val_outputs = []
                for _ in range(trainer.num_val_iterations_per_epoch):
                    if over("val"):
                        stopped = True
                        break
                    val_outputs.append(trainer.validation_step(next(trainer.dataloader_val)))
                if stopped:
                    break
                trainer.on_validation_epoch_end(val_outputs)
            val_s = time.time() - val_start
            trainer.on_epoch_end()  # increments trainer.current_epoch
            rows.append(_epoch_row(trainer, epoch, time.time() - t0))
            write_curve(rows, curve_path)
            _say(
                f"epoch {epoch}: {rows[-1]['seconds']:.0f} s, pseudo Dice {rows[-1]['mean_fg_dice']:.4f}"
                f" (EMA {rows[-1]['ema_fg_dice']:.4f}), lr {rows[-1]['lr']:.5f}"
            )
            if epoch == 0 and plan:  # epoch 0 measured whole: re-plan before epoch 1 sets its learning rate
                epoch_s = time.time() - epoch_start - probe_s
                plan.update(_replan(trainer, steps, val_s, epoch_s, budget_s, t0, args))
                expected.update(train=plan["train_step_s"], val=plan["val_step_s"])
                _say(
                    f"epoch 0 took {plan['epoch0_s']:.1f} s -> {trainer.num_epochs} epochs, then "
                    f"{trainer.num_iterations_per_epoch} + {trainer.num_val_iterations_per_epoch} iterations each"
                )
            epoch = trainer.current_epoch
            if over():
                stopped = epoch < trainer.num_epochs
                break
    finally:
        train_end = time.time()
        trainer.on_train_end()  # checkpoint_final.pth; stops the augmentation workers
    return {
        "curve": rows,
        "epochs_done": len(rows),
        "iterations_done": iterations_done,
        "stopped_at_budget": stopped,
        "train_s": round(train_end - t0, 2),
        "train_and_save_s": round(time.time() - t0, 2),
        **plan,
    }


def _replan(
    trainer, steps: list[float], val_s: float, epoch_s: float, budget_s: float, t0: float, args
) -> dict:
    """After epoch 0: epochs and their length from its measured steps, validation and end-of-epoch cost."""
    train_step_s = statistics.median(steps[1:] or steps)
    val_step_s = val_s / max(1, trainer.num_val_iterations_per_epoch)
    overhead_s = max(0.0, epoch_s - sum(steps) - val_s)
    elapsed = time.time() - t0
    left = MARGIN * budget_s - elapsed
    if left < train_step_s + val_step_s + overhead_s:  # not even a one-step epoch fits: stop after epoch 0
        epochs, iterations, val_iterations = (
            0,
            trainer.num_iterations_per_epoch,
            trainer.num_val_iterations_per_epoch,
        )
    else:
        epochs, iterations, val_iterations = plan_epochs(
            budget_s,
            elapsed,
            train_step_s,
            val_step_s,
            epoch_overhead_s=overhead_s,
            iterations=args.iterations_per_epoch,
            val_iterations=args.val_iterations_per_epoch,
            min_epochs=max(1, args.min_epochs - 1),
        )
    trainer.num_epochs = 1 + epochs
    trainer.num_iterations_per_epoch = iterations
    trainer.num_val_iterations_per_epoch = val_iterations
    trainer.lr_scheduler.max_steps = trainer.num_epochs
    return {
        "epoch0_s": round(epoch_s, 2),
        "train_step_s": round(train_step_s, 3),
        "val_step_s": round(val_step_s, 3),
        "epoch_overhead_s": round(overhead_s, 2),
        "num_epochs": trainer.num_epochs,
        "iterations_per_epoch": iterations,
        "val_iterations_per_epoch": val_iterations,
    }


def _probe_and_plan(trainer, steps: list[float], budget_s: float, t0: float, args, over) -> dict:
    """Time up to two validation steps (budget allowing), then set the trainer's epochs, iterations and the
    poly schedule's length from them and the training ``steps`` (the first one, a warm-up, left out)."""
    import torch

    train_step_s = statistics.median(steps[1:])
    val_steps = []
    trainer.network.eval()
    with torch.no_grad():
        for _ in range(2):  # the first one warms the evaluation path up
            if over():
                break
            tic = time.perf_counter()
            trainer.validation_step(next(trainer.dataloader_val))
            val_steps.append(time.perf_counter() - tic)
    trainer.network.train()
    val_step_s = val_steps[-1] if val_steps else train_step_s / 3  # a forward pass: about a third of a step
    epochs, iterations, val_iterations = plan_epochs(
        budget_s,
        time.time() - t0,
        train_step_s,
        val_step_s,
        iterations=args.iterations_per_epoch,
        val_iterations=args.val_iterations_per_epoch,
        min_epochs=args.min_epochs,
    )
    trainer.num_epochs = epochs
    trainer.num_iterations_per_epoch = iterations
    trainer.num_val_iterations_per_epoch = val_iterations
    trainer.lr_scheduler.max_steps = epochs
    return {
        "train_step_s": round(train_step_s, 3),
        "val_step_s": round(val_step_s, 3),
        "planned_epochs": epochs,
        "num_epochs": epochs,
        "iterations_per_epoch": iterations,
        "val_iterations_per_epoch": val_iterations,
    }
