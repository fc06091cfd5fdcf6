"""The report of ``python -m bundle_tools compare``: ``OUTPUT/report/`` from the networks' cross-validations.

Reads, per network, ``OUTPUT/<network>/oof_metrics.csv`` (every non-test case once, scored by the fold
model that did not train on it), ``fold_k/fold.json`` (training and evaluation seconds),
``fold_k/runs/training_curves.csv`` and ``fold_k/eval/overlays/<case>_overlay.png``; writes, atomically:

- ``metrics.csv``: per network, class (and ``overall``) and metric: ``n, mean, std, median, ci_low,
  ci_high`` (95 % percentile bootstrap over cases, 2000 resamples, seeded);
- ``tests.csv``: paired Wilcoxon signed-rank tests between every pair of networks on the cases' scores,
  per class and metric, Holm-corrected over all comparisons of one metric (:mod:`.stats`);
- ``networks.csv``: target, parameters, epochs, training minutes, inference seconds per case;
- ``boxplot_<metric>.png``, ``validation_curves.png``, ``overlays/<case>.png`` (the worst cases first, by
  the mean Dice over classes and networks);
- ``report.md`` and ``report.html`` (self-contained but for those PNGs, linked relatively).
"""

from __future__ import annotations

import csv
import html
import io
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from data_prep.errors import DataPrepError
from data_prep.io import read_json, write_text

from ..metrics.summary import OVERALL
from ..visualize.figures import save_png
from .compare_plots import box_figure, curves_figure, overlay_row_figure
from .stats import METRICS, case_scores, pairwise_tests, summary_table

__all__ = ["mean_curve", "network_rows", "worst_cases", "write_report"]

REPORT_DIR = "report"
WORST_CASES = 4
SHOWN_METRICS = ("dice", "hd95_mm", "assd_mm")  # the report's tables; every metric is in the CSVs


def write_report(
    output: str | Path,
    networks: Sequence[str],
    state: Mapping[str, Any],
    recipe: Sequence[str],
    seed: int = 0,
) -> Path:
    """Write ``output/report/`` for ``networks`` (see the module's docstring); returns the folder.

    Args:
        output: the comparison's folder (``<network>/`` cross-validations in it).
        networks: the compared networks, in the report's order.
        state: ``compare.json``'s content (``networks``: target, args, parameters, inference_seconds,
            device, epochs; ``epochs`` set by the budget; ``budget_minutes``; ``folds``; ``bundle``).
        recipe: the overrides every network trained with, for the report's header.
        seed: the bootstrap's seed.
    """
    output = Path(output)
    report = output / REPORT_DIR
    scores = {n: case_scores(_read_csv(output / n / "oof_metrics.csv")) for n in networks}
    summary = summary_table(scores, seed=seed)
    tests = pairwise_tests(scores)
    costs = network_rows(output, networks, state)
    write_text(_csv(summary), report / "metrics.csv")
    write_text(_csv(tests), report / "tests.csv")
    write_text(_csv(costs), report / "networks.csv")
    classes = list(dict.fromkeys(c for s in scores.values() for c in s))
    for metric in METRICS:
        values = {
            n: {c: list(scores[n].get(c, {}).get(metric, {}).values()) for c in classes} for n in networks
        }
        save_png(box_figure(values, metric), report / f"boxplot_{metric}.png")
    curves = {n: mean_curve(output / n) for n in networks}
    save_png(curves_figure(curves), report / "validation_curves.png")
    overlays = _overlays(output, networks, scores, report)
    blocks = _blocks(
        networks, state, recipe, summary, tests, costs, overlays, any(c[0] for c in curves.values())
    )
    write_text(_markdown(blocks), report / "report.md")
    write_text(_html(blocks), report / "report.html")
    return report


