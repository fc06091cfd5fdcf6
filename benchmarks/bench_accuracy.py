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

    python benchmarks/bench_accuracy.py [--budget-minutes 30] [--cases 10] [--test-cases 4] [--size 160 160 64]
        [--work-dir benchmarks/.cache/accuracy] [--quick] [--only nnunet|bundle|all]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_summary, write_section  # noqa: E402
from _worker import REPO, in_fresh_process  # noqa: E402

BUNDLE = "abdominal_mri_attention_unet"
NNUNET_PYTHON = Path(os.environ.get("SEG3D_NNUNET_VENV", REPO / ".venv-nnunet")) / "bin" / "python"
SECTION = "accuracy"
QUICK = {"budget_minutes": 2.0, "cases": 4, "val_cases": 2, "test_cases": 2, "size": [48, 48, 32],
         "min_epochs": 2, "probe_iterations": 5}  # fmt: skip
MARGIN = 0.95  # the bundle's epochs are planned into this share of its budget: a fixed plan cannot adapt


# -------------------------------------------------------------------------------------------------------- data


def dataset_signature(args: argparse.Namespace) -> dict:
    """What defines the benchmark's dataset (a work folder's data is reused when it matches)."""
    return {"task": "abdominal", "difficulty": "realistic", "size": list(args.size), "cases": args.cases,
            "val_cases": args.val_cases, "test_cases": args.test_cases, "seed": args.seed,
            "spacing": list(args.spacing) if args.spacing else None}  # fmt: skip


def split_counts(datalist: dict) -> tuple[int, int, int]:
    return tuple(len(datalist[k]) for k in ("training", "validation", "test"))  # type: ignore[return-value]


def choose_split(dataset_dir: Path, train: int, val: int, test: int, seeds: int = 40) -> dict:
    """Write the ``datalist.json`` (``data_prep.split.split_dataset``: whole patients, seeded) whose case counts
    are ``(train, val, test)``, trying patient shares near the wanted ones and several seeds; the closest with at
    least ``val`` validation and ``test`` test cases when none is exact."""
    from data_prep.split import split_dataset

    manifest = json.loads((dataset_dir / "dataset.json").read_text(encoding="utf-8"))
    n = len({c.get("patient") or c["image"] for c in manifest["training"]})
    total = train + val + test
    shares = sorted(
        ((a, b) for a in range(1, n - 1) for b in range(1, n - a)),
        key=lambda ab: abs(ab[0] - n * test / total) + abs(ab[1] - n * val / total),
    )
    best, best_cost = None, math.inf
    for a, b in shares:  # a test and b validation patients
        proportions = ((n - a - b) / n, b / n, a / n)
        for seed in range(seeds):
            n_train, n_val, n_test = split_counts(
                split_dataset(dataset_dir, proportions=proportions, seed=seed)
            )
            if n_test < test or n_val < val:
                continue
            cost = abs(n_train - train) + abs(n_val - val) + abs(n_test - test)
            if cost < best_cost:
                best, best_cost = (proportions, seed), cost
            if cost == 0:
                return split_dataset(dataset_dir, proportions=proportions, seed=seed)
    if best is None:
        raise RuntimeError(
            f"{dataset_dir}: no patient-level split gives {val} validation and {test} test cases"
        )
    return split_dataset(dataset_dir, proportions=best[0], seed=best[1])


def plan_from_training_cases(dataset_dir: Path, datalist: dict) -> None:
    """Re-make ``fingerprint.json``/``plan.json`` from the training and validation cases only."""
    from data_prep.analyze import analyze_dataset

    manifest_path = dataset_dir / "dataset.json"
    full = manifest_path.read_text(encoding="utf-8")
    manifest = json.loads(full)
    keep = {e["image"] for key in ("training", "validation") for e in datalist[key]}
    manifest["training"] = [c for c in manifest["training"] if c["image"] in keep]
    manifest_path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    try:
        analyze_dataset(dataset_dir, workers=2)
    finally:
        manifest_path.write_text(full, encoding="utf-8")


