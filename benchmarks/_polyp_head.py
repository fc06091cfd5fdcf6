"""The polyp bundle's output head measured: two-class softmax (Dice+CE) against one-channel sigmoid (Dice+BCE).

Used by ``benchmarks/bench_polyp.py --part head``. Both heads train the bundle's network with its defaults for the
same budget and the same seeds, each run in its own ``--bundle_root``; the sigmoid head is the bundle's
``configs/sigmoid_head.json`` passed as ``--args_file`` to the training and the evaluation, as a user passes it.
Every model is scored once on the held-out ``test`` split; the table gives the mean over seeds of the per-picture
mean scores, and a paired Wilcoxon signed-rank test over the test pictures (each picture's Dice averaged over the
seeds). Validation chose the checkpoints, never the test pictures.
"""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import _polyp_study as study
from scipy.stats import wilcoxon

SIGMOID = study.BUNDLE / "configs" / "sigmoid_head.json"
HEADS = {  # key -> (name in the table, args file)
    "softmax": ("2-class softmax, Dice+CE (default)", None),
    "sigmoid": ("1-channel sigmoid, Dice+BCE", SIGMOID),
}


def picture_dice(metrics_csv: Path) -> dict[str, float]:
    """Dice of the polyp class per test picture."""
    with metrics_csv.open(encoding="utf-8", newline="") as f:
        return {row["case"]: float(row["dice"]) for row in csv.DictReader(f) if row["class"] == "polyp"}


def run_head(key: str, seed: int, data: Path, work: Path, epochs: int, iterations: int) -> dict:
    """Train and evaluate one head with one seed (reused when ``work`` already has its ``done.json``)."""
    folder = work / f"{key}_seed{seed}"
    done = folder / "done.json"
    if done.is_file():
        return json.loads(done.read_text(encoding="utf-8"))
    args_file = HEADS[key][1]
    final = folder / "final"
    seed_args = ["--seed", str(seed)]
    train = study.train_command(data, final, study.training_overrides(epochs, iterations) + seed_args,
                                args_file and study.REPO / args_file)  # fmt: skip
    train_s = study.run_logged(train, folder / "train.log")
    evaluate = study.evaluate_command(data, final, [])
    evaluate += ["--args_file", str(args_file)] if args_file else []
    study.run_logged(evaluate, folder / "evaluate.log")
    metrics = final / "eval" / "metrics.csv"
    result = {"key": key, "seed": seed, "train_s": train_s, "scores": study.test_scores(metrics),
              "dice": picture_dice(metrics), "commands": [study.shown(train), study.shown(evaluate)]}  # fmt: skip
    done.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def head_lines(runs: list[dict], seeds: list[int]) -> list[str]:
    """The table of both heads, the paired test and the commands of the first seed, as BENCHMARKS.md lines."""
    rows, per_picture = [], {}
    for key, (name, _) in HEADS.items():
        mine = [r for r in runs if r["key"] == key]
        mean = {m: statistics.fmean(r["scores"][m][0] for r in mine) for m in ("dice", "iou", "hd95_mm")}
        seed_dice = ", ".join(f"{r['scores']['dice'][0]:.3f}" for r in mine)
        minutes = statistics.fmean(r["train_s"] for r in mine) / 60
        rows.append(f"| {name} | {mean['dice']:.3f} ({seed_dice}) | {mean['iou']:.3f} | {mean['hd95_mm']:.1f} |"
                    f" {minutes:.1f} min |")  # fmt: skip
        cases = sorted(mine[0]["dice"])
        per_picture[key] = [statistics.fmean(r["dice"][c] for r in mine) for c in cases]
    diff = [s - m for s, m in zip(per_picture["sigmoid"], per_picture["softmax"], strict=True)]
    p = wilcoxon(per_picture["sigmoid"], per_picture["softmax"]).pvalue
    return [
        "| head | test Dice, mean over seeds (each seed) | test IoU | test HD95 (px) | training per seed |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"Seeds {', '.join(map(str, seeds))}; {len(diff)} test pictures. Paired over pictures (Dice averaged over"
        f" the seeds): median difference sigmoid - softmax {statistics.median(diff):+.3f}, mean"
        f" {statistics.fmean(diff):+.3f}, Wilcoxon signed-rank p = {p:.3g}.",
        "",
        "Commands of one seed (from the repository root):",
        "",
        "```",
        *(c for r in runs if r["seed"] == seeds[0] for c in r["commands"]),
        "```",
    ]
