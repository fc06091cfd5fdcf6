"""The statistics of a network comparison: bootstrap confidence intervals, paired Wilcoxon tests, Holm.

Pure functions on plain numbers, so each is checked against SciPy and by hand on known inputs:

* :func:`case_scores` - an out-of-fold table (rows of ``oof_metrics.csv``) as ``{class: {metric: {case:
  value}}}``, with the class ``overall`` (each case's mean over its classes, as ``summary.csv``);
* :func:`bootstrap_ci` - the percentile bootstrap interval of a mean (cases resampled, seeded);
* :func:`paired_wilcoxon` - SciPy's two-sided Wilcoxon signed-rank test on the cases two networks share,
  with the effect as the median paired difference;
* :func:`holm` - Holm's step-down adjustment of a family of p-values;
* :func:`summary_table` and :func:`pairwise_tests` - the rows of the report's ``metrics.csv`` and
  ``tests.csv``: every pair of networks, per class and metric, Holm-corrected over all the comparisons of
  one metric (all pairs and classes).

Non-finite scores (a distance to an empty mask) are left out of every statistic; ``n`` counts what is used.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..metrics.summary import METRIC_COLUMNS, OVERALL

__all__ = [
    "HIGHER_IS_BETTER",
    "METRICS",
    "bootstrap_ci",
    "case_scores",
    "holm",
    "paired_wilcoxon",
    "pairwise_tests",
    "summary_table",
]

METRICS: tuple[str, ...] = tuple(METRIC_COLUMNS.values())
"""The metric columns of an out-of-fold table: dice, iou, precision, recall, hd95_mm, assd_mm."""

HIGHER_IS_BETTER: dict[str, bool] = {m: not m.endswith("_mm") for m in METRICS}
"""Whether a larger value is better (overlaps) or worse (distances in mm)."""

Scores = Mapping[str, Mapping[str, Mapping[str, float]]]  # {class: {metric: {case: value}}}


def case_scores(rows: Iterable[Mapping[str, Any]], metrics: Sequence[str] = METRICS) -> dict:
    """``{class: {metric: {case: value}}}`` of out-of-fold rows, classes in label order, then ``overall``.

    Args:
        rows: rows with ``case``, ``class_index``, ``class`` and the ``metrics`` columns (strings or numbers).
        metrics: the columns to read.
    """
    by_class: dict[tuple[int, str], dict[str, dict[str, float]]] = {}
    by_case: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        key = (int(row["class_index"]), str(row["class"]))
        for m in metrics:
            value = _float(row.get(m))
            by_class.setdefault(key, {k: {} for k in metrics})[m][str(row["case"])] = value
            by_case.setdefault(str(row["case"]), {k: [] for k in metrics})[m].append(value)
    scores = {name: values for (_, name), values in sorted(by_class.items())}
    if by_case:
        scores[OVERALL] = {m: {c: statistics.fmean(v[m]) for c, v in by_case.items()} for m in metrics}
    return scores


def bootstrap_ci(
    values: Sequence[float], resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean of ``values`` (resampled with replacement).

    Args:
        values: one score per case (non-finite values are left out).
        resamples: bootstrap samples drawn.
        confidence: the interval's coverage, e.g. 0.95.
        seed: seed of NumPy's generator; the same seed and values give the same interval.

    Returns:
        ``(low, high)``; ``(v, v)`` for one value, ``(nan, nan)`` for none.
    """
    x = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if x.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, (alpha, 1.0 - alpha))
    return float(low), float(high)


