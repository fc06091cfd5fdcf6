"""Train nnU-Net v2 ``3d_fullres`` on CPU for a wall-clock budget, then predict held-out test cases (issue 13).

The nnU-Net side of ``benchmarks/bench_accuracy.py``. Runs with the nnU-Net environment's interpreter
(``make nnunet-env``), never the project's, and imports nothing of this project:

    .venv-nnunet/bin/python benchmarks/nnunet_train.py DATASET_DIR WORK_DIR --budget-minutes 30

``DATASET_DIR`` is a dataset in this project's layout (``imagesTr/``, ``labelsTr/``, ``dataset.json`` with
``labels`` ``{"0": "background", ...}`` and ``modality``, ``datalist.json`` with ``training``, ``validation`` and
``test`` lists; docs/dataset_format.md). Steps, all through nnU-Net's Python API with
``nnUNet_raw``/``nnUNet_preprocessed``/``nnUNet_results`` set to sub-folders of ``WORK_DIR``:

1. conversion: the ``training`` and ``validation`` cases become ``Dataset<ID>_<name>`` in nnU-Net's raw layout
   (``imagesTr/<case>_0000.nii.gz``, one file per channel; ``labelsTr/<case>.nii.gz``; a v2 ``dataset.json``).
   The ``test`` cases stay out of it: nnU-Net sees them only when it predicts them.
2. ``nnUNetv2_plan_and_preprocess -c 3d_fullres -np N`` equivalents: fingerprint (with the dataset integrity
   check), the default ``ExperimentPlanner``, preprocessing of ``3d_fullres`` only.
3. ``splits_final.json`` with one split, train = our ``training`` cases and val = our ``validation`` cases, so
   fold 0 validates on the same cases as the bundle.
4. training of fold 0 with ``nnUNetTrainer`` on the CPU, its hooks called as ``run_training`` calls them, with
   the clock checked after every iteration: training stops at the budget whatever the epoch count. nnU-Net's
   ``PolyLRScheduler`` is defined over ``num_epochs``, so the epochs are planned from measurements (see
   :func:`plan_epochs`): the first iterations of epoch 0 are timed (a training step with its data loading, and
   a few validation steps), which sets epoch 0's length; after epoch 0 its measured steps, validation and
   end-of-epoch cost (checkpoint, progress plot) set ``num_epochs`` and the length of the later epochs, before
   epoch 1 sets its learning rate (epoch 0 runs at the initial rate whatever ``num_epochs`` is), so the run
   follows nnU-Net's poly schedule over the epochs that fit. nnU-Net's 250 training iterations per epoch are
   kept unless fewer than ``--min-epochs`` such epochs fit: then epochs get shorter, keeping nnU-Net's 250:50
   ratio of training to validation iterations (a CPU step of nnU-Net's default plan takes seconds, and 250 of
   them would leave one epoch or none in a budget of minutes: no schedule and no curve). Every other setting is
   nnU-Net's (SGD, lr 1e-2, deep supervision, its augmentation, fp32 on a CPU). The final validation of
   ``run_training`` (sliding-window prediction of the validation cases) is skipped: the test cases are
   predicted instead.
5. per epoch: wall-clock seconds since the training started (the trainer's construction) and the logger's
   pseudo validation Dice (``mean_fg_dice``, its ``ema_fg_dice``, per class), training and validation losses and
   the learning rate -> ``WORK_DIR/curve.csv`` (rewritten after every epoch).
6. prediction of the ``test`` cases with ``nnUNetPredictor`` as it ships (``tile_step_size=0.5``, Gaussian
   weighting, test-time mirroring on) from ``checkpoint_final.pth``, one case at a time
   (``predict_from_files_sequential``: reading, preprocessing, sliding window, resampling back and writing)
   -> ``WORK_DIR/predictions/<case>.nii.gz`` in the input's geometry, with the seconds of each case.

Threads: ``torch.set_num_threads(--threads)``, default the core count, as ``nnUNetv2_train -device cpu`` does.
Data augmentation runs in nnU-Net's background processes (``nnUNet_n_proc_DA``, default: nnU-Net's own, the
core count here); ``--da-processes 0`` runs it in the training process.

stdout gets ONE JSON line (also written to ``WORK_DIR/result.json``): versions, plan, timings, the curve and the
per-case prediction seconds. nnU-Net's own prints and the progress go to stderr.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import shutil
import statistics
import sys
import time
from pathlib import Path

CONFIGURATION = "3d_fullres"
PLANS = "nnUNetPlans"
FOLD = 0
NNUNET_ITERATIONS = 250  # nnUNetTrainer.num_iterations_per_epoch
NNUNET_VAL_ITERATIONS = 50  # nnUNetTrainer.num_val_iterations_per_epoch
SUFFIXES = (".nii.gz", ".nii", ".mha", ".nrrd")
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


# ----------------------------------------------------------------------------------------- dataset conversion


def case_name(path: str) -> str:
    """``imagesTr/synth_abdominal_003.nii.gz`` -> ``synth_abdominal_003``."""
    name = Path(path).name
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def read_split(dataset_dir: str | os.PathLike) -> dict[str, list[dict[str, str]]]:
    """The ``training``, ``validation`` and ``test`` cases of ``datalist.json``: ``{"case", "image", "label"}``
    with absolute paths (``label`` absent for unlabelled test cases). Raises ``ValueError`` naming the file when
    a list is missing or a file does not exist."""
    dataset_dir = Path(dataset_dir)
    path = dataset_dir / "datalist.json"
    if not path.is_file():
        raise ValueError(f"{path}: no datalist.json (python -m data_prep split {dataset_dir})")
    datalist = json.loads(path.read_text(encoding="utf-8"))
    split = {}
    for key in ("training", "validation", "test"):
        entries = []
        for i, entry in enumerate(datalist.get(key) or []):
            case = {"case": case_name(entry["image"]), "image": str(dataset_dir / entry["image"])}
            if entry.get("label"):
                case["label"] = str(dataset_dir / entry["label"])
            for field in ("image", "label"):
                if field in case and not Path(case[field]).is_file():
                    raise ValueError(f"{path}: {key}[{i}] {field} {case[field]} not found")
            entries.append(case)
        split[key] = entries
    if not split["training"]:
        raise ValueError(f"{path}: no 'training' cases")
    return split


def nnunet_labels(labels: dict[str, str]) -> dict[str, int]:
    """This project's ``{"0": "background", "1": "liver"}`` -> nnU-Net v2's ``{"background": 0, "liver": 1}``."""
    out = {name: int(value) for value, name in sorted(labels.items(), key=lambda kv: int(kv[0]))}
    if out.get("background") != 0 and 0 not in out.values():
        raise ValueError(f"labels {labels}: nnU-Net needs label 0 (background)")
    if sorted(out.values()) != list(range(len(out))):
        raise ValueError(f"labels {labels}: nnU-Net needs consecutive label values 0..N-1")
    return out


def dataset_folder_name(dataset_id: int, name: str) -> str:
    """``Dataset<ID>_<name>`` with the name reduced to letters, digits and ``-``."""
    if not 1 <= dataset_id <= 999:
        raise ValueError(f"nnU-Net dataset ids have three digits (1-999), got {dataset_id}")
    clean = re.sub(r"[^A-Za-z0-9-]+", "", name.title()) or "Data"
    return f"Dataset{dataset_id:03d}_{clean}"


def _channel_files(image: str, channels: int, out_stem: Path) -> list[Path]:
    """Write ``image`` as nnU-Net's ``<stem>_0000.nii.gz``, ... (a 4D image is split into its channels)."""
    outs = [Path(f"{out_stem}_{c:04d}.nii.gz") for c in range(channels)]
    if channels == 1:
        shutil.copyfile(image, outs[0]) if image.endswith(".nii.gz") else _resave(image, outs[0])
        return outs
    import nibabel as nib
    import numpy as np

    img = nib.load(image)
    data = np.asanyarray(img.dataobj)
    if data.ndim != 4 or data.shape[-1] != channels:
        raise ValueError(
            f"{image}: expected a 4D image with {channels} channels last, got shape {data.shape}"
        )
    for c, out in enumerate(outs):
        nib.save(nib.Nifti1Image(np.ascontiguousarray(data[..., c]), img.affine), str(out))
    return outs


