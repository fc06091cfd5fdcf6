"""Accuracy at an equal wall-clock training budget on this machine: the abdominal bundle vs nnU-Net v2 (issue 13).

Both train on the same synthetic cases for the same budget ``B`` and predict the same held-out test cases:

- data: ``write_synth_dataset("abdominal", difficulty="realistic")`` (deformed anatomy, partial volume, strong
  bias field, organ contrasts that overlap; ``data_prep/synth/phantoms.py``), ``--cases`` training,
  ``--val-cases`` validation and ``--test-cases`` test cases in ``datalist.json`` (a patient-level
  ``split_dataset`` whose counts match), and ``plan.json`` re-made from the training and validation cases
  only (nnU-Net's fingerprint sees no test case either).
- nnU-Net v2 ``3d_fullres``: ``benchmarks/nnunet_train.py`` in ``.venv-nnunet`` (``make nnunet-env``): its own
  fingerprint, plans and preprocessing (not counted in ``B``), ``nnUNetTrainer`` on the CPU for ``B`` with our
  validation cases as its validation fold and ``num_epochs`` planned from a timing probe inside the budget,
  stopped at ``B`` regardless (a step that would end after ``B`` is not started); prediction as it ships
  (mirroring on) from ``checkpoint_final.pth``.
- the bundle ``bundles/abdominal_mri_attention_unet``, copied to the work folder and trained with
  ``python -m monai.bundle run training --config_file <copy>/configs/train.json --dataset_dir D --epochs E``
  (its defaults otherwise), in a fresh process, for ``B`` and again for ``B/2``; ``E`` comes from a short probe
  run (2 epochs of a few iterations, timed from its TensorBoard events): start-up, seconds per iteration and
  the validation and end-of-epoch cost, planned into 95 % of the budget (a fixed plan cannot adapt). The clock
  starts when the process starts (imports, data caching and preprocessing count) and the process is stopped
  at its budget regardless. Prediction: the copy's
  ``inference.json`` (its defaults; best checkpoint ``models/model.pt``) in a fresh process, each case timed
  from the loader's fetch to the written file.
- scores: ``bundle_tools.evaluate_folders`` (Dice and HD95 in mm per class, each case's own spacing) of every
  model's predictions against the test labels.

When fewer than ``--min-epochs`` epochs of a side's default length fit its budget, its epochs are shortened
(same learning-rate schedule over the same iterations, more validation points): nnU-Net keeps its 250:50 ratio
of training to validation iterations, the bundle changes ``iterations_per_epoch``.

Output: a markdown table (stdout, and BENCHMARKS.md between ``<!-- accuracy:start -->`` and
``<!-- accuracy:end -->`` once every model has test scores on this data, never with ``--quick`` or
``--no-write``) and a PNG of validation Dice against wall-clock minutes for both (``--plot``, default
``benchmarks/accuracy_curves.png``): nnU-Net's pseudo Dice of validation patches and its EMA, the bundle's mean
Dice of whole validation volumes. Every result is kept in ``--work-dir``/``results.json`` with the data and
budget it was measured with, so ``--only nnunet`` and a later ``--only bundle`` with the same data and budget
make one table.

The parts: ``_accuracy_data.py`` (data, split, plan), ``_accuracy_bundle.py`` (the bundle's probe, budgeted
training and prediction), ``_accuracy_report.py`` (scores, table, curves, section); nnU-Net's side runs in its
own environment (``nnunet_train.py``).

    python benchmarks/bench_accuracy.py [--budget-minutes 30] [--cases 10] [--test-cases 4] [--size 160 160 64]
        [--work-dir benchmarks/.cache/accuracy] [--quick] [--only nnunet|bundle|all]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _accuracy_bundle import (  # noqa: E402
    BUNDLE,
    bundle_epochs,
    predict_bundle,
    predict_bundle_worker,
    probe_bundle,
    probe_timing,
    train_bundle,
)
from _accuracy_data import choose_split, dataset_signature, make_dataset, split_counts, test_labels_folder  # noqa: E402
from _accuracy_report import format_table, plot_curves, score, section_lines, target_lines  # noqa: E402
from _report import machine_summary, write_section  # noqa: E402
from _worker import REPO  # noqa: E402

__all__ = [
    "bundle_epochs",
    "choose_split",
    "format_table",
    "plot_curves",
    "probe_timing",
    "split_counts",
    "target_lines",
]  # the parts the tests use; they live in _accuracy_data.py, _accuracy_bundle.py and _accuracy_report.py

NNUNET_PYTHON = Path(os.environ.get("SEG3D_NNUNET_VENV", REPO / ".venv-nnunet")) / "bin" / "python"
SECTION = "accuracy"
QUICK = {"budget_minutes": 2.0, "cases": 4, "val_cases": 2, "test_cases": 2, "size": [48, 48, 32],
         "min_epochs": 2, "probe_iterations": 5}  # fmt: skip


def clean_env() -> dict[str, str]:
    """The environment of a process of the nnU-Net venv: no PYTHONPATH (so nothing of the project)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    env["PYTHONWARNINGS"] = "ignore"
    return env


