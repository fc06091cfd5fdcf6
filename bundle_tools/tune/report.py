"""What ``tune`` writes about a study: a table of trials, plots and the best trial's overrides.

In the search's folder, rewritten after every trial (atomically, so a killed tuner leaves whole files):

- ``trials.csv``: trial, state, best metric, epochs, seconds, one column per searched id, note;
- ``trials.md``: the same as a Markdown table, with the space and the best trial;
- ``metric_per_trial.png``: the best metric of each trial and the best so far;
- ``param_importances.png``: Optuna's importances (fANOVA, or PED-ANOVA without scikit-learn), from 2
  complete trials on, when it can compute them;
- ``best_training_curves.png`` (and ``.csv``): the best trial's curves, copied from its ``runs/``;
- ``best_overrides.json``: the best trial's values, ``{config id: value}``, the form
  ``python -m monai.bundle run ... --args_file best_overrides.json`` reads.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from data_prep.io import write_bytes, write_json, write_text

from .space import SearchSpace
from .trial_runner import CURVES_CSV

__all__ = ["best_trial", "trial_rows", "trials_csv", "trials_markdown", "write_reports"]

log = logging.getLogger(__name__)

_STATES = {
    "COMPLETE": "complete",
    "PRUNED": "pruned",
    "FAIL": "failed",
    "RUNNING": "running",
    "WAITING": "waiting",
}


def trial_rows(
    trials: Sequence[FrozenTrial], space: SearchSpace, metric: str, maximize: bool = True
) -> list[dict]:
    """One plain dict per trial, in trial order: ``trial``, ``state``, ``metric`` (its best value),
    ``epochs``, ``seconds``, ``overrides`` (``{id: value}``), ``note`` (a failed trial's error, a retry)."""
    retries = {
        t.user_attrs.get("retry_of"): t.number for t in trials if t.user_attrs.get("retry_of") is not None
    }
    rows = []
    for t in sorted(trials, key=lambda t: t.number):
        best = t.user_attrs.get("best")
        if best is None and t.intermediate_values:
            values = [v for v in t.intermediate_values.values() if math.isfinite(v)]
            best = (max if maximize else min)(values) if values else None
        state = _STATES.get(t.state.name, t.state.name.lower())
        notes = []
        if t.user_attrs.get("interrupted"):
            state = "interrupted"
        if t.user_attrs.get("retry_of") is not None:
            notes.append(f"retry of trial {t.user_attrs['retry_of']}")
        if t.number in retries:
            notes.append(f"run again as trial {retries[t.number]}")
        if t.user_attrs.get("error"):
            notes.append(str(t.user_attrs["error"]))
        rows.append(
            {
                "trial": t.number,
                "state": state,
                "metric": best,
                "epochs": t.user_attrs.get("epochs", len(t.intermediate_values)),
                "seconds": t.user_attrs.get("seconds"),
                "overrides": t.user_attrs.get("overrides") or space.decode(t.params),
                "note": "; ".join(notes),
            }
        )
    return rows


def trials_csv(rows: Sequence[Mapping[str, Any]], space: SearchSpace, metric: str) -> str:
    """The CSV text of :func:`trial_rows` (the metric column is named after the metric)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["trial", "state", metric, "epochs", "seconds", *space.ids, "note"])
    for row in rows:
        cells = [row["metric"], row["epochs"], row["seconds"], *(row["overrides"].get(i) for i in space.ids)]
        writer.writerow([row["trial"], row["state"], *(_cell(v, precise=True) for v in cells), row["note"]])
    return text.getvalue()


def trials_markdown(
    rows: Sequence[Mapping[str, Any]], space: SearchSpace, metric: str, title: str, best: FrozenTrial | None
) -> str:
    """A Markdown page: the space, the best trial and a table of every trial."""
    lines = [f"# {title}", "", "Search space:", ""]
    lines += [f"- `{p.id}`: {p.describe()}" for p in space.params]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    lines += ["", "Trials: " + (", ".join(f"{n} {s}" for s, n in counts.items()) or "none"), ""]
    if best is not None:
        lines += [
            f"Best: trial {best.number}, {metric} {_number(best.value)} "
            f"({_overrides_text(best.user_attrs.get('overrides', {}))}), in `best_overrides.json`.",
            "",
        ]
    lines += [
        f"| trial | state | {metric} | epochs | seconds | overrides | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [
            str(row["trial"]),
            row["state"],
            _number(row["metric"]),
            _cell(row["epochs"]),
            _cell(row["seconds"]),
            _overrides_text(row["overrides"]),
            row["note"],
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The best complete trial, or None while there is none."""
    try:
        return study.best_trial
    except ValueError:
        return None


def write_reports(
    study: optuna.Study, space: SearchSpace, metric: str, output: Path, title: str
) -> list[Path]:
    """Write the tables, plots, best curves and ``best_overrides.json`` of ``study`` into ``output``."""
    trials = study.get_trials(deepcopy=False)
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    rows = trial_rows(trials, space, metric, maximize)
    best = best_trial(study)
    written = [
        write_text(trials_csv(rows, space, metric), output / "trials.csv"),
        write_text(trials_markdown(rows, space, metric, title, best), output / "trials.md"),
    ]
    from ..visualize.figures import save_png
    from .plots import importance_figure, metric_figure

    written.append(save_png(metric_figure(rows, metric, maximize), output / "metric_per_trial.png"))
    method, importances = param_importances(study)
    if importances:
        written.append(save_png(importance_figure(importances, method), output / "param_importances.png"))
    if best is not None:
        written.append(
            write_json(
                best.user_attrs.get("overrides") or space.decode(best.params), output / "best_overrides.json"
            )
        )
        curves = output / "trials" / f"{best.number:04d}" / CURVES_CSV
        for source in (curves.with_suffix(".png"), curves):
            if source.is_file():
                written.append(write_bytes(source.read_bytes(), output / f"best_{source.name}"))
    return written


def param_importances(study: optuna.Study) -> tuple[str, dict[str, float]]:
    """Optuna's parameter importances from 2 complete trials on, and the method's name: fANOVA where
    scikit-learn is installed, else PED-ANOVA (no dependency); ``("", {})`` when they cannot be computed."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return "", {}
    try:
        import sklearn  # noqa: F401  (fANOVA's forest)

        method, evaluator = "fANOVA", optuna.importance.FanovaImportanceEvaluator(seed=0)
    except ImportError:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            method, evaluator = "PED-ANOVA", optuna.importance.PedAnovaImportanceEvaluator()
    try:
        return method, dict(optuna.importance.get_param_importances(study, evaluator=evaluator))
    except (RuntimeError, ValueError, ZeroDivisionError) as err:  # e.g. every trial drew the same values
        log.info("no parameter importances: %s", err)
        return "", {}


def _cell(value: Any, precise: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if precise and math.isfinite(value) else _number(value)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _overrides_text(overrides: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_cell(v)}" for k, v in overrides.items())