def paired_wilcoxon(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    """Two-sided Wilcoxon signed-rank test of ``a - b`` over the cases both score (finite in both).

    Args:
        a: ``{case: score}`` of the first network.
        b: ``{case: score}`` of the second.

    Returns:
        ``n`` (paired cases), ``median_diff`` (median of ``a - b``), ``statistic`` and ``p_value`` as
        ``scipy.stats.wilcoxon(a, b)``; ``p_value`` is 1 when every difference is 0 and nan without pairs.
    """
    from scipy.stats import wilcoxon

    cases = [c for c in a if c in b and math.isfinite(a[c]) and math.isfinite(b[c])]
    diffs = np.asarray([a[c] - b[c] for c in cases], dtype=float)
    result = {"n": len(cases), "median_diff": math.nan, "statistic": math.nan, "p_value": math.nan}
    if not cases:
        return result
    result["median_diff"] = float(np.median(diffs))
    if not np.any(diffs != 0):
        result["p_value"] = 1.0  # no case differs: no evidence of a difference
        return result
    test = wilcoxon([a[c] for c in cases], [b[c] for c in cases])
    result["statistic"], result["p_value"] = float(test.statistic), float(test.pvalue)
    return result


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input's order (nan stays nan and is not counted).

    Sorted ascending, the i-th smallest of m p-values becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``.
    """
    finite = sorted((p, i) for i, p in enumerate(p_values) if math.isfinite(p))
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(finite):
        running = max(running, min(1.0, (len(finite) - rank) * p))
        adjusted[i] = running
    return adjusted


def summary_table(
    scores: Mapping[str, Scores], resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> list[dict[str, Any]]:
    """Rows ``network, class, metric, n, mean, std, median, ci_low, ci_high`` per network, class, metric.

    ``std`` is the sample standard deviation (0 for one case); the interval is :func:`bootstrap_ci`.

    Args:
        scores: ``{network: case_scores(...)}``.
        resamples: bootstrap samples.
        confidence: the interval's coverage.
        seed: the bootstrap's seed (the same for every row).
    """
    rows = []
    for network, by_class in scores.items():
        for name, by_metric in by_class.items():
            for metric, by_case in by_metric.items():
                x = [v for v in by_case.values() if math.isfinite(v)]
                low, high = bootstrap_ci(x, resamples, confidence, seed)
                rows.append(
                    {
                        "network": network,
                        "class": name,
                        "metric": metric,
                        "n": len(x),
                        "mean": statistics.fmean(x) if x else math.nan,
                        "std": statistics.stdev(x) if len(x) > 1 else (0.0 if x else math.nan),
                        "median": statistics.median(x) if x else math.nan,
                        "ci_low": low,
                        "ci_high": high,
                    }
                )
    return rows


def pairwise_tests(scores: Mapping[str, Scores], alpha: float = 0.05) -> list[dict[str, Any]]:
    """Rows of ``tests.csv``: a paired Wilcoxon test per pair of networks, class and metric.

    Columns ``metric, class, network_a, network_b, n, median_diff`` (``a - b``), ``statistic, p_value,
    p_holm`` (Holm over all rows of the metric; with one class, its ``overall`` copy is not tested again),
    ``significant`` (``p_holm < alpha``) and ``better`` (the
    network with the better median difference when significant, else empty).

    Args:
        scores: ``{network: case_scores(...)}``, at least two networks.
        alpha: the family-wise error rate per metric.
    """
    rows = []
    for a, b in itertools.combinations(scores, 2):
        classes = [c for c in scores[a] if c in scores[b]]
        if len(classes) == 2 and OVERALL in classes:  # one class: `overall` repeats it; no second test
            classes.remove(OVERALL)
        for name in classes:
            for metric, by_case in scores[a][name].items():
                if metric in scores[b][name]:
                    test = paired_wilcoxon(by_case, scores[b][name][metric])
                    rows.append({"metric": metric, "class": name, "network_a": a, "network_b": b, **test})
    metric_order = {m: i for i, m in enumerate(dict.fromkeys(r["metric"] for r in rows))}
    class_order = {c: i for i, c in enumerate(dict.fromkeys(r["class"] for r in rows))}
    rows.sort(key=lambda r: (metric_order[r["metric"]], class_order[r["class"]]))  # pairs stay in order
    for metric in metric_order:
        family = [r for r in rows if r["metric"] == metric]
        for row, p in zip(family, holm([r["p_value"] for r in family]), strict=True):
            row["p_holm"] = p
            row["significant"] = bool(math.isfinite(p) and p < alpha)
            row["better"] = ""
            if row["significant"] and row["median_diff"] != 0:
                a_better = (row["median_diff"] > 0) == HIGHER_IS_BETTER.get(metric, True)
                row["better"] = row["network_a"] if a_better else row["network_b"]
    return rows


def _float(value: Any) -> float:
    if value is None or value == "":
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
