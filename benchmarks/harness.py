"""The speed and memory harness: runs the benchmarks one after another and writes BENCHMARKS.md.

Each part is its own script (each with ``--help``) that writes its own section of BENCHMARKS.md with the
machine, the command and medians after warm-up; this runs them in sequence, alone (parallel torch
processes on a small machine slow each other several-fold):

- ``inference``  benchmarks/bench_inference.py: sliding-window inference of one volume, the abdominal
  bundle vs MONAI's stock fp32 configuration and nnU-Net v2's predictor (``make nnunet-env`` first), with
  and without mirroring TTA, and the peak memory of a 512x512x200 volume;
- ``training``   benchmarks/bench_bundle_training.py: iterations/s, voxels/s and data-waiting share of each
  bundle, amp on and off, against MONAI's stock ``SupervisedTrainer(amp=True)``;
- ``evaluation`` benchmarks/bench_evaluation.py: Dice + HD95 + ASSD of one 512x512x200 case pair;
- ``networks``   benchmarks/bench_networks.py: training step of each network against MONAI's;
- ``data_prep``  benchmarks/bench_data_prep.py: analyze and prepare throughput;
- ``gpu``        benchmarks/bench_gpu.py: on a CUDA device, inference of the abdominal bundle vs MONAI's stock
  fp32 sliding window and training steps of each bundle, with fp16/bf16 autocast, channels-last,
  ``cudnn.benchmark`` and ``torch.compile``; without one it says the GPU figures stay pending and exits 0;
- ``polyp``      benchmarks/bench_polyp.py: the 2D polyp bundle's training images/s and inference ms/picture
  against MONAI's stock fp32 engines, and its seed study (plain U-Net, tuned U-Net, tuned CBAM U-Net on
  synthetic Kvasir-like pictures, scored on the held-out test split).

``--quick`` runs every part on tiny sizes without touching BENCHMARKS.md (CI runs it so the harness cannot
rot; it asserts nothing about time); the ``gpu`` part then runs its code on the CPU (``--device cpu``).

    python benchmarks/harness.py [--quick] [--only inference training evaluation networks data_prep gpu polyp]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = {
    "inference": "bench_inference.py",
    "training": "bench_bundle_training.py",
    "evaluation": "bench_evaluation.py",
    "networks": "bench_networks.py",
    "data_prep": "bench_data_prep.py",
    "gpu": "bench_gpu.py",
    "polyp": "bench_polyp.py",
}
QUICK_ARGS = {
    "gpu": ["--device", "cpu"],  # no CUDA where CI runs: exercise the GPU part's code on the CPU
    "polyp": ["--part", "speed"],  # the study is a dozen trainings even when tiny; its wiring has unit tests
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, BENCHMARKS.md untouched")
    parser.add_argument("--only", nargs="+", choices=list(PARTS), default=list(PARTS), help="parts to run")
    args = parser.parse_args(argv)
    failed = []
    for part in args.only:
        cmd = [sys.executable, str(HERE / PARTS[part])]
        cmd += ["--quick", "--no-write", *QUICK_ARGS.get(part, [])] if args.quick else []
        print(f"== {part}: {' '.join(cmd[1:])}", flush=True)
        start = time.perf_counter()
        if subprocess.run(cmd, cwd=HERE.parent).returncode != 0:
            failed.append(part)
        print(f"== {part}: {time.perf_counter() - start:.0f} s", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
