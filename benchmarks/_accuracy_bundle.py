"""The bundle side of ``benchmarks/bench_accuracy.py``: a fresh copy per run, a timing probe, epochs planned into the
budget, a budgeted training in a fresh process (stopped at its budget), and timed prediction of the test cases."""

from __future__ import annotations

import json
import math
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from _accuracy_data import link_test_files
from _worker import REPO, in_fresh_process

BUNDLE = "abdominal_mri_attention_unet"
MARGIN = 0.95  # the bundle's epochs are planned into this share of its budget: a fixed plan cannot adapt
BENCH = Path(__file__).with_name("bench_accuracy.py")  # its ``--worker`` runs predict_bundle_worker


def copy_bundle(dest: Path) -> Path:
    """A fresh copy of the bundle (configs, docs; no weights or outputs) at ``dest``."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(REPO / "bundles" / BUNDLE, dest, ignore=shutil.ignore_patterns("*.pt", "runs", "eval"))
    return dest


def bundle_defaults(bundle: Path) -> dict:
    """The literal ``iterations_per_epoch`` and ``epochs`` of the copy's train.json (None when it has none)."""
    config = json.loads((bundle / "configs" / "train.json").read_text(encoding="utf-8"))
    ipe = config.get("iterations_per_epoch")
    return {"iterations_per_epoch": ipe if isinstance(ipe, int) else None, "epochs": config.get("epochs")}


