"""Throughput of ``data_prep analyze`` and ``data_prep prepare msd`` (cases/s, MB/s) on synthetic data.

A synthetic dataset of ``--cases`` volumes of ``--size`` voxels (default 20 of 256x256x48, a CHAOS-
or MSD-sized study) is written once; then every step is timed once per worker count:

- ``synth``: ``write_synth_dataset("abdominal", ...)`` (draw, write NIfTI, split, analyze);
- ``analyze``: ``analyze_dataset`` on that dataset (read every image and label, fingerprint);
- ``prepare msd``: ``prepare_msd`` on an MSD ``Task07_Pancreas`` folder written by
  ``data_prep.synth.raw_layouts.write_msd_raw`` (check, copy, split, analyze).

MB/s counts the uncompressed voxels of the images and labels a step reads. The results replace the
section between ``<!-- data_prep:start -->`` and ``<!-- data_prep:end -->`` of BENCHMARKS.md (other
sections stay as they are), with the machine and the exact command.

    python benchmarks/bench_data_prep.py            # full size (a few minutes on 2 cores)
    python benchmarks/bench_data_prep.py --quick    # 4 cases of 64x64x24, seconds; BENCHMARKS.md untouched
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _report import cpu_model, write_section  # noqa: E402

from data_prep.analyze import analyze_dataset  # noqa: E402
from data_prep.io import read_json  # noqa: E402
from data_prep.synth import write_synth_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def voxel_megabytes(dataset_dir: Path, manifest_name: str = "dataset.json") -> float:
    """Uncompressed size of the images and labels a dataset.json lists (from the headers only)."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    total = 0
    for case in read_json(dataset_dir / manifest_name)["training"]:
        for key in ("image", "label"):
            reader.SetFileName(str(dataset_dir / case[key].removeprefix("./")))
            reader.ReadImageInformation()
            voxels = int(np.prod(reader.GetSize())) * reader.GetNumberOfComponents()
            total += (
                voxels
                * sitk.GetArrayViewFromImage(
                    sitk.Image([1] * reader.GetDimension(), reader.GetPixelID())
                ).itemsize
            )
    return total / 1e6


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def row(step: str, workers: int, cases: int, seconds: float, megabytes: float) -> str:
    return f"| {step} | {workers} | {cases} | {seconds:.2f} | {cases / seconds:.2f} | {megabytes / seconds:.1f} |"


def run(args: argparse.Namespace) -> list[str]:
    size = tuple(args.size)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_data_prep_", dir=args.tmp) as tmp:
        tmp = Path(tmp)
        synth_dir = tmp / "synth"
        seconds = timed(
            lambda: write_synth_dataset(
                "abdominal", synth_dir, n_cases=args.cases, size=size, workers=max(args.workers)
            )
        )
        synth_mb = voxel_megabytes(synth_dir)
        rows.append(
            row("synth abdominal (write + split + analyze)", max(args.workers), args.cases, seconds, synth_mb)
        )
        print(rows[-1], flush=True)
        for workers in args.workers:
            seconds = timed(lambda w=workers: analyze_dataset(synth_dir, workers=w))
            rows.append(row("analyze", workers, args.cases, seconds, synth_mb))
            print(rows[-1], flush=True)
        try:
            from data_prep.recipes.msd import prepare_msd
            from data_prep.synth.raw_layouts import write_msd_raw
        except ImportError as err:  # the prepare half is not there: say so in the table
            rows.append(f"| prepare msd: not available ({err}) | | | | | |")
            return rows
        raw = write_msd_raw(tmp / "raw", task="Task07_Pancreas", n_cases=args.cases, size=size, n_test=0)
        raw_mb = voxel_megabytes(raw)
        for workers in args.workers:
            out = tmp / f"prepared_{workers}"
            seconds = timed(lambda w=workers, o=out: prepare_msd(raw, o, workers=w))
            rows.append(row("prepare msd (Task07_Pancreas layout)", workers, args.cases, seconds, raw_mb))
            print(rows[-1], flush=True)
    return rows


def section(args: argparse.Namespace, rows: list[str], command: str) -> str:
    import SimpleITK as sitk

    load = ", ".join(f"{v:.1f}" for v in args.load_before)
    machine = f"{cpu_model()}, {os.cpu_count()} logical cores visible (load average {load} at the start)"
    return "\n".join(
        [
            "## data_prep: analyze and prepare throughput",
            "",
            f"- Command: `{command}`",
            f"- Machine: {machine}; Python {platform.python_version()}, numpy {np.__version__}, "
            f"SimpleITK {sitk.Version.VersionString()}",
            f"- Date: {datetime.date.today().isoformat()}",
            f"- Data: {args.cases} synthetic volumes of {'x'.join(map(str, args.size))} voxels "
            "(abdominal MR float32 for synth/analyze; pancreas CT int16 in an MSD Task07 folder for prepare), "
            "gzip-compressed NIfTI. MB/s counts uncompressed image + label voxels; one run per row.",
            "",
            "| step | workers | cases | seconds | cases/s | MB/s |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            "Reading and writing gzip-compressed NIfTI dominates. `--workers` parallelises over cases in "
            "worker processes; it pays only where cores are free (a load average near or above the core "
            "count means the cores are shared, and the pool's start-up is then not repaid).",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=20, help="number of volumes (default 20)")
    parser.add_argument("--size", type=int, nargs=3, default=[256, 256, 48], metavar=("X", "Y", "Z"))
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="worker counts to time (default 1 2)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="4 cases of 64x64x24; BENCHMARKS.md is not touched"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md", help="markdown file to update")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    parser.add_argument(
        "--tmp", default=None, help="folder for the temporary datasets (default: system temp)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.cases, args.size, args.no_write = 4, [64, 64, 24], True
    args.load_before = os.getloadavg()
    command = "python " + shlex.join(
        [f"benchmarks/{Path(__file__).name}", *(sys.argv[1:] if argv is None else argv)]
    )
    text = section(args, run(args), command)
    print(text)
    if not args.no_write:
        write_section(args.output, "data_prep", text)
        print(f"updated {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
