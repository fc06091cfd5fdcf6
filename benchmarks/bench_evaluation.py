"""Time Dice + HD95 + ASSD (mm) of one synthetic CT-sized case pair against MONAI's functional metrics.

The case is a 512x512x200 label map with four organ-like ellipsoids (spacing 0.8 x 0.8 x 2.5 mm); the
prediction is the ground truth perturbed (shifted, dilated, eroded, one false-positive blob). Each
timing is the median of ``--repeats`` runs after one warm-up run. The anchor is MONAI's
``compute_dice`` + ``compute_hausdorff_distance(percentile=95)`` + ``compute_average_surface_distance``
with the same spacing, on the same binary class pair; the table prints the ratio anchor / ours.

    python benchmarks/bench_evaluation.py            # full size (about a minute on 2 cores)
    python benchmarks/bench_evaluation.py --quick    # tiny volume, a few seconds
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bundle_tools.metrics.scores import binary_scores, segmentation_scores  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import cpu_model, write_section  # noqa: E402

ORGANS = {  # label: (centre, radii) as fractions of the shape
    1: ((0.40, 0.55, 0.50), (0.24, 0.20, 0.33)),  # liver
    2: ((0.62, 0.70, 0.45), (0.05, 0.06, 0.14)),  # right kidney
    3: ((0.62, 0.30, 0.45), (0.05, 0.06, 0.14)),  # left kidney
    4: ((0.45, 0.22, 0.55), (0.07, 0.09, 0.18)),  # spleen
}


def _ellipsoid(labels: np.ndarray, label: int, centre: tuple, radii: tuple, rng: np.random.Generator) -> None:
    shape = labels.shape
    c = [f * n for f, n in zip(centre, shape, strict=True)]
    r = [f * n for f, n in zip(radii, shape, strict=True)]
    box = tuple(
        slice(max(0, int(ci - ri) - 1), min(n, int(ci + ri) + 2))
        for ci, ri, n in zip(c, r, shape, strict=True)
    )
    grid = np.ogrid[box]
    # a lumpy surface: the radius varies smoothly with the position
    wobble = 1.0 + 0.08 * np.sin(grid[0] * 0.11 + rng.uniform(0, 6)) * np.cos(
        grid[1] * 0.07 + rng.uniform(0, 6)
    )
    inside = sum(((g - ci) / ri) ** 2 for g, ci, ri in zip(grid, c, r, strict=True)) <= wobble
    labels[box][inside] = label


def synthetic_pair(shape: tuple[int, int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth label map with four organs and a perturbed prediction of it."""
    rng = np.random.default_rng(seed)
    gt = np.zeros(shape, np.uint8)
    for label, (centre, radii) in ORGANS.items():
        _ellipsoid(gt, label, centre, radii, rng)
    pred = np.roll(gt, (2, -1, 1), axis=(0, 1, 2))
    liver = ndimage.binary_dilation(pred == 1, iterations=2)
    pred[liver & (pred == 0)] = 1
    spleen = pred == 4
    pred[spleen & ~ndimage.binary_erosion(spleen, iterations=1)] = 0
    false_positive = np.zeros(shape, np.uint8)
    _ellipsoid(false_positive, 2, (0.8, 0.8, 0.2), (0.02, 0.02, 0.05), rng)
    pred[false_positive > 0] = 2
    return pred, gt


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _monai_binary(pred: np.ndarray, gt: np.ndarray, spacing: tuple[float, ...]) -> dict[str, float]:
    from monai.metrics import compute_average_surface_distance, compute_dice, compute_hausdorff_distance

    p = torch.from_numpy(pred)[None, None]
    g = torch.from_numpy(gt)[None, None]
    return {
        "dice": compute_dice(p, g, include_background=True).item(),
        "hd95": compute_hausdorff_distance(
            p, g, include_background=True, percentile=95, spacing=spacing
        ).item(),
        "assd": compute_average_surface_distance(
            p, g, include_background=True, symmetric=True, spacing=spacing
        ).item(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny 96x96x40 volume instead of 512x512x200")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs after one warm-up (default 3)")
    parser.add_argument("--no-monai", action="store_true", help="skip the MONAI anchor")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    args = parser.parse_args(argv)
    args.no_write = args.no_write or args.quick  # quick figures never replace the measured table
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())

    warnings.filterwarnings("ignore")
    shape = (96, 96, 40) if args.quick else (512, 512, 200)
    spacing = (0.8, 0.8, 2.5)
    pred_labels, gt_labels = synthetic_pair(shape)
    pred, gt = pred_labels == 1, gt_labels == 1

    ours = binary_scores(pred, gt, spacing)
    t_ours = _median_time(lambda: binary_scores(pred, gt, spacing), args.repeats)
    t_multi = _median_time(
        lambda: segmentation_scores(pred_labels, gt_labels, spacing, num_classes=5), args.repeats
    )

    print(
        f"case {shape[0]}x{shape[1]}x{shape[2]}, spacing {spacing} mm, cpus {os.cpu_count()}, torch threads {torch.get_num_threads()}"
    )
    print(f"class 1 (liver): dice {ours['dice']:.4f}  hd95 {ours['hd95']:.3f} mm  assd {ours['assd']:.3f} mm")
    rows = [("ours: Dice+HD95+ASSD, 1 class", t_ours, None), ("ours: 4 classes, label maps", t_multi, None)]
    if not args.no_monai:
        anchor = _monai_binary(pred, gt, spacing)
        t_monai = _median_time(lambda: _monai_binary(pred, gt, spacing), args.repeats)
        print(
            f"MONAI         : dice {anchor['dice']:.4f}  hd95 {anchor['hd95']:.3f} mm  assd {anchor['assd']:.3f} mm"
        )
        rows.insert(1, ("MONAI compute_dice+hd95+assd, 1 class", t_monai, t_monai / t_ours))
    print(f"\n{'what':<42}{'median s':>10}{'MONAI/ours':>12}")
    for name, seconds, ratio in rows:
        print(f"{name:<42}{seconds:>10.3f}{'' if ratio is None else f'{ratio:.1f}x':>12}")
    if not args.no_write:
        lines = [
            "## Evaluation of one case pair (Dice + HD95 + ASSD in mm)",
            "",
            f"- Command: `python benchmarks/bench_evaluation.py {' '.join(sys.argv[1:])}`".rstrip(),
            f"- Machine: {cpu_model()}, {os.cpu_count()} logical cores (load average {load} at the start);"
            f" torch {torch.__version__}, {torch.get_num_threads()} threads; {time.strftime('%Y-%m-%d')}",
            f"- Case: {'x'.join(map(str, shape))} label maps, spacing {spacing} mm, four organ-like ellipsoids,"
            f" prediction = ground truth shifted, dilated, eroded, plus a false-positive blob; median of"
            f" {args.repeats} after one warm-up. Class 1: Dice {ours['dice']:.4f}, HD95 {ours['hd95']:.3f} mm,"
            f" ASSD {ours['assd']:.3f} mm.",
            "",
            "| what | median s | MONAI / ours |",
            "|---|---|---|",
            *(f"| {n} | {t:.3f} | {'-' if r is None else f'{r:.1f}x'} |" for n, t, r in rows),
            "",
            f"Target: one 512x512x200 case pair in < 5 s (all four classes: {t_multi:.2f} s).",
        ]
        write_section(Path(__file__).resolve().parents[1] / "BENCHMARKS.md", "evaluation", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
