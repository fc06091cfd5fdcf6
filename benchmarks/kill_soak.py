"""Kill soak of a bundle training: SIGKILL at random moments, some during checkpoint writes, resume each time.

One training of a bundle (its real ``configs/train.json`` on a tiny synthetic dataset) is killed ``--kills``
times with ``SIGKILL`` and restarted after each kill with the same command plus ``--resume true``. The kill
moments come from a seeded schedule, each of one kind:

- ``write``: the soak polls ``models/`` for the temporary siblings that ``data_prep.io.atomic_write`` makes
  (``.checkpoint_latest.pt.*.tmp``, ``.model.pt.*.tmp``, ``.plan.json.*.tmp``) and kills as soon as one
  appears (after skipping 0 or 1 of them), so the kill lands while the file is written; it counts as a kill
  during a write when the temporary file is still there after the process is gone;
- ``random``: a random delay (0 to ``max_delay_s``) after the run has written a new checkpoint, so the kill
  lands anywhere: an iteration, validation, an epoch end, the curves' PNG, a save;
- ``startup``: a random delay from the start of a run, before it has made progress (config parsing,
  dataset caching, the checkpoint load).

A kill after the training's last epoch (in the post-processing decision) is a kill like any other: the
next run resumes a finished training and only redoes that step.

``write`` and ``random`` kills wait until the run has written a new ``checkpoint_latest.pt``, so the soak
always makes progress and ends. After the last kill the training is resumed to its end and checked:

- the epoch count of an unkilled run of the same command (``epochs``: the early stop's patience is the
  epoch count),
- the loss history of :class:`bundle_tools.handlers.TrainingCurves` (its state in the latest checkpoint,
  drawn as ``runs/training_curves.png``, and ``runs/training_curves.csv`` where the handler writes one):
  epochs 1..N, each once, all losses finite,
- no temporary file left in ``models/`` (nor in ``runs/``),
- ``models/model.pt`` and ``models/checkpoint_latest.pt`` load with ``torch.load(weights_only=True)`` and
  into the bundle's network with ``strict=True``, all values finite.

``tests/bundles/test_kill_soak.py`` runs a short soak (11 kills) in CI; this script runs a longer one and
writes its result into ``docs/reliability.md`` between ``<!-- kill_soak:begin -->`` and
``<!-- kill_soak:end -->`` (other sections of that file are kept)::

    python benchmarks/kill_soak.py [--kills 40] [--epochs N] [--seed 0] [--workdir DIR] [--no-write]

The validation epochs of the curves are reported, not checked: a kill between the checkpoint of an epoch's
last iteration and the epoch's end loses that epoch's validation (see docs/reliability.md).
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _soak_checks import (  # noqa: E402
    BUNDLE,
    RELIABILITY,
    REPO,
    Kill,
    SoakResult,
    check_end_state,
    epochs_done,
    load_checkpoint,
    report,
    temporaries,
    write_section,
)
from _soak_kills import await_kill_moment, kill_session  # noqa: E402

__all__ = ["BUNDLE", "soak", "write_section"]


def env() -> dict[str, str]:
    """The environment of a training subprocess: the repository importable, quiet warnings, 2 threads."""
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(REPO), e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    e.setdefault("OMP_NUM_THREADS", "2")
    e["PYTHONWARNINGS"] = "ignore"
    return e


def training_command(
    bundle: Path,
    dataset_dir: Path,
    epochs: int,
    iterations_per_epoch: int = 4,
    ckpt_every: int = 2,
    extra: Sequence[str] = (),
) -> list[str]:
    """``python -m monai.bundle run training ...`` with the soak's small overrides (without ``--resume``)."""
    return [
        sys.executable,
        "-m",
        "monai.bundle",
        "run",
        "training",
        "--config_file",
        str(bundle / "configs" / "train.json"),
        "--dataset_dir",
        str(dataset_dir),
        "--epochs",
        str(epochs),
        "--iterations_per_epoch",
        str(iterations_per_epoch),
        "--ckpt_every_n_iterations",
        str(ckpt_every),
        "--roi_size",
        "[32,32,32]",
        "--num_samples",
        "1",
        "--num_workers",
        "0",
        "--augment",
        "False",
        *extra,
    ]