def network_rows(output: Path, networks: Sequence[str], state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per network: target, parameters, epochs, folds done, training minutes (the folds' ``train_seconds``),
    evaluation seconds per case (the folds' evaluation runs over their cases, with loading and start-up)
    and the measured sliding-window seconds per case (``compare.json``)."""
    rows = []
    for name in networks:
        entry = state.get("networks", {}).get(name, {})
        folds = [read_json(p) for p in sorted((output / name).glob("fold_*/fold.json"))]
        cases = sum(f.get("validation_cases", 0) for f in folds)
        rows.append(
            {
                "network": name,
                "target": entry.get("target", ""),
                "parameters": entry.get("parameters", ""),
                "epochs": state.get("epochs") or entry.get("epochs", ""),
                "folds": len(folds),
                "train_minutes": sum(f.get("train_seconds", 0.0) for f in folds) / 60.0
                if folds
                else math.nan,
                "evaluate_seconds_per_case": (
                    sum(f.get("evaluate_seconds", 0.0) for f in folds) / cases if cases else math.nan
                ),
                "inference_seconds_per_case": entry.get("inference_seconds", math.nan),
                "device": entry.get("device", ""),
            }
        )
    return rows


def mean_curve(network_dir: Path, column: str = "val_mean_dice") -> tuple[list, list, list, list]:
    """``(epochs, mean, low, high)`` of ``column`` over the folds' ``runs/training_curves.csv`` (per epoch,
    over the folds that validated in it)."""
    by_epoch: dict[int, list[float]] = {}
    for path in sorted(network_dir.glob("fold_*/runs/training_curves.csv")):
        for row in _read_csv(path):
            value = _float(row.get(column))
            if math.isfinite(value):
                by_epoch.setdefault(int(row["epoch"]), []).append(value)
    epochs = sorted(by_epoch)
    return (
        epochs,
        [statistics.fmean(by_epoch[e]) for e in epochs],
        [min(by_epoch[e]) for e in epochs],
        [max(by_epoch[e]) for e in epochs],
    )


def worst_cases(scores: Mapping[str, Any], count: int | None = WORST_CASES) -> list[tuple[str, float]]:
    """The ``count`` (None: all) cases every network scored, lowest mean Dice over classes and networks
    first."""
    per_network = [s.get(OVERALL, {}).get("dice", {}) for s in scores.values()]
    shared = set.intersection(*(set(d) for d in per_network)) if per_network else set()
    means = {c: statistics.fmean(d[c] for d in per_network) for c in shared}
    return sorted(means.items(), key=lambda item: (item[1] if math.isfinite(item[1]) else -1.0, item[0]))[
        :count
    ]


def _overlays(output: Path, networks: Sequence[str], scores: Mapping, report: Path) -> list[tuple[str, str]]:
    """Tile each network's overlay picture of the worst cases that have one; ``[(case, png name)]``."""
    from matplotlib.image import imread

    written = []
    for case, _ in worst_cases(scores, count=None):
        paths = {n: next(iter(sorted((output / n).glob(f"fold_*/eval/overlays/{case}_overlay.png"))), None)
                 for n in networks}  # fmt: skip
        if not any(paths.values()):
            continue
        panels = []
        for n in networks:
            dice = scores[n][OVERALL]["dice"].get(case, math.nan)
            picture = imread(paths[n]) if paths[n] is not None else None
            panels.append((n, f"mean Dice {dice:.3f}", picture))
        name = f"overlays/{case}.png"
        save_png(overlay_row_figure(case, panels), report / name)
        written.append((case, name))
        if len(written) == WORST_CASES:
            break
    return written


def _blocks(networks, state, recipe, summary, tests, costs, overlays, has_curves) -> list[tuple]:  # noqa: ANN001
    """The report as blocks: ``("h", text)``, ``("p", text)``, ``("table", header, rows)``, ``("img", path)``."""
    folds = state.get("folds", "")
    budget = state.get("budget_minutes")
    blocks: list[tuple] = [
        ("h1", f"Comparison of {', '.join(networks)}"),
        ("p", f"Bundle {Path(str(state.get('bundle', ''))).name}, {folds}-fold cross-validation (patient-level, "
              "test patients held out), the same folds, seed and recipe for every network: "
              f"`{' '.join(recipe) or 'the bundle defaults'}`."),
        ("p", (f"Budget: {budget:g} minutes of training per network, given as the same "
               f"{state.get('epochs')} epoch(s) to every network (from timed training steps); "
               "compare it with the training minutes below.") if budget else
              "No time budget: every network trained the same epochs."),
        ("p", "Scores are out-of-fold: every non-test case once, by the fold model that did not train on it. "
              "Mean ± sample std [95 % bootstrap interval of the mean over cases, 2000 resamples]; "
              "`overall` is each case's mean over its classes."),
        ("h2", "Networks"),
        ("table", ["network", "target", "parameters", "epochs", "folds", "training min",
                   "evaluation s/case", "sliding-window s/case"],
         [[r["network"], r["target"], _int(r["parameters"]), str(r["epochs"]), str(r["folds"]),
           _num(r["train_minutes"]), _num(r["evaluate_seconds_per_case"]),
           f"{_num(r['inference_seconds_per_case'])} ({r['device']})"] for r in costs]),
        ("p", "Training minutes: the folds' trainings. Evaluation s/case: the folds' evaluation runs over their "
              "cases (as trained, with loading and start-up). Sliding-window s/case: one case of the plan's "
              "median shape, random weights, float32, measured by compare on the device named."),
    ]  # fmt: skip
    for metric in SHOWN_METRICS:
        cells: dict[str, dict[str, str]] = {}
        for r in summary:
            if r["metric"] == metric:
                cells.setdefault(r["class"], {})[r["network"]] = (
                    f"{_num(r['mean'])} ± {_num(r['std'])} [{_num(r['ci_low'])}, {_num(r['ci_high'])}]"
                )
        rows = [[c, *(v.get(n, "") for n in networks)] for c, v in cells.items()]
        blocks += [
            ("h2", f"{metric}"),
            ("table", ["class", *networks], rows),
            ("img", f"boxplot_{metric}.png"),
        ]
    blocks += [
        ("h2", "Paired tests"),
        ("p", "Wilcoxon signed-rank, two-sided, on the cases both networks scored; p Holm-corrected over all "
              "pairs and classes of one metric; the effect is the median of (a - b). All metrics: `tests.csv`."),
    ]  # fmt: skip
    shown = [t for t in tests if t["metric"] == "dice" or t["significant"]]
    blocks.append(
        ("table", ["metric", "class", "a", "b", "n", "median a - b", "p", "p (Holm)", "better"],
         [[t["metric"], t["class"], t["network_a"], t["network_b"], str(t["n"]), _num(t["median_diff"]),
           _num(t["p_value"]), _num(t["p_holm"]), t["better"] or "-"] for t in shown])
    )  # fmt: skip
    blocks += [("h2", "Validation curves"), ("img", "validation_curves.png")] if has_curves else []
    if overlays:
        blocks += [("h2", "Worst cases"), ("p", "Ground truth as contours, prediction as fill; worst first.")]
        blocks += [("img", name) for _, name in overlays]
    blocks.append(("p", "Tables: `metrics.csv`, `tests.csv`, `networks.csv`."))
    return blocks


def _markdown(blocks: Sequence[tuple]) -> str:
    lines: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2"):
            lines += [("# " if kind == "h1" else "## ") + block[1], ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "img":
            lines += [f"![{Path(block[1]).stem}]({block[1]})", ""]
        else:
            lines += ["| " + " | ".join(block[1]) + " |", "|" + "---|" * len(block[1])]
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in block[2]] + [""]
    return "\n".join(lines)


def _html(blocks: Sequence[tuple]) -> str:
    body = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{html.escape(block[1])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{_code(block[1])}</p>")
        elif kind == "img":
            body.append(
                f'<p><img src="{html.escape(block[1])}" alt="{html.escape(Path(block[1]).stem)}"></p>'
            )
        else:
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block[1])
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in block[2]
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;"
             "margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:90%}img{max-width:100%}")  # fmt: skip
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>network comparison</title>'
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")  # fmt: skip


def _code(text: str) -> str:
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataPrepError(f"{path}: missing; run compare without --report-only to train this network")
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _csv(rows: Sequence[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) and math.isfinite(v) else v) for k, v in row.items()}
            )
    return buffer.getvalue()


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _num(value: Any) -> str:
    value = _float(value)
    return f"{value:.3g}" if math.isfinite(value) else "-"


def _int(value: Any) -> str:
    return f"{int(value):,}" if isinstance(value, int | float) and math.isfinite(value) else "-"
