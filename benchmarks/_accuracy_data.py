"""The data of ``benchmarks/bench_accuracy.py``: synthetic realistic abdominal cases, a patient-level split with the
wanted counts, a plan from the training and validation cases only, and links to the test files."""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path


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