def _resave(image: str, out: Path) -> None:
    import SimpleITK as sitk

    sitk.WriteImage(sitk.ReadImage(image), str(out))


def convert_dataset(
    dataset_dir: str | os.PathLike, raw_root: str | os.PathLike, dataset_id: int = 500
) -> tuple[Path, dict[str, list[str]]]:
    """Write the ``training`` + ``validation`` cases of ``dataset_dir`` as an nnU-Net v2 raw dataset.

    Returns:
        the ``Dataset<ID>_<name>`` folder and ``{"train": [...], "val": [...], "test": [...]}`` case names.
    """
    dataset_dir = Path(dataset_dir)
    manifest = json.loads((dataset_dir / "dataset.json").read_text(encoding="utf-8"))
    split = read_split(dataset_dir)
    labels = nnunet_labels(manifest["labels"])
    modality = manifest.get("modality") or {"0": "image"}
    channels = len(modality)
    folder = Path(raw_root) / dataset_folder_name(dataset_id, str(manifest.get("name") or dataset_dir.name))
    for old in Path(raw_root).glob(f"Dataset{dataset_id:03d}_*"):
        shutil.rmtree(old)  # one dataset per id: nnU-Net refuses two folders with the same id
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "labelsTr").mkdir()
    for entry in split["training"] + split["validation"]:
        if "label" not in entry:
            raise ValueError(f"{entry['image']}: a training/validation case without a label")
        _channel_files(entry["image"], channels, folder / "imagesTr" / entry["case"])
        label_out = folder / "labelsTr" / f"{entry['case']}.nii.gz"
        shutil.copyfile(entry["label"], label_out) if entry["label"].endswith(".nii.gz") else _resave(
            entry["label"], label_out
        )
    dataset_json = {
        "channel_names": {str(k): str(v) for k, v in sorted(modality.items(), key=lambda kv: int(kv[0]))},
        "labels": labels,
        "numTraining": len(split["training"]) + len(split["validation"]),
        "file_ending": ".nii.gz",
        "name": folder.name,
        "description": f"converted from {dataset_dir} by benchmarks/nnunet_train.py",
    }
    (folder / "dataset.json").write_text(json.dumps(dataset_json, indent=2), encoding="utf-8")
    cases = {key: [e["case"] for e in split[name]] for key, name in
             (("train", "training"), ("val", "validation"), ("test", "test"))}  # fmt: skip
    return folder, cases