def make_dataset(work: Path, args: argparse.Namespace) -> Path:
    """The benchmark's dataset under ``work/data`` (reused when its signature matches)."""
    from data_prep.synth import write_synth_dataset

    out = work / "data"
    signature = dataset_signature(args)
    stamp = work / "data_signature.json"
    if out.is_dir() and stamp.is_file() and json.loads(stamp.read_text(encoding="utf-8")) == signature:
        print(f"data: reusing {out}", flush=True)
        return out
    total = args.cases + args.val_cases + args.test_cases
    tic = time.perf_counter()
    write_synth_dataset("abdominal", out, n_cases=total, seed=args.seed, size=tuple(args.size), overwrite=True,
                        workers=2, difficulty="realistic", spacing=tuple(args.spacing) if args.spacing else None)  # fmt: skip
    datalist = choose_split(out, args.cases, args.val_cases, args.test_cases)
    plan_from_training_cases(out, datalist)
    stamp.write_text(json.dumps(signature), encoding="utf-8")
    print(
        f"data: {total} cases of {'x'.join(map(str, args.size))} in {time.perf_counter() - tic:.0f} s, split "
        f"{'/'.join(map(str, split_counts(datalist)))} (training/validation/test)",
        flush=True,
    )
    return out


def link_test_files(dataset_dir: Path, folder: Path, key: str) -> Path:
    """``folder/<file>``: a fresh folder of links to the ``key`` (``image`` or ``label``) files of the test cases."""
    datalist = json.loads((dataset_dir / "datalist.json").read_text(encoding="utf-8"))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for entry in datalist["test"]:
        (folder / Path(entry[key]).name).symlink_to((dataset_dir / entry[key]).resolve())
    return folder


def test_labels_folder(dataset_dir: Path, work: Path) -> Path:
    """``work/test_labels/<case>.nii.gz``: links to the test cases' labels (the scoring's ground truth)."""
    return link_test_files(dataset_dir, work / "test_labels", "label")


# ------------------------------------------------------------------------------------------------------ nnU-Net


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


# ------------------------------------------------------------------------------------------------------ bundle


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
    result = in_fresh_process(__file__, {"task": "predict", **spec})
    return {"predictions_dir": str(out), "seconds": result["seconds"]}


# ------------------------------------------------------------------------------------------------------ scores


def score(pred_dir: Path, gt_dir: Path, class_names: list[str], out_dir: Path, suffix: str) -> dict:
    """Mean test Dice and HD95 (mm) per class and over classes (each case averaged over its classes first)."""
    from bundle_tools.metrics.folders import evaluate_folders
    from bundle_tools.metrics.summary import summarize

    rows = evaluate_folders(pred_dir, gt_dir, class_names, out_dir, pred_suffix=suffix)
    summary = {(r["class"], r["metric"]): r["mean"] for r in summarize(rows)}
    names = class_names[1:]
    return {
        "dice": {n: summary[(n, "dice")] for n in names},
        "hd95_mm": {n: summary[(n, "hd95_mm")] for n in names},
        "mean_dice": summary[("overall", "dice")],
        "mean_hd95_mm": summary[("overall", "hd95_mm")],
        "cases": len({r["case"] for r in rows}),
    }


# ------------------------------------------------------------------------------------------------------ report


