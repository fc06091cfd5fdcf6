"""The comparison's statistics: Wilcoxon as SciPy computes it, Holm as done by hand, a seeded bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import wilcoxon

from bundle_tools.experiments.stats import (
    bootstrap_ci,
    case_scores,
    holm,
    paired_wilcoxon,
    pairwise_tests,
    summary_table,
)

A = {"c1": 0.91, "c2": 0.85, "c3": 0.78, "c4": 0.88, "c5": 0.93, "c6": 0.70, "c7": 0.82, "c8": 0.95}
B = {"c1": 0.80, "c2": 0.84, "c3": 0.70, "c4": 0.81, "c5": 0.90, "c6": 0.72, "c7": 0.75, "c8": 0.86}


def test_paired_wilcoxon_equals_scipy_on_the_shared_finite_cases():
    a = {**A, "only_a": 0.5, "nan_case": math.nan}
    b = {**B, "only_b": 0.1, "nan_case": 0.3}
    result = paired_wilcoxon(a, b)
    expected = wilcoxon([A[c] for c in A], [B[c] for c in A])
    assert result["n"] == 8
    assert result["statistic"] == pytest.approx(expected.statistic)
    assert result["p_value"] == pytest.approx(expected.pvalue)
    assert result["median_diff"] == pytest.approx(np.median([A[c] - B[c] for c in A]))


def test_paired_wilcoxon_of_identical_scores_is_not_significant_and_of_nothing_is_nan():
    assert paired_wilcoxon(A, dict(A))["p_value"] == 1.0
    assert paired_wilcoxon(A, dict(A))["median_diff"] == 0.0
    empty = paired_wilcoxon(A, {"other": 1.0})
    assert empty["n"] == 0 and math.isnan(empty["p_value"])


def test_holm_matches_the_step_down_done_by_hand():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> monotone 0.06)
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1
    adjusted = holm([0.01, math.nan, 0.02])
    assert (
        adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.02)
    )


def test_bootstrap_ci_covers_the_mean_and_is_reproducible_with_the_seed():
    values = list(np.random.default_rng(3).normal(0.8, 0.05, size=30))
    low, high = bootstrap_ci(values, seed=7)
    assert low < float(np.mean(values)) < high
    assert bootstrap_ci(values, seed=7) == (low, high)
    assert bootstrap_ci(values, seed=8) != (low, high)
    wider = bootstrap_ci(values, confidence=0.99, seed=7)
    assert wider[0] <= low and wider[1] >= high
    assert bootstrap_ci([0.4], seed=0) == (0.4, 0.4)
    assert all(math.isnan(v) for v in bootstrap_ci([math.nan]))


def _rows(scores: dict[str, float], shift: float = 0.0) -> list[dict]:
    rows = []
    for case, v in scores.items():
        for index, name, offset in ((1, "liver", 0.0), (2, "spleen", -0.1)):
            rows.append({"case": case, "class_index": index, "class": name, "dice": v + offset + shift,
                         "hd95_mm": 10 * (1 - v) + index})  # fmt: skip
    return rows


def test_case_scores_adds_the_overall_class_as_the_mean_of_each_case():
    scores = case_scores(_rows(A), metrics=("dice", "hd95_mm"))
    assert list(scores) == ["liver", "spleen", "overall"]
    assert scores["overall"]["dice"]["c1"] == pytest.approx(0.91 - 0.05)


def test_pairwise_tests_apply_holm_over_all_classes_and_pairs_of_one_metric():
    metrics = ("dice", "hd95_mm")
    scores = {
        "unet": case_scores(_rows(A), metrics),
        "cbam": case_scores(_rows(B), metrics),
        "attn": case_scores(_rows(B, shift=0.01), metrics),
    }
    rows = pairwise_tests(scores)
    assert len(rows) == 3 * 3 * 2  # pairs x classes x metrics
    dice = [r for r in rows if r["metric"] == "dice"]
    assert [r["p_holm"] for r in dice] == pytest.approx(holm([r["p_value"] for r in dice]))
    first = dice[0]
    assert (first["network_a"], first["network_b"], first["class"]) == ("unet", "cbam", "liver")
    assert first["p_value"] == pytest.approx(wilcoxon(list(A.values()), list(B.values())).pvalue)
    assert not any(r["significant"] for r in rows)  # 8 cases, 9 comparisons per metric: too few


def test_a_network_better_on_every_case_is_named_better_for_overlaps_and_distances():
    good = {f"c{i}": 0.9 + 0.001 * i for i in range(12)}
    bad = {c: v - 0.1 - 0.002 * i for i, (c, v) in enumerate(good.items())}
    metrics = ("dice", "hd95_mm")
    rows = pairwise_tests(
        {"bad": case_scores(_rows(bad), metrics), "good": case_scores(_rows(good), metrics)}
    )
    assert len(rows) == 3 * 2
    assert all(r["significant"] and r["better"] == "good" for r in rows)  # higher Dice, lower HD95
    assert all(r["median_diff"] < 0 for r in rows if r["metric"] == "dice")


def test_summary_table_has_mean_std_and_interval_per_network_class_and_metric():
    scores = {"unet": case_scores(_rows(A), ("dice",))}
    rows = summary_table(scores, seed=1)
    liver = next(r for r in rows if r["class"] == "liver")
    assert liver["n"] == 8
    assert liver["mean"] == pytest.approx(np.mean(list(A.values())))
    assert liver["std"] == pytest.approx(np.std(list(A.values()), ddof=1))
    assert liver["ci_low"] < liver["mean"] < liver["ci_high"]
    assert summary_table(scores, seed=1) == rows


def test_with_one_class_its_overall_copy_is_not_tested_again():
    rows_a = [{"case": c, "class_index": 1, "class": "polyp", "dice": v} for c, v in A.items()]
    rows_b = [{"case": c, "class_index": 1, "class": "polyp", "dice": v} for c, v in B.items()]
    scores = {"unet": case_scores(rows_a, ("dice",)), "cbam": case_scores(rows_b, ("dice",))}
    assert "overall" in scores["unet"]  # reported, but the same numbers as the one class
    rows = pairwise_tests(scores)
    assert [r["class"] for r in rows] == ["polyp"]
    assert rows[0]["p_holm"] == pytest.approx(rows[0]["p_value"])  # a family of one: no correction