def write_splits(preprocessed_folder: str | os.PathLike, train: list[str], val: list[str]) -> Path:
    """``splits_final.json`` with one split (fold 0): our training cases train, our validation cases validate."""
    if not train or not val:
        raise ValueError(f"need training and validation cases, got {len(train)} and {len(val)}")
    path = Path(preprocessed_folder) / "splits_final.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([{"train": list(train), "val": list(val)}], indent=2), encoding="utf-8")
    return path


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


# -------------------------------------------------------------------------------------------------- prediction


def predict_cases(model_folder: Path, cases: list[dict], out_dir: Path, channels: int, tmp_dir: Path) -> dict:
    """nnU-Net's predictor as it ships (mirroring on), one case at a time; seconds per case."""
    import torch
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    predictor = nnUNetPredictor(
        tile_step_size=0.5,
        use_gaussian=True,
        use_mirroring=True,
        perform_everything_on_device=False,
        device=torch.device("cpu"),
        verbose=False,
        allow_tqdm=False,
    )
    predictor.initialize_from_trained_model_folder(str(model_folder), use_folds=(FOLD,))
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds = {}
    for entry in cases:
        if channels == 1:
            inputs = [entry["image"]]
        else:
            inputs = [str(p) for p in _channel_files(entry["image"], channels, tmp_dir / entry["case"])]
        tic = time.perf_counter()
        predictor.predict_from_files_sequential(
            [inputs], [str(out_dir / entry["case"])], save_probabilities=False
        )
        seconds[entry["case"]] = round(time.perf_counter() - tic, 3)
        _say(f"predicted {entry['case']} in {seconds[entry['case']]:.1f} s")
    return {
        "mirroring_axes": list(predictor.allowed_mirroring_axes or []),
        "tile_step_size": predictor.tile_step_size,
        "seconds": seconds,
    }


