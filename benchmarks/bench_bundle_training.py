"""Training throughput of each bundle (its real train.json) on this machine, data pipeline included.

The configuration timed is the documented one: the patch (``roi_size``) and batch (``batch_size``) of the
bundle's ``configs/default_plan.json`` (the plan of the dataset its docs describe) and train.json's
``num_samples``. The data are synthetic ``data_prep synth`` volumes of about the patch's size, whose own
``plan.json`` the bundle reads as it would any dataset's: the network topology (channels, strides, kernel
sizes) is the one planned for synthetic data of that size, not necessarily the documented dataset's.

Variants, same config and data, the trainer swapped by override:

- ``bundle amp`` - the bundle as shipped: ``bundle_tools.engines.AmpSupervisedTrainer``, ``amp=True`` (bfloat16
  autocast on a CPU with native bf16, float16 + GradScaler on CUDA);
- ``bundle fp32`` - the same with ``--amp False``;
- ``stock amp`` (anchor) - ``monai.engines.SupervisedTrainer(amp=True)``, which autocasts on CUDA only and
  so trains in float32 on a CPU;
- ``stock amp, allocator defaults`` - the same with ``--reuse_freed_memory False``: glibc's malloc as a MONAI
  bundle leaves it (a fresh ``mmap`` and page faults for every block above 32 MiB; see ``bundle_tools.engines.memory``).

Each variant trains in a fresh Python process, so none inherits the memory allocator, thread pool or oneDNN caches
of the one before.

Per bundle and variant: iterations/s and voxels/s (patch voxels x patches per iteration) over
``--iterations`` timed iterations after ``--warmup``, and the data-loading share = time waiting for the next batch
(ignite ``GET_BATCH_STARTED`` -> ``GET_BATCH_COMPLETED``) / total. ``iterations_per_epoch`` is set beyond warm-up +
timed iterations, so they all lie in one epoch (no epoch-end handlers inside them, as in a real epoch of many
iterations). Validation is switched off (``val_interval`` beyond the run). The table goes to stdout and, unless
``--no-write``, into BENCHMARKS.md between ``<!-- bundle_training:start -->`` and ``<!-- bundle_training:end -->``.

    python benchmarks/bench_bundle_training.py [--quick] [--bundles NAME ...] [--roi X Y Z] [--iterations 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine_summary, write_section  # noqa: E402
from _worker import REPO, in_fresh_process, run  # noqa: E402

from data_prep.plan import Plan, load_plan  # noqa: E402

BUNDLES = {  # bundle -> the data_prep synth task that makes data for it
    "abdominal_mri_attention_unet": "abdominal",
    "pancreas_ct_attention_unet": "pancreas",
    "brain_tumour_mri_cbam_unet": "brain_tumour",
}
DEFAULT_PLAN = "default_plan.json"  # in each bundle's configs/: the plan of the dataset its docs describe
CASES = 6  # synthetic cases: a patient-level split with training, validation and test patients for every task

VARIANTS = {
    "stock amp (anchor)": {"train#trainer#_target_": "SupervisedTrainer", "amp": True},
    "stock amp, allocator defaults": {
        "train#trainer#_target_": "SupervisedTrainer",
        "amp": True,
        "reuse_freed_memory": False,
    },
    "bundle amp": {"amp": True},
    "bundle fp32": {"amp": False},
}


def default_plan(bundle: str) -> Plan:
    """The plan a bundle ships for the dataset its docs describe (``configs/default_plan.json``)."""
    return load_plan(REPO / "bundles" / bundle / "configs" / DEFAULT_PLAN)


def bundle_settings(bundle: str) -> dict:
    """The documented ``roi_size`` and ``batch_size`` (the bundle's default plan), train.json's ``num_samples``."""
    train = REPO / "bundles" / bundle / "configs" / "train.json"
    num_samples = json.loads(train.read_text(encoding="utf-8"))["num_samples"]
    if not isinstance(num_samples, int) or isinstance(num_samples, bool):
        raise ValueError(f"{train}: num_samples must be a literal integer, got {num_samples!r}")
    plan = default_plan(bundle)
    return {"roi_size": list(plan.patch_size), "batch_size": plan.batch_size, "num_samples": num_samples}


def run_overrides(batch_size: int, warmup: int, iterations: int) -> dict:
    """The train.json overrides of a timed run: the documented batch, and an epoch longer than the run.

    With ``iterations_per_epoch`` beyond ``warmup + iterations`` no epoch ends inside the run, so no iteration
    is charged the epoch-end handlers (latest checkpoint, curves) that a real epoch of many iterations spreads
    out. The sampler draws with replacement, so the epoch's length does not depend on the number of cases.
    """
    return {"batch_size": batch_size, "iterations_per_epoch": warmup + iterations + 1}


def make_data(root: Path, task: str, cases: int, size: list[int]) -> Path:
    out = root / task
    cmd = [
        sys.executable,
        "-m",
        "data_prep",
        "synth",
        task,
        str(out),
        "--cases",
        str(cases),
        "--size",
        *map(str, size),
        "--workers",
        "1",
    ]
    run(cmd)
    return out


def run_variant(
    bundle: str,
    overrides: dict,
    data: str,
    work: str,
    roi: list[int],
    batch_size: int,
    warmup: int,
    iterations: int,
) -> dict:
    """Train ``warmup + iterations`` iterations of one variant in this process (``--worker``) and time them."""
    from ignite.engine import Events
    from monai.bundle import ConfigWorkflow

    wf = ConfigWorkflow(
        config_file=str(REPO / "bundles" / bundle / "configs" / "train.json"),
        workflow_type="train",
        logging_file=False,
        dataset_dir=str(data),
        ckpt_dir=str(Path(work, "models")),
        output_dir=str(Path(work, "runs")),
        roi_size=roi,
        epochs=1000,
        val_interval=1000,
        num_workers=0,
        progress_bar=False,
        ckpt_every_n_iterations=0,
        **run_overrides(batch_size, warmup, iterations),
        **overrides,
    )
    wf.initialize()
    trainer = wf.parser.get_parsed_content("train#trainer")
    total = warmup + iterations
    stamps: dict[str, list[float]] = {"done": [], "wait": []}
    t_get: list[float] = [0.0]

    def get_started(_):
        t_get[0] = time.perf_counter()

    def get_completed(e):
        if e.state.iteration >= warmup:  # the batch of iteration (iteration + 1)
            stamps["wait"].append(time.perf_counter() - t_get[0])

    def iteration_completed(e):
        stamps["done"].append(time.perf_counter())
        if e.state.iteration >= total:
            e.terminate()

    trainer.add_event_handler(Events.GET_BATCH_STARTED, get_started)
    trainer.add_event_handler(Events.GET_BATCH_COMPLETED, get_completed)
    trainer.add_event_handler(Events.ITERATION_COMPLETED, iteration_completed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.run()
    elapsed = stamps["done"][total - 1] - stamps["done"][warmup - 1]
    policy = getattr(trainer, "amp_policy", None)
    precision = (
        str(policy.dtype).removeprefix("torch.") if policy is not None and policy.enabled else "float32"
    )
    return {
        "it_s": iterations / elapsed,
        "data_share": sum(stamps["wait"][:iterations]) / elapsed,
        "precision": precision,
        "trainer": type(trainer).__name__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny run (32^3 patches, 2 iterations, BENCHMARKS.md untouched) to check it works",
    )
    parser.add_argument(
        "--bundles", nargs="+", choices=sorted(BUNDLES), default=list(BUNDLES), help="bundles (default: all)"
    )
    parser.add_argument("--roi", type=int, nargs=3, default=None, help="patch size (default: each bundle's)")
    parser.add_argument("--iterations", type=int, default=5, help="timed iterations per variant")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations first")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_variant(**json.loads(args.worker))))
        return
    if args.quick:  # a check that it runs: its figures never replace the measured table
        args.roi, args.iterations, args.warmup, args.no_write = [32, 32, 32], 2, 1, True
    header = machine_summary("the start")
    command = "python benchmarks/bench_bundle_training.py " + " ".join(sys.argv[1:])
    rows, ratios = [], []
    for bundle in args.bundles:
        settings = bundle_settings(bundle)
        roi, batch = args.roi or settings["roi_size"], settings["batch_size"]
        patch_voxels = int(np.prod(roi)) * batch * settings["num_samples"]
        size = [max(r, 48) for r in roi[:2]] + [max(roi[2], 32)]
        with tempfile.TemporaryDirectory() as tmp:
            data = make_data(Path(tmp), BUNDLES[bundle], cases=CASES, size=size)
            divisor = load_plan(data).divisor
            if any(r % d for r, d in zip(roi, divisor)):
                raise SystemExit(f"patch {roi} does not divide by {divisor}, the strides' product of the network"
                                 f" planned for synthetic {BUNDLES[bundle]} data of {size} (--roi)")  # fmt: skip
            results = {}
            for name, overrides in VARIANTS.items():
                spec = {"bundle": bundle, "overrides": overrides, "data": str(data), "roi": roi,
                        "batch_size": batch, "work": str(Path(tmp) / name.replace(" ", "_")),
                        "warmup": args.warmup, "iterations": args.iterations}  # fmt: skip
                results[name] = in_fresh_process(__file__, spec)
                print(f"{bundle} {name}: {results[name]['it_s']:.3f} it/s", flush=True)
        anchor = results["stock amp (anchor)"]["it_s"]
        ratios.append(
            (bundle, results["bundle amp"]["it_s"] / anchor,
             results["bundle amp"]["it_s"] / results["stock amp, allocator defaults"]["it_s"])
        )  # fmt: skip
        patch = "x".join(map(str, roi))
        for name, r in results.items():
            rows.append(
                f"| {bundle} | {patch} x {settings['batch_size'] * settings['num_samples']} | {name} |"
                f" {r['trainer']} | {r['precision']} | {r['it_s']:.3f} | {r['it_s'] * patch_voxels / 1e6:.2f} |"
                f" {r['data_share']:.0%} | {r['it_s'] / anchor:.2f}x |"
            )
    lines = [
        "## Bundle training throughput",
        "",
        f"- Command: `{command.strip()}`",
        f"- Machine: {header}",
        f"- Date: {time.strftime('%Y-%m-%d')}",
        "- Config: each bundle's train.json as shipped (deep-supervised network, class-balanced crops,"
        " augmentation, loss, AdamW with a poly LR stepped per iteration, CacheDataset + ThreadDataLoader"
        " sampling with replacement), no validation; patch and batch of the bundle's configs/default_plan.json"
        f" (the documented dataset's plan){'' if args.roi is None else f', patch --roi {args.roi}'};"
        f" {CASES} synthetic data_prep cases of about the patch's size, whose own plan.json sets the network"
        " topology (channels, strides, kernel sizes planned for them);"
        f" {args.warmup} warm-up + {args.iterations} timed iterations per variant in one epoch"
        f" (`iterations_per_epoch` {run_overrides(1, args.warmup, args.iterations)['iterations_per_epoch']}),"
        " each variant in a fresh process. Data-loading share = time the trainer waited for its next batch /"
        " total, after the warm-up.",
        "- The stock trainer runs the network on the batch's `MetaTensor`s; `AmpSupervisedTrainer` unwraps them to"
        " plain tensors around the forward and the loss (see `bundle_tools/amp.py`), which is what 'bundle fp32'"
        " gains over the anchor.",
        "",
        "| bundle | patch x patches | variant | trainer | precision | it/s | Mvoxel/s | data-loading share |"
        " ratio to anchor |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Target: the bundle's amp path >= 2x the anchor's it/s: "
        + "; ".join(f"{b} {'met' if r >= 2 else 'not met'} ({r:.2f}x)" for b, r, _ in ratios)
        + ". The anchor is MONAI's `SupervisedTrainer(amp=True)`, which autocasts on CUDA only and trains in"
        " float32 on a CPU, in the bundle as shipped (so with `reuse_freed_memory`). Against the stock trainer"
        " with the C library's allocator defaults, as a MONAI bundle runs: "
        + "; ".join(f"{b} {d:.2f}x" for b, _, d in ratios)
        + ".",
    ]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section(REPO / "BENCHMARKS.md", "bundle_training", table)


if __name__ == "__main__":
    main()
