"""Scores, table, targets, curves and the BENCHMARKS.md section of ``benchmarks/bench_accuracy.py``."""

from __future__ import annotations

import time
from pathlib import Path

from _worker import REPO


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