def run_nnunet(dataset_dir: Path, work: Path, budget_s: float, args: argparse.Namespace) -> dict:
    """``nnunet_train.py`` in ``.venv-nnunet``; its JSON result, with the log at ``work/nnunet.log``."""
    if not NNUNET_PYTHON.is_file():
        raise RuntimeError(f"{NNUNET_PYTHON} not found: run `make nnunet-env` first")
    cmd = [str(NNUNET_PYTHON), str(REPO / "benchmarks" / "nnunet_train.py"), str(dataset_dir), str(work / "nnunet"),
           "--budget-minutes", f"{budget_s / 60:.4f}", "--min-epochs", str(args.min_epochs),
           "--probe-iterations", str(min(args.probe_iterations, 3))]  # fmt: skip
    print(
        f"nnU-Net: training {budget_s / 60:.1f} min, then predicting (log: {work / 'nnunet.log'})", flush=True
    )
    with (work / "nnunet.log").open("w", encoding="utf-8") as log:
        proc = subprocess.run(cmd, cwd=work, env=clean_env(), stdout=subprocess.PIPE, stderr=log, text=True)
    if proc.returncode != 0:
        tail = (work / "nnunet.log").read_text(encoding="utf-8")[-3000:]
        raise RuntimeError(f"nnunet_train.py failed ({proc.returncode}):\n{tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget-minutes", type=float, default=30.0, help="training budget B (default 30)")
    parser.add_argument("--cases", type=int, default=10, help="training cases (default 10)")
    parser.add_argument("--val-cases", type=int, default=2, help="validation cases (default 2)")
    parser.add_argument("--test-cases", type=int, default=4, help="held-out test cases (default 4)")
    parser.add_argument("--size", type=int, nargs=3, default=[160, 160, 64], metavar=("X", "Y", "Z"),
                        help="volume size (default 160 160 64)")  # fmt: skip
    parser.add_argument("--spacing", type=float, nargs=3, default=None, metavar=("X", "Y", "Z"),
                        help="voxel spacing of every case in mm, e.g. 1.5 1.5 6 with few slices (default: drawn)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the split (default 0)")
    parser.add_argument("--min-epochs", type=int, default=5,
                        help="shorten epochs when fewer than this many fit a budget (default 5)")  # fmt: skip
    parser.add_argument("--probe-iterations", type=int, default=10,
                        help="iterations per epoch of the bundle's 2-epoch probe (default 10); nnU-Net times "
                             "up to 3 of its steps")  # fmt: skip
    parser.add_argument("--work-dir", type=Path, default=REPO / "benchmarks" / ".cache" / "accuracy",
                        help="data, models, predictions, logs and results.json (default benchmarks/.cache/accuracy)")  # fmt: skip
    parser.add_argument("--plot", type=Path, default=None,
                        help="PNG of the curves (default: benchmarks/accuracy_curves.png; --quick: in --work-dir)")  # fmt: skip
    parser.add_argument("--only", choices=("nnunet", "bundle", "all"), default="all",
                        help="train and score one side only; results of the other from an earlier run on the same "
                             "data still make the table (default all)")  # fmt: skip
    parser.add_argument(
        "--quick", action="store_true", help="tiny data and a 2-minute budget; never writes BENCHMARKS.md"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
        args.no_write = True
    if min(args.cases, args.val_cases, args.test_cases, args.min_epochs) < 1 or args.budget_minutes <= 0:
        parser.error("need --cases, --val-cases, --test-cases, --min-epochs >= 1 and --budget-minutes > 0")
    if args.probe_iterations < 2:
        parser.error("--probe-iterations must be at least 2")
    return args


def load_results(work: Path, signature: dict) -> dict:
    """The results kept in ``work/results.json`` when they were measured on ``signature`` (data and budget)."""
    path = work / "results.json"
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved.get("data") == signature:
            return saved
    return {"data": signature}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        if spec.pop("task") == "predict":
            print(json.dumps(predict_bundle_worker(**spec)))
        return 0
    if args.only in ("nnunet", "all") and not NNUNET_PYTHON.is_file():
        print(f"error: {NNUNET_PYTHON} not found: run `make nnunet-env` (or --only bundle)", file=sys.stderr)
        return 2
    header = machine_summary("the start")
    command = "python benchmarks/bench_accuracy.py " + " ".join(a for a in sys.argv[1:])
    work = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    budget_s = args.budget_minutes * 60.0
    dataset_dir = make_dataset(work, args)
    class_names = [n for _, n in sorted(json.loads((dataset_dir / "dataset.json").read_text(encoding="utf-8"))
                                        ["labels"].items(), key=lambda kv: int(kv[0]))]  # fmt: skip
    gt = test_labels_folder(dataset_dir, work)
    results = load_results(work, {**dataset_signature(args), "budget_minutes": args.budget_minutes,
                                  "min_epochs": args.min_epochs})  # fmt: skip

    def save() -> None:
        (work / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")

    if args.only in ("nnunet", "all"):
        nn = run_nnunet(dataset_dir, work, budget_s, args)
        nn["scores"] = score(Path(nn["predictions_dir"]), gt, class_names, work / "scores" / "nnunet", "")
        results["nnunet"] = nn
        save()
    if args.only in ("bundle", "all"):
        probe = probe_bundle(work, dataset_dir, args.probe_iterations)
        results["bundle_probe"] = probe
        for name, share in (("bundle_full", 1.0), ("bundle_half", 0.5)):
            run = train_bundle(work, name, dataset_dir, budget_s * share, probe, args.min_epochs)
            if run["has_checkpoint"]:
                run.update(predict_bundle(work, run, dataset_dir))
                run["scores"] = score(
                    Path(run["predictions_dir"]), gt, class_names, work / "scores" / name, "_seg"
                )
            else:
                print(f"bundle {name}: stopped at its budget before its first validation (no checkpoint)")
            results[name] = run
            save()

    rows, curves = [], {}
    nn, full, half = results.get("nnunet"), results.get("bundle_full"), results.get("bundle_half")
    if nn:
        rows.append({"model": "nnU-Net v2 3d_fullres", "budget_s": nn["budget_s"], "train_s": nn["train_s"],
                     "epochs": f"{nn['epochs_done']} x {nn.get('iterations_per_epoch', '?')}", "scores": nn["scores"],
                     "predict_s": statistics.fmean(nn["prediction"]["seconds"].values())})  # fmt: skip
        curves["nnU-Net pseudo Dice"] = [(c["seconds"] / 60, c["mean_fg_dice"]) for c in nn["curve"]]
        curves["nnU-Net pseudo Dice (EMA)"] = [(c["seconds"] / 60, c["ema_fg_dice"]) for c in nn["curve"]]
    for label, run in (("bundle (B)", full), ("bundle (B/2)", half)):
        if run:
            rows.append({"model": f"{BUNDLE} {label}", "budget_s": run["budget_s"], "train_s": run["train_s"],
                         "epochs": f"{run['epochs_done']} x {run['iterations_per_epoch']}",
                         "scores": run.get("scores"),
                         "predict_s": statistics.fmean(run["seconds"].values()) if "seconds" in run else None})  # fmt: skip
            curves[f"{label} val mean Dice"] = [(c["seconds"] / 60, c["val_mean_dice"]) for c in run["curve"]]
    plot = args.plot or (
        work / "accuracy_curves.png" if args.quick else REPO / "benchmarks" / "accuracy_curves.png"
    )
    plot_curves(curves, {"B": budget_s / 60, "B/2": budget_s / 120}, plot)
    by_model = {r["model"]: r for r in rows}
    targets = target_lines(by_model.get("nnU-Net v2 3d_fullres"), by_model.get(f"{BUNDLE} bundle (B)"),
                           by_model.get(f"{BUNDLE} bundle (B/2)"))  # fmt: skip
    table = "\n".join(section_lines(args, command, header, results, rows, class_names, targets, plot))
    print(table)
    complete = all(results.get(k, {}).get("scores") for k in ("nnunet", "bundle_full", "bundle_half"))
    if not args.no_write and complete:  # both sides scored on this data (in this run or an earlier --only)
        write_section(REPO / "BENCHMARKS.md", SECTION, table)
    elif not args.no_write:
        print("BENCHMARKS.md left unchanged: not every model has test scores on this data yet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