# -------------------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "dataset_dir", type=Path, help="dataset in this project's layout (with datalist.json)"
    )
    parser.add_argument(
        "work_dir", type=Path, help="folder for nnU-Net's raw/preprocessed/results and outputs"
    )
    parser.add_argument(
        "--budget-minutes", type=float, default=30.0, help="training wall-clock budget (default 30)"
    )
    parser.add_argument("--dataset-id", type=int, default=500, help="nnU-Net dataset id (default 500)")
    parser.add_argument(
        "--np", type=int, default=None, help="processes for fingerprint/preprocessing (default: cores)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: the core count)")
    parser.add_argument(
        "--da-processes", type=int, default=None,
        help="nnUNet_n_proc_DA: augmentation processes (default: nnU-Net's own; 0 = in the training process)",
    )  # fmt: skip
    parser.add_argument("--iterations-per-epoch", type=int, default=NNUNET_ITERATIONS, help="(default 250)")
    parser.add_argument(
        "--val-iterations-per-epoch", type=int, default=NNUNET_VAL_ITERATIONS, help="(default 50)"
    )
    parser.add_argument(
        "--min-epochs", type=int, default=10,
        help="shorten epochs when fewer than this many of --iterations-per-epoch fit (default 10)",
    )  # fmt: skip
    parser.add_argument(
        "--probe-iterations", type=int, default=3, help="timed training steps after one warm-up"
    )
    parser.add_argument("--no-predict", action="store_true", help="train only")
    args = parser.parse_args(argv)
    if args.budget_minutes <= 0 or args.probe_iterations < 1:
        parser.error("--budget-minutes must be > 0 and --probe-iterations >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stdout, sys.stdout = sys.stdout, sys.stderr  # nnU-Net prints to stdout; only the JSON line goes there
    work = args.work_dir.resolve()
    cores = os.cpu_count() or 1
    paths = {key: work / key for key in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")}
    for key, path in paths.items():
        path.mkdir(parents=True, exist_ok=True)
        os.environ[key] = str(path)
    if args.da_processes is not None:
        os.environ["nnUNet_n_proc_DA"] = str(args.da_processes)
    np_ = args.np or cores
    import torch

    torch.set_num_threads(args.threads or cores)
    from importlib.metadata import version

    from batchgenerators.utilities.file_and_folder_operations import load_json
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprint_dataset,
        plan_experiment_dataset,
        preprocess_dataset,
    )
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities.default_n_proc_DA import get_allowed_n_proc_DA

    try:
        raw_folder, cases = convert_dataset(args.dataset_dir, paths["nnUNet_raw"], args.dataset_id)
    except (ValueError, KeyError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not cases["val"]:
        print(f"error: {args.dataset_dir}/datalist.json has no validation cases", file=sys.stderr)
        return 2
    name = raw_folder.name
    for stale in ("nnUNet_preprocessed", "nnUNet_results"):
        for old in paths[stale].glob(f"Dataset{args.dataset_id:03d}_*"):
            shutil.rmtree(old)
    _say(
        f"{name}: {len(cases['train'])} training, {len(cases['val'])} validation, {len(cases['test'])} test cases"
    )

    tic = time.time()
    extract_fingerprint_dataset(args.dataset_id, num_processes=np_, check_dataset_integrity=True, clean=True,
                                verbose=False, show_progress_bar=False)  # fmt: skip
    plan_experiment_dataset(args.dataset_id)
    preprocess_dataset(args.dataset_id, PLANS, configurations=(CONFIGURATION,), num_processes=(np_,),
                       show_progress_bar=False)  # fmt: skip
    preprocessed = paths["nnUNet_preprocessed"] / name
    write_splits(preprocessed, cases["train"], cases["val"])
    preprocess_s = time.time() - tic
    _say(f"fingerprint, plans and preprocessing: {preprocess_s:.1f} s")

    plans = load_json(str(preprocessed / f"{PLANS}.json"))
    config = plans["configurations"][CONFIGURATION]
    plans["continue_training"] = False
    dataset_json = load_json(str(preprocessed / "dataset.json"))
    budget_s = args.budget_minutes * 60.0
    t0 = time.time()
    trainer = nnUNetTrainer(plans=plans, configuration=CONFIGURATION, fold=FOLD, dataset_json=dataset_json,
                            device=torch.device("cpu"))  # fmt: skip
    training = train_for_budget(trainer, budget_s, t0, work / "curve.csv", args)
    model_folder = Path(trainer.output_folder_base)
    del trainer
    _say(f"trained {training['epochs_done']} epochs, {training['iterations_done']} iterations in"
         f" {training['train_s']:.0f} s (budget {budget_s:.0f} s)")  # fmt: skip

    prediction = None
    if not args.no_predict and cases["test"]:
        split = read_split(args.dataset_dir)
        prediction = predict_cases(model_folder, split["test"], work / "predictions",
                                   len(dataset_json["channel_names"]), work / "test_inputs")  # fmt: skip
    arch = config.get("architecture", {}).get("arch_kwargs", {})
    result = {
        "nnunetv2": version("nnunetv2"),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "da_processes": get_allowed_n_proc_DA(),
        "dataset": name,
        "cases": {key: len(value) for key, value in cases.items()},
        "plan": {
            "configuration": CONFIGURATION,
            "patch_size": config.get("patch_size"),
            "batch_size": config.get("batch_size"),
            "spacing": config.get("spacing"),
            "features_per_stage": arch.get("features_per_stage"),
            "strides": arch.get("strides"),
        },
        "budget_s": budget_s,
        "preprocess_s": round(preprocess_s, 2),
        **training,
        "model_folder": str(model_folder),
        "predictions_dir": str(work / "predictions") if prediction else None,
        "prediction": prediction,
    }
    (work / "result.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(result), file=stdout, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
