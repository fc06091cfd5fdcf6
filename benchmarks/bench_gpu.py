"""The CUDA part of the speed harness: inference and training of the bundles on a GPU, with mixed precision,
channels-last, ``cudnn.benchmark`` and ``torch.compile`` switched on one after another.

The bundles' configs are read with the plan each ships for the dataset its docs describe
(``configs/default_plan.json``): it decides the network (channels, strides, kernel sizes, deep supervision as
in the config), the ROI / patch (``patch_size``) and the batch (``batch_size``).

Inference of one random volume of ``--shape`` on the device with the abdominal bundle's network and ROI
(inference.json's ``network_def`` and ``roi_size`` under its default plan, random weights: speed only, the
figures do not depend on the weights). Rows:

- ``stock MONAI fp32`` (anchor): ``SlidingWindowInferer(roi_size, sw_batch_size=4, overlap=0.5)`` as Model
  Zoo configs set it, float32, contiguous tensors, ``cudnn.benchmark`` off;
- the same inferer under ``torch.autocast`` float16, then bfloat16 (as MONAI's evaluator with ``amp=True``
  wraps the inferer call); then bfloat16 + channels-last (``channels_last_3d`` network and input), + cuDNN
  autotuning (``torch.backends.cudnn.benchmark = True``), + ``torch.compile(network)``;
- ``bundle inference.json``: the bundle's own inferer (``inferer``) and settings as shipped, called through
  its evaluator's ``autocast_network()`` (``AmpSupervisedEvaluator``: float16 autocast on CUDA).

Training: one step (forward, the bundle's loss from its train.json, backward, the bundle's optimizer step) of
each bundle on random tensors at its default plan's ``patch_size`` x ``batch_size`` * train.json's
``num_samples`` patches (what its trainer sees per iteration). Rows: float32 (anchor); MONAI's stock
``SupervisedTrainer(amp=True)`` on CUDA (float16 autocast around forward and loss + ``GradScaler``); bfloat16
autocast (loss in float32 outside it, as ``bundle_tools.engines.AmpSupervisedTrainer`` computes it); + channels-last;
+ ``cudnn.benchmark``; + ``torch.compile(network)``. Iterations/s and voxels/s, ratio to the float32 anchor.

Each row runs in its own process (its own peak memory, cuDNN and compile state; a failure stays in its row):
untimed warm-up first (its first call, which includes compilation and autotuning, is reported separately as
"first call s" and excluded from the median), then the median of ``--repeats`` volumes / ``--steps`` steps,
with ``torch.cuda.synchronize()`` around each. Peak memory: ``torch.cuda.max_memory_allocated`` over the
timed calls on CUDA, growth of the process's maximum resident set elsewhere.

Without a CUDA device ``--device cuda`` prints that the GPU figures stay pending and exits 0. ``--device cpu
--quick`` runs every code path on tiny sizes (volume 64x64x32, ROI 32x32x16, 1 patch, 1 repeat; float16 and
``torch.compile`` rows are skipped on a CPU) so CI can check it. A full CUDA run writes the table into
BENCHMARKS.md between ``<!-- gpu:start -->`` and ``<!-- gpu:end -->`` unless ``--no-write``.

    python benchmarks/bench_gpu.py [--device cuda] [--quick] [--shape 256 256 128] [--repeats 5] [--steps 10]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _gpu_rows import INFERENCE, TRAINING, Variant, inference_row, training_row  # noqa: E402
from _report import machine_summary, write_section  # noqa: E402
from _worker import REPO, in_fresh_process  # noqa: E402
from bench_bundle_training import BUNDLES, DEFAULT_PLAN, bundle_settings, default_plan  # noqa: E402
from bench_inference import BUNDLE  # noqa: E402

from data_prep.plan import Plan  # noqa: E402

QUICK = {"shape": [64, 64, 32], "roi": [32, 32, 16], "patches": 1}  # divides by every default plan's strides


def measure(spec: dict, timeout: float) -> dict | str:
    """Run one row in a fresh process; a reason string when it fails or runs out of time."""
    v = Variant(**spec["variant"])
    if v.skipped_on(torch.device(spec["device"])):
        return "skipped on CPU"
    try:
        return in_fresh_process(__file__, spec, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"not finished in {timeout:.0f} s"
    except RuntimeError as failure:
        print(failure, file=sys.stderr)
        return f"failed: {str(failure).strip().splitlines()[-1][:200]}"


def device_summary(device: torch.device) -> str:
    """The GPU's name, memory, CUDA and cuDNN versions, then the host's description."""
    if device.type != "cuda":
        return f"no GPU ({device}); host: {machine_summary()}"
    props = torch.cuda.get_device_properties(device)
    return (
        f"{torch.cuda.get_device_name(device)}, {props.total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda},"
        f" cuDNN {torch.backends.cudnn.version()}; host: {machine_summary()}"
    )


def _brief(r: dict | str, key: str, unit: str) -> str:
    return r if isinstance(r, str) else f"{r[key]:.3f} {unit}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda", help="torch device (default cuda; cpu for the smoke run)")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, one repeat, BENCHMARKS.md untouched"
    )
    parser.add_argument("--shape", type=int, nargs=3, default=[256, 256, 128], help="inference volume")
    parser.add_argument("--repeats", type=int, default=5, help="timed volumes per inference row (median)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per training row (median)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed training steps first")
    parser.add_argument(
        "--bundles", nargs="+", choices=sorted(BUNDLES), default=list(BUNDLES), help="bundles (default: all)"
    )
    parser.add_argument("--row-timeout", type=float, default=1200, help="seconds before a row is given up")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        print(json.dumps(inference_row(spec) if spec["table"] == "inference" else training_row(spec)))
        return 0
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"no CUDA device: torch {torch.__version__} sees none, so the GPU figures stay pending in"
              " BENCHMARKS.md (run `python benchmarks/harness.py --only gpu` on a CUDA machine)")  # fmt: skip
        return 0
    if args.quick:
        args.shape, args.repeats, args.steps, args.warmup = QUICK["shape"], 1, 1, 1
    plan = default_plan(BUNDLE.name)
    roi = QUICK["roi"] if args.quick else list(plan.patch_size)
    base = {"device": str(device), "repeats": args.repeats, "steps": args.steps, "warmup": args.warmup}

    inference: list[tuple[Variant, dict | str]] = []
    for v in INFERENCE:
        spec = {**base, "table": "inference", "variant": asdict(v), "shape": args.shape, "roi": roi}
        inference.append((v, measure(spec, args.row_timeout)))
        print(f"inference {v.name}: {_brief(inference[-1][1], 'median_s', 's')}", flush=True)
    training: list[tuple[str, str, Variant, dict | str]] = []
    for bundle in args.bundles:
        settings = bundle_settings(bundle)
        patches = QUICK["patches"] if args.quick else settings["batch_size"] * settings["num_samples"]
        patch = QUICK["roi"] if args.quick else settings["roi_size"]
        for v in TRAINING:
            spec = {**base, "table": "training", "variant": asdict(v), "bundle": bundle, "roi": patch}
            r = measure({**spec, "patches": patches}, args.row_timeout)
            if isinstance(r, dict):
                r["it_s"], r["mvox_s"] = 1 / r["median_s"], patches * math.prod(patch) / r["median_s"] / 1e6
            training.append((bundle, f"{'x'.join(map(str, patch))} x {patches}", v, r))
            print(f"training {bundle} {v.name}: {_brief(r, 'it_s', 'it/s')}", flush=True)

    table = report(args, device, roi, plan, inference, training)
    print(table)
    if args.no_write or args.quick or device.type != "cuda":
        print("BENCHMARKS.md not updated (--no-write, --quick or not a CUDA device)")
    else:
        write_section(REPO / "BENCHMARKS.md", "gpu", table)
    failed = [r for _, r in inference if isinstance(r, str) and r.startswith(("failed", "not finished"))]
    failed += [r for *_, r in training if isinstance(r, str) and r.startswith(("failed", "not finished"))]
    return 1 if failed else 0


def report(
    args: argparse.Namespace,
    device: torch.device,
    roi: list[int],
    plan: Plan,
    inference: list[tuple[Variant, dict | str]],
    training: list[tuple[str, str, Variant, dict | str]],
) -> str:
    """The markdown section: command, machine, method, the inference and the training tables."""
    memory = "peak MiB (CUDA allocated)" if device.type == "cuda" else "peak RSS growth MiB"
    optimizers = (
        "/".join(sorted({r["optimizer"] for *_, r in training if isinstance(r, dict)})) or "optimizer"
    )
    anchor = inference[0][1]["median_s"] if isinstance(inference[0][1], dict) else None
    lines = [
        "## GPU",
        "",
        f"- Command: `{' '.join(['python benchmarks/bench_gpu.py', *sys.argv[1:]])}`",
        f"- Machine: {device_summary(device)}",
        f"- Date: {time.strftime('%Y-%m-%d')}; every row in its own process, untimed warm-up first ('first call"
        " s': compilation and cuDNN autotuning happen there, excluded from the median);"
        " `torch.cuda.synchronize()` around every timed call; random weights and tensors (speed only).",
        f"- Inference: {BUNDLE.name}'s AttentionUNet as its {DEFAULT_PLAN} plans it (channels {plan.channels},"
        f" strides {plan.strides}, {plan.num_classes} classes) at ROI {roi}, one"
        f" {'x'.join(map(str, args.shape))} volume on the device, median of {args.repeats}. The fp16/bf16 rows"
        " autocast the whole inferer call (MONAI's evaluator with amp=True); the bundle row is inference.json's inferer as shipped through"
        " AmpSupervisedEvaluator.autocast_network().",
        "",
        f"| row | settings | s / volume | speed vs anchor | {memory} | first call s |",
        "|---|---|---|---|---|---|",
    ]
    for v, r in inference:
        if isinstance(r, str):
            lines.append(f"| {v.name} | {v.settings()} | {r} | | | |")
        else:
            ratio = f"{anchor / r['median_s']:.2f}x" if anchor else "-"
            lines.append(f"| {v.name} | {r['settings']} | {r['median_s']:.3f} | {ratio} | {r['peak_mib']:.0f} |"
                         f" {r['first_s']:.2f} |")  # fmt: skip
    lines += [
        "",
        "Training: one step (forward, the bundle's train.json loss with deep supervision, backward, its"
        f" {optimizers} step) of the network its {DEFAULT_PLAN} plans, on random patches of that plan's patch"
        f" size and batch, {args.warmup} warm-up + median of {args.steps} steps. The fp16 row is MONAI's stock"
        " SupervisedTrainer(amp=True) on CUDA (loss inside autocast, GradScaler); the other autocast rows compute"
        " the loss in float32 outside autocast, as bundle_tools.engines.AmpSupervisedTrainer does. Ratio to the"
        " bundle's fp32 row.",
        "",
        f"| bundle | patch x patches | variant | settings | it/s | Mvoxel/s | speed vs fp32 | {memory} |"
        " first step s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    anchors = {b: r["it_s"] for b, _, v, r in training if v == TRAINING[0] and isinstance(r, dict)}
    for bundle, patch, v, r in training:
        if isinstance(r, str):
            lines.append(f"| {bundle} | {patch} | {v.name} | {v.settings()} | {r} | | | | |")
        else:
            ratio = f"{r['it_s'] / anchors[bundle]:.2f}x" if bundle in anchors else "-"
            lines.append(f"| {bundle} | {patch} | {v.name} | {r['settings']} | {r['it_s']:.2f} |"
                         f" {r['mvox_s']:.2f} | {ratio} | {r['peak_mib']:.0f} | {r['first_s']:.2f} |")  # fmt: skip
    if device.type != "cuda":
        lines += ["", f"Not GPU figures: a smoke run on {device} (float16 and torch.compile rows skipped)."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