def prepare(
    workdir: Path, cases: int = 6, size: Sequence[int] = (40, 40, 32), seed: int = 0
) -> tuple[Path, Path]:
    """A synthetic abdominal dataset and a clean copy of the bundle under ``workdir``: (bundle, dataset)."""
    data = workdir / "ds"
    shutil.rmtree(data, ignore_errors=True)
    cmd = [sys.executable, "-m", "data_prep", "synth", "abdominal", str(data), "--cases", str(cases)]
    cmd += ["--size", *map(str, size), "--seed", str(seed), "--workers", "1"]
    subprocess.run(cmd, check=True, env=env(), capture_output=True, timeout=300)
    return copy_bundle(workdir / "bundle"), data


def copy_bundle(dest: Path) -> Path:
    """A copy of the bundle (configs, docs, empty models/) at ``dest``, replacing what was there."""
    shutil.rmtree(dest, ignore_errors=True)
    ignore = shutil.ignore_patterns("*.pt", "*.ts", "runs", "eval", "__pycache__", "plan.json")
    shutil.copytree(REPO / "bundles" / BUNDLE, dest, ignore=ignore)
    return dest


def _start(cmd: Sequence[str], cwd: Path, log: Any) -> subprocess.Popen:
    return subprocess.Popen(
        list(cmd), cwd=cwd, env=env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def soak(
    bundle: Path,
    dataset_dir: Path,
    kills: int = 11,
    epochs: int = 12,
    iterations_per_epoch: int = 4,
    ckpt_every: int = 2,
    seed: int = 0,
    write_share: float = 0.45,
    startup_share: float = 0.1,
    max_delay_s: float = 1.5,
    startup_s: float = 6.0,
    reference: bool = True,
    log_path: Path | None = None,
    timeout_s: float = 900.0,
    extra: Sequence[str] = (),
) -> SoakResult:
    """Kill the bundle's training ``kills`` times, resume it after each kill and check the end state.

    Args:
        bundle: a bundle folder of ``BUNDLE`` to train in (its ``models/`` and ``runs/`` are replaced).
        dataset_dir: a dataset of ``python -m data_prep synth abdominal``.
        kills: how many SIGKILLs.
        epochs: the training's epochs.
        iterations_per_epoch: iterations of an epoch.
        ckpt_every: ``--ckpt_every_n_iterations``.
        seed: seed of the kill schedule (kinds, delays, skipped writes).
        write_share: share of ``write`` kills; ``startup_share`` of ``startup`` kills; the rest ``random``.
        startup_share: share of kills before a run makes progress.
        max_delay_s: longest delay of a ``random`` kill after the run's first new checkpoint.
        startup_s: longest delay of a ``startup`` kill after the run starts.
        reference: first train once unkilled (in a copy of the bundle) for the epoch count to match.
        log_path: where the runs' output goes (appended); default a temporary file.
        timeout_s: the longest a single run may take before the soak gives up on it.
        extra: more overrides for the command.
    """
    t0 = time.monotonic()
    base = training_command(bundle, dataset_dir, epochs, iterations_per_epoch, ckpt_every, extra)
    result = SoakResult(command=base, epochs=epochs, iterations_per_epoch=iterations_per_epoch)
    rng = random.Random(seed)
    models = bundle / "models"
    for stale in (models / "checkpoint_latest.pt", models / "model.pt", bundle / "runs"):
        if stale.is_dir():
            shutil.rmtree(stale)
        else:
            stale.unlink(missing_ok=True)
    log_path = log_path or Path(tempfile.mkstemp(prefix="kill_soak.", suffix=".log")[1])
    result.log_path = log_path
    with open(log_path, "a", encoding="utf-8") as log:
        if reference:
            ref = copy_bundle(bundle.parent / f"{bundle.name}_unkilled")
            ref_cmd = training_command(ref, dataset_dir, epochs, iterations_per_epoch, ckpt_every, extra)
            proc = subprocess.run(ref_cmd, cwd=bundle.parent, env=env(), stdout=log, stderr=subprocess.STDOUT)
            if proc.returncode != 0:
                result.failures.append(f"the unkilled run exited {proc.returncode} (log {log_path})")
            else:
                result.reference_epochs = epochs_done(
                    load_checkpoint(ref / "models" / "checkpoint_latest.pt")
                )
        run = 0
        while True:
            resume = (models / "checkpoint_latest.pt").exists()
            cmd = [*base, "--resume", "true"] if resume else base
            result.resumes += resume
            log.write(f"\n=== run {run}: {shlex.join(cmd)}\n")
            log.flush()
            stale = set(temporaries(models))  # left by earlier kills: not this kill's
            started = time.monotonic()
            proc = _start(cmd, bundle.parent, log)
            if len(result.kills) < kills:
                kind = _kind(rng, write_share, startup_share, resume)
                if await_kill_moment(proc, kind, models, rng, max_delay_s, startup_s) and kill_session(proc):
                    left = [n for n in temporaries(models) if n not in stale]
                    kill = Kill(run, kind, round(time.monotonic() - started, 3), left)
                    result.kills.append(kill)
                    log.write(f"=== killed: {kill}\n")
                    run += 1
                    continue
            try:
                code = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                kill_session(proc)
                code = "timeout"
            if code != 0:
                result.failures.append(
                    f"run {run} ({'resumed' if resume else 'fresh'}) exited {code} (log {log_path})"
                )
                break
            if len(result.kills) >= kills:
                break
            # the run finished before its kill: the schedule was longer than the training
            result.failures.append(f"the training finished after {len(result.kills)} of {kills} kills")
            break
    result.total_s = round(time.monotonic() - t0, 1)
    if not result.failures or result.failures[-1].startswith("the training finished"):
        result.failures += check_end_state(bundle, dataset_dir, result)
    return result


def _kind(rng: random.Random, write_share: float, startup_share: float, resume: bool) -> str:
    u = rng.random()
    if u < write_share:
        return "write"
    if u < write_share + startup_share and resume:
        return "startup"
    return "random"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=40, help="SIGKILLs over the training")
    ap.add_argument(
        "--epochs", type=int, default=None, help="epochs of the training (default: kills + kills / 4 + 2)"
    )
    ap.add_argument("--iterations-per-epoch", type=int, default=4)
    ap.add_argument("--ckpt-every", type=int, default=2, help="--ckpt_every_n_iterations")
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill schedule")
    ap.add_argument("--max-delay", type=float, default=1.5, help="longest delay of a random kill (s)")
    ap.add_argument(
        "--workdir", type=Path, default=None, help="folder for data and bundle (default temporary)"
    )
    ap.add_argument("--no-write", action="store_true", help=f"do not write {RELIABILITY.relative_to(REPO)}")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _report import machine_summary

    with tempfile.TemporaryDirectory(prefix="kill_soak.") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        bundle, data = prepare(workdir)
        result = soak(
            bundle,
            data,
            kills=args.kills,
            epochs=args.epochs or args.kills + args.kills // 4 + 2,
            iterations_per_epoch=args.iterations_per_epoch,
            ckpt_every=args.ckpt_every,
            seed=args.seed,
            max_delay_s=args.max_delay,
            log_path=workdir / "kill_soak.log",
        )
        body = report(result, machine_summary())
        if result.failures:
            print(result.log_tail(), file=sys.stderr)
    print(body)
    if not args.no_write:
        write_section(body)
    return 1 if result.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