def format_table(rows: list[dict], class_names: list[str]) -> str:
    """Markdown: one row per model; per class ``Dice (HD95 mm)``, the means, training and prediction time.

    Each row: ``model``, ``budget_s``, ``train_s``, ``epochs`` (str), ``scores`` (see :func:`score`) and
    ``predict_s`` (mean seconds per case).
    """
    names = class_names[1:]
    head = ("| model | budget (min) | trained (min) | epochs x iterations | "
            + " | ".join(f"{n}: Dice (HD95 mm)" for n in names)
            + " | mean Dice | mean HD95 (mm) | prediction (s/case) |")  # fmt: skip
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        s = r.get("scores")
        cells = [r["model"], f"{r['budget_s'] / 60:.1f}", f"{r['train_s'] / 60:.1f}", r["epochs"]]
        if s is None:  # no checkpoint within the budget
            cells += ["-"] * (len(names) + 3)
        else:
            cells += [*(f"{s['dice'][n]:.3f} ({s['hd95_mm'][n]:.1f})" for n in names),
                      f"{s['mean_dice']:.3f}", f"{s['mean_hd95_mm']:.1f}", f"{r['predict_s']:.1f}"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def target_lines(nnunet: dict | None, full: dict | None, half: dict | None) -> list[str]:
    """The three targets, met or not, from the table rows (None where a row is missing)."""
    if nnunet is None or full is None or nnunet.get("scores") is None or full.get("scores") is None:
        return ["Targets: not evaluated (nnU-Net or the bundle at the full budget has no scores)."]
    ref = nnunet["scores"]["mean_dice"]
    ours = full["scores"]["mean_dice"]
    lines = [f"- Bundle mean test Dice >= nnU-Net's at equal budget: {'met' if ours >= ref else 'not met'} "
             f"({ours:.3f} vs {ref:.3f})."]  # fmt: skip
    if half is not None and half.get("scores") is not None:
        h = half["scores"]["mean_dice"]
        lines.append(f"- Bundle at half the budget within 0.01 of nnU-Net's full-budget Dice: "
                     f"{'met' if h >= ref - 0.01 else 'not met'} ({h:.3f} vs {ref:.3f}, {h - ref:+.3f}).")  # fmt: skip
    speed = nnunet["predict_s"] / full["predict_s"]
    lines.append(f"- Prediction >= 3x faster per case: {'met' if speed >= 3 else 'not met'} "
                 f"({full['predict_s']:.1f} s vs {nnunet['predict_s']:.1f} s, {speed:.1f}x).")  # fmt: skip
    return lines


def plot_curves(curves: dict[str, list[tuple[float, float]]], budgets: dict[str, float], path: Path) -> Path:
    """Validation Dice against wall-clock minutes since each training started -> PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    styles = {"nnU-Net pseudo Dice": dict(color="tab:red", alpha=0.4, marker=".", lw=1),
              "nnU-Net pseudo Dice (EMA)": dict(color="tab:red", marker="o", lw=2)}  # fmt: skip
    for name, points in curves.items():
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, label=name, **styles.get(name, {"marker": "o", "lw": 2}))
    for name, minutes in budgets.items():
        ax.axvline(minutes, color="grey", ls="--", lw=1)
        ax.text(minutes, 0.98, f"{name} ", color="grey", ha="right", va="top")
    ax.set_xlim(0, 1.03 * max([*budgets.values(), *(x for points in curves.values() for x, _ in points)]))
    ax.set_xlabel("wall-clock minutes since the training started")
    ax.set_ylabel("validation Dice (mean over foreground classes)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("nnU-Net: Dice of validation patches; bundle: Dice of whole validation volumes", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


# -------------------------------------------------------------------------------------------------------- main


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


def section_lines(args, command, header, results, rows, class_names, targets, plot) -> list[str]:
    nn, probe = results.get("nnunet"), results.get("bundle_probe")
    size = "x".join(map(str, args.size))
    lines = [
        "## Accuracy at an equal training budget: bundle vs nnU-Net v2",
        "",
        f"- Command: `{command.strip()}`",
        f"- Machine: {header}",
        f"- Date: {time.strftime('%Y-%m-%d')}",
        f'- Data: synthetic abdominal MR, `write_synth_dataset("abdominal", difficulty="realistic")` (deformed '
        f"anatomy, partial volume, strong bias field, overlapping organ contrasts), {size} voxels"
        f"{', spacing ' + 'x'.join(map(str, args.spacing)) + ' mm' if args.spacing else ''}, seed {args.seed}; "
        f"{args.cases} training, {args.val_cases} validation and {args.test_cases} test cases (patient-level split); "
        "plans of both from the training and validation cases only.",
        f"- Budget B = {args.budget_minutes:g} min of wall-clock training each, on this CPU. nnU-Net: its "
        "fingerprint, plans and preprocessing"
        + (f" ({nn['preprocess_s']:.0f} s)" if nn else "")
        + " are not counted; the clock starts at the trainer; `num_epochs` from a timing probe inside the budget, "
        "stopped at B regardless, predicted with `checkpoint_final.pth` and test-time mirroring as it ships"
        + (
            f" (plan: patch {nn['plan']['patch_size']}, batch {nn['plan']['batch_size']}, "
            f"{nn.get('train_step_s', float('nan')):.1f} s per training step, fp32)"
            if nn
            else ""
        )
        + ". Bundle: its train.json defaults except `epochs` (and `iterations_per_epoch` when fewer than "
        f"{args.min_epochs} epochs fit), the clock starts with the process (imports, caching and preprocessing "
        "count), stopped at its budget regardless, predicted with its best-validation checkpoint by inference.json "
        "as it ships"
        + (
            f" (probe: {probe['step_s']:.2f} s per iteration, {probe['epoch_overhead_s']:.0f} s validation per epoch)"
            if probe
            else ""
        )
        + ".",
        "- Scores: `bundle_tools.evaluate_folders` on the test cases, mean over cases of Dice and HD95 (mm, each "
        "case's spacing) per class; mean = each case averaged over its classes, then over cases. Prediction: "
        "seconds per case from reading the image to the written label map, model loaded, mean over the test cases.",
        f"- Validation Dice against wall-clock time: `{plot.relative_to(REPO) if plot.is_relative_to(REPO) else plot}`.",
        "",
        format_table(rows, class_names),
        "",
        *targets,
    ]
    return lines


if __name__ == "__main__":
    sys.exit(main())