def read_scalars(runs_dir: Path, tag: str) -> list[tuple[float, int, float]]:
    """``(wall_time, step, value)`` of a TensorBoard scalar in every event file under ``runs_dir``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    values = []
    for path in sorted(runs_dir.glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(path), size_guidance={"scalars": 0})
        acc.Reload()
        if tag in acc.Tags().get("scalars", []):
            values += [(e.wall_time, int(e.step), float(e.value)) for e in acc.Scalars(tag)]
    return sorted(values)


def run_bundle_training(bundle: Path, dataset_dir: Path, overrides: dict, budget_s: float | None) -> dict:
    """``monai.bundle run training`` on the copy in a fresh process, stopped at ``budget_s`` from its start."""
    cmd = [sys.executable, "-m", "monai.bundle", "run", "training", "--config_file",
           str(bundle / "configs" / "train.json"), "--dataset_dir", str(dataset_dir), "--progress_bar", "false"]  # fmt: skip
    for key, value in overrides.items():
        cmd += [f"--{key}", str(value)]
    stopped = False
    start = time.time()
    with (bundle / "training.log").open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, cwd=bundle, stdout=log, stderr=subprocess.STDOUT)
        try:
            proc.wait(timeout=budget_s)
        except subprocess.TimeoutExpired:
            stopped = True
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    seconds = time.time() - start
    if proc.returncode != 0 and not stopped:
        tail = (bundle / "training.log").read_text(encoding="utf-8")[-3000:]
        raise RuntimeError(f"bundle training failed ({proc.returncode}):\n{tail}")
    return {"start": start, "train_s": round(seconds, 2), "stopped_at_budget": stopped,
            "has_checkpoint": (bundle / "models" / "model.pt").is_file()}  # fmt: skip


def probe_timing(start: float, losses: list[tuple[float, int, float]], dice: list[tuple[float, int, float]],
                 iterations: int) -> dict:  # fmt: skip
    """Start-up, seconds per iteration and per-epoch overhead of a 2-epoch probe run of ``iterations``
    iterations per epoch, from its TensorBoard wall times (``losses``: one per iteration, ``dice``: one per
    validation) and its process start ``start``.

    Epoch 2 runs from the first validation to the second. ``step_s`` is the mean spacing of its loss events;
    the rest of it is what every epoch costs besides its iterations (``epoch_overhead_s``: validation,
    checkpoints, curves, the loader's restart). Whatever came before an epoch 1 in this steady state (imports,
    data caching, warm-up) is ``startup_s``.
    """
    if len(dice) < 2 or len(losses) < 2 * iterations or iterations < 2:
        raise RuntimeError(f"probe: {len(losses)} iteration and {len(dice)} validation events, expected "
                           f"{2 * iterations} and 2 (and at least 2 iterations per epoch)")  # fmt: skip
    (v1, _, _), (v2, _, _) = dice[0], dice[1]
    first, last = losses[iterations][0], losses[2 * iterations - 1][0]
    step_s = max(last - first, 1e-3) / (iterations - 1)
    epoch_s = v2 - v1
    return {"startup_s": round(max(0.0, v1 - start - epoch_s), 2), "step_s": round(step_s, 3),
            "epoch_overhead_s": round(max(0.0, epoch_s - iterations * step_s), 2),
            "probe_epoch_s": round(epoch_s, 2)}  # fmt: skip


def bundle_epochs(budget_s: float, probe: dict, iterations_per_epoch: int, min_epochs: int = 1,
                  margin: float = MARGIN) -> tuple[int, int]:  # fmt: skip
    """``(epochs, iterations_per_epoch)`` that fill ``margin * budget_s`` after the probe's start-up.

    The bundle's ``iterations_per_epoch`` is kept when at least ``min_epochs`` such epochs fit; otherwise epochs
    are shortened so that ``min_epochs`` fit. At least one epoch of one iteration.
    """
    left = margin * budget_s - probe["startup_s"]
    step, overhead = probe["step_s"], probe["epoch_overhead_s"]
    epochs = math.floor(left / (iterations_per_epoch * step + overhead)) if left > 0 else 0
    if epochs >= min_epochs:
        return epochs, iterations_per_epoch
    shorter = math.floor((left / min_epochs - overhead) / step) if left > 0 else 0
    if shorter >= 1:
        return min_epochs, min(shorter, iterations_per_epoch)
    return 1, max(1, min(iterations_per_epoch, math.floor((left - overhead) / step)))


def probe_bundle(work: Path, dataset_dir: Path, iterations: int) -> dict:
    bundle = copy_bundle(work / "bundle_probe")
    overrides = {"epochs": 2}
    has_ipe = bundle_defaults(bundle)["iterations_per_epoch"] is not None
    if has_ipe:
        overrides["iterations_per_epoch"] = iterations
    else:  # an epoch is one pass over the training cases
        iterations = len(json.loads((dataset_dir / "datalist.json").read_text(encoding="utf-8"))["training"])
    run = run_bundle_training(bundle, dataset_dir, overrides, None)
    timing = probe_timing(run["start"], read_scalars(bundle / "runs", "train_loss"),
                          read_scalars(bundle / "runs", "val_mean_dice"), iterations)  # fmt: skip
    print(
        f"bundle probe: start-up {timing['startup_s']:.0f} s, {timing['step_s']:.2f} s/iteration, "
        f"{timing['epoch_overhead_s']:.1f} s validation and epoch end",
        flush=True,
    )
    return {**timing, "probe_iterations": iterations, "has_iterations_per_epoch": has_ipe}


def train_bundle(
    work: Path, name: str, dataset_dir: Path, budget_s: float, probe: dict, min_epochs: int
) -> dict:
    """One budgeted training of a fresh bundle copy; its validation curve from TensorBoard."""
    bundle = copy_bundle(work / name)
    defaults = bundle_defaults(bundle)
    if probe["has_iterations_per_epoch"]:
        epochs, ipe = bundle_epochs(budget_s, probe, defaults["iterations_per_epoch"], min_epochs)
        overrides = {"epochs": epochs, "iterations_per_epoch": ipe}
    else:
        epochs, ipe = bundle_epochs(budget_s, probe, probe["probe_iterations"], 1)
        overrides = {"epochs": epochs}
    print(f"bundle {name}: {epochs} epochs x {ipe} iterations in {budget_s / 60:.1f} min", flush=True)
    run = run_bundle_training(bundle, dataset_dir, overrides, budget_s)
    dice = read_scalars(bundle / "runs", "val_mean_dice")
    losses = read_scalars(bundle / "runs", "train_loss")
    curve = [
        {"epoch": step, "seconds": round(t - run["start"], 2), "val_mean_dice": v} for t, step, v in dice
    ]
    print(f"bundle {name}: {len(curve)} validations, best val Dice "
          f"{max((c['val_mean_dice'] for c in curve), default=float('nan')):.4f}, {run['train_s']:.0f} s", flush=True)  # fmt: skip
    return {"bundle": str(bundle), "budget_s": budget_s, "epochs": epochs, "iterations_per_epoch": ipe,
            "epochs_done": len(curve), "iterations_done": max((s for _, s, _ in losses), default=0),
            "train_s": run["train_s"], "stopped_at_budget": run["stopped_at_budget"], "curve": curve,
            "has_checkpoint": run["has_checkpoint"]}  # fmt: skip


def predict_bundle_worker(bundle: str, dataset_dir: str, input_dir: str, output_dir: str) -> dict:
    """In a fresh process (``--worker``): the copy's inference.json on ``input_dir``; seconds per case."""
    import warnings

    from ignite.engine import Events
    from monai.bundle import ConfigWorkflow

    wf = ConfigWorkflow(config_file=str(Path(bundle) / "configs" / "inference.json"), workflow_type="infer",
                        logging_file=False, bundle_root=bundle, dataset_dir=dataset_dir, input_dir=input_dir,
                        output_dir=output_dir)  # fmt: skip
    wf.initialize()
    evaluator = wf.parser.get_parsed_content("evaluator")
    started: list[float] = []
    seconds: list[float] = []
    evaluator.add_event_handler(Events.GET_BATCH_STARTED, lambda _: started.append(time.perf_counter()))
    evaluator.add_event_handler(
        Events.ITERATION_COMPLETED, lambda _: seconds.append(time.perf_counter() - started[-1])
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluator.run()
    names = sorted(p.name for p in Path(input_dir).iterdir() if p.name.endswith((".nii.gz", ".nii")))
    return {
        "seconds": {n.removesuffix(".gz").removesuffix(".nii"): round(s, 3) for n, s in zip(names, seconds)}
    }


def predict_bundle(work: Path, run: dict, dataset_dir: Path) -> dict:
    inputs = link_test_files(dataset_dir, work / "test_images", "image")
    out = Path(run["bundle"]) / "eval" / "test_predictions"
    spec = {
        "bundle": run["bundle"],
        "dataset_dir": str(dataset_dir),
        "input_dir": str(inputs),
        "output_dir": str(out),
    }
    result = in_fresh_process(str(BENCH), {"task": "predict", **spec})
    return {"predictions_dir": str(out), "seconds": result["seconds"]}
