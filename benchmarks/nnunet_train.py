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

The parts: ``_nnunet_dataset.py`` (steps 1 and 3), ``_nnunet_budget.py`` (steps 4 and 5); here steps 2 and 6.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _nnunet_budget import NNUNET_ITERATIONS, NNUNET_VAL_ITERATIONS, _say, plan_epochs, train_for_budget  # noqa: E402
from _nnunet_dataset import (  # noqa: E402
    _channel_files,
    convert_dataset,
    dataset_folder_name,
    nnunet_labels,
    read_split,
    write_splits,
)

__all__ = [
    "convert_dataset",
    "dataset_folder_name",
    "nnunet_labels",
    "plan_epochs",
    "read_split",
    "write_splits",
]

CONFIGURATION = "3d_fullres"
PLANS = "nnUNetPlans"
FOLD = 0

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
