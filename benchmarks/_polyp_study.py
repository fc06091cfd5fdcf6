"""The seed study of the polyp bundle, run as a user runs it: ``data_prep``, ``monai.bundle`` and ``bundle_tools
tune`` commands in subprocesses from the repository root, each training in its own ``--bundle_root``.

Used by ``benchmarks/bench_polyp.py --part study``. Three models, each trained once more for the same
budget (``epochs`` x ``iterations_per_epoch``) after its search and scored on the held-out ``test`` split:

- ``plain U-Net`` - the bundle's defaults with ``--network_def#_target_ custom_networks.UNet`` (no search);
- ``tuned U-Net`` - ``bundle_tools tune`` over :data:`SPACE` with the same network, then a training with
  ``--args_file best_overrides.json``;
- ``tuned CBAM U-Net`` - the same with the bundle's own network (``custom_networks.CBAMUNet``).
"""

from __future__ import annotations

import csv
import json
import re
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from _worker import REPO

BUNDLE = Path("bundles") / "polyp_kvasir_cbam_unet"  # relative: the commands are run (and shown) from REPO
TRAIN, EVALUATE = BUNDLE / "configs" / "train.json", BUNDLE / "configs" / "evaluate.json"
UNET = ["--network_def#_target_", "custom_networks.UNet"]
SPACE = {  # docs/examples/tune_space.json's ids for a 2D bundle on a CPU (batches above 8 cost too much there)
    "learning_rate": {"type": "float", "low": 0.0001, "high": 0.01, "log": True},
    "optimizer_type": {"type": "categorical", "choices": ["adamw", "sgd"]},
    "loss_type": {"type": "categorical", "choices": ["dice_ce", "dice_focal"]},
    "batch_size": {"type": "categorical", "choices": [4, 8]},
    "augment": {"type": "categorical", "choices": [True, False]},
    "elastic_prob": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
    "flip_prob": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
}
MODELS = {  # folder -> (name in the table, network overrides, searched)
    "plain_unet": ("plain U-Net (bundle defaults)", UNET, False),
    "tuned_unet": ("tuned U-Net", UNET, True),
    "tuned_cbam_unet": ("tuned CBAM U-Net (bundle network)", [], True),
}


def _quote(arg: str) -> str:
    if re.fullmatch(r"[\w@%+=:,./-][\w@%+=:,./#-]*", arg):
        return arg
    return f'"{arg}"' if not re.search(r'["$`\\!]', arg) else shlex.quote(arg)


def shown(cmd: list[str]) -> str:
    """A command as a user types it in a POSIX shell: ``python`` for this interpreter, quoted where needed."""
    return " ".join(map(_quote, ["python", *cmd[1:]] if cmd[0] == sys.executable else cmd))


def run_logged(cmd: list[str], log: Path) -> float:
    """Run ``cmd`` from the repository root, its output in ``log`` (first line: the command); seconds taken.

    A failure raises ``RuntimeError`` naming the log and quoting its end.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as f:
        f.write(shown(cmd) + "\n")
        f.flush()
        code = subprocess.run(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - start
    if code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"{log}: `{shown(cmd)[:200]}` failed ({code}):\n{tail}")
    return seconds


def rel(path: Path) -> str:
    """``path`` relative to the repository root when inside it (shorter commands), else absolute."""
    path = path.resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def make_dataset(work: Path, cases: int, size: list[int], seed: int = 0) -> tuple[Path, list[str]]:
    """Synthetic Kvasir-like pictures prepared as the bundle reads them (reused when ``work`` has them)."""
    raw, data = work / "raw", work / "data"
    cmds = [
        [sys.executable, "-m", "data_prep", "synth", "kvasir-raw", rel(raw), "--cases", str(cases),
         "--size", *map(str, size), "--seed", str(seed), "--overwrite"],
        [sys.executable, "-m", "data_prep", "prepare", "kvasir", rel(raw), rel(data), "--overwrite"],
    ]  # fmt: skip
    if not (data / "plan.json").is_file():
        for i, cmd in enumerate(cmds):
            run_logged(cmd, work / "logs" / f"data_{i}.log")
    return data, [shown(c) for c in cmds]


def training_overrides(epochs: int, iterations: int) -> list[str]:
    """The budget every training shares (a trial and a final training alike)."""
    return ["--epochs", str(epochs), "--iterations_per_epoch", str(iterations), "--progress_bar", "False"]


def train_command(data: Path, root: Path, overrides: list[str], args_file: Path | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "monai.bundle", "run", "training", "--config_file", str(TRAIN),
           "--dataset_dir", rel(data), "--bundle_root", rel(root), *overrides]  # fmt: skip
    return cmd + (["--args_file", rel(args_file)] if args_file else [])


def tune_command(data: Path, space: Path, out: Path, trials: int, overrides: list[str]) -> list[str]:
    return [sys.executable, "-m", "bundle_tools", "tune", str(BUNDLE), "--dataset_dir", rel(data),
            "--space", rel(space), "--trials", str(trials), "--output", rel(out), "--", *overrides]  # fmt: skip


def evaluate_command(data: Path, root: Path, network: list[str]) -> list[str]:
    files = f"['{TRAIN}','{EVALUATE}']"
    return [sys.executable, "-m", "monai.bundle", "run", "--config_file", files, "--dataset_dir", rel(data),
            "--eval_split", "test", "--bundle_root", rel(root), *network]  # fmt: skip


def test_scores(metrics_csv: Path) -> dict[str, tuple[float, float]]:
    """Mean and population std over the test pictures of each score of the foreground class(es).

    A picture with several foreground classes is averaged over them first, as ``summary.csv``'s ``overall``.
    """
    per_case: dict[str, dict[str, list[float]]] = {}
    with metrics_csv.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if (
                row["class"] == "background"
            ):  # label maps score from label 1; a sigmoid channel 0 is the polyp
                continue
            case = per_case.setdefault(row["case"], {})
            for key in ("dice", "iou", "hd95_mm"):
                case.setdefault(key, []).append(float(row[key]))
    if not per_case:
        raise RuntimeError(f"{metrics_csv}: no foreground rows")
    out = {}
    for key in ("dice", "iou", "hd95_mm"):
        values = [statistics.fmean(c[key]) for c in per_case.values()]
        out[key] = (statistics.fmean(values), statistics.pstdev(values))
    out["pictures"] = (len(per_case), 0.0)
    return out


@dataclass
class ModelResult:
    name: str
    trials: int
    tune_s: float
    train_s: float
    scores: dict
    commands: list[str] = field(default_factory=list)
    best: dict = field(default_factory=dict)


def run_model(key: str, data: Path, work: Path, trials: int, epochs: int, iterations: int,
              final_epochs: int) -> ModelResult:  # fmt: skip
    """Search (when the model is tuned), train for the budget and evaluate on the test split.

    A step whose result is in ``work/key`` (``done.json``) is not run again; an interrupted search resumes.
    """
    name, network, searched = MODELS[key]
    folder = work / key
    done = folder / "done.json"
    if done.is_file():
        saved = json.loads(done.read_text(encoding="utf-8"))
        return ModelResult(**saved)
    commands, tune_s, args_file, best = [], 0.0, None, {}
    if searched:
        space = work / "space.json"
        space.write_text(json.dumps(SPACE, indent=2) + "\n", encoding="utf-8")
        cmd = tune_command(
            data, space, folder / "tune", trials, network + training_overrides(epochs, iterations)
        )
        commands.append(shown(cmd))
        tune_s = run_logged(cmd, folder / "tune.log")
        args_file = folder / "tune" / "best_overrides.json"
        if not args_file.is_file():
            raise RuntimeError(
                f"{args_file}: missing, no trial completed (see {folder / 'tune' / 'trials.md'})"
            )
        best = json.loads(args_file.read_text(encoding="utf-8"))
    final = folder / "final"
    cmd = train_command(data, final, network + training_overrides(final_epochs, iterations), args_file)
    commands.append(shown(cmd))
    train_s = run_logged(cmd, folder / "train.log")
    cmd = evaluate_command(data, final, network)
    commands.append(shown(cmd))
    run_logged(cmd, folder / "evaluate.log")
    result = ModelResult(name, trials if searched else 0, tune_s, train_s,
                         test_scores(final / "eval" / "metrics.csv"), commands, best)  # fmt: skip
    done.write_text(json.dumps(result.__dict__, indent=2) + "\n", encoding="utf-8")
    return result


def _pm(score: tuple[float, float], digits: int = 3) -> str:
    return f"{score[0]:.{digits}f} ± {score[1]:.{digits}f}"


def report_lines(results: list[ModelResult], data_cmds: list[str], setting: str, epochs: int,
                 iterations: int, final_epochs: int) -> list[str]:  # fmt: skip
    """The study's table, its settings and every command, as BENCHMARKS.md lines."""
    budget = f"{epochs} x {iterations} it"
    rows = [
        f"| {r.name} | {r.trials} | {budget if r.trials else '-'} | {r.tune_s / 60:.1f} min |"
        f" {r.train_s / 60:.1f} min ({final_epochs} x {iterations} it) | {_pm(r.scores['dice'])} |"
        f" {_pm(r.scores['iou'])} | {_pm(r.scores['hd95_mm'], 1)} |"
        for r in results
    ]
    lines = [
        setting,
        "",
        "| model | trials | per-trial budget | search time | final training | test Dice | test IoU | test HD95 (px) |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Scores: mean ± std (population) over the held-out test pictures of the polyp class, from the evaluation's"
        " `eval/metrics.csv` (per picture, on the picture's own grid after inverting the preprocessing; an empty"
        " prediction scores Dice 0 and HD95 the picture's diagonal). Pictures have 1 mm spacing, so HD95 mm = px."
        " Validation scores chose the trials and the checkpoints, never these.",
        "",
        f"Search space (`space.json`): `{json.dumps(SPACE)}`",
        "",
        "Best overrides: " + "; ".join(f"{r.name} `{json.dumps(r.best)}`" for r in results if r.trials) + ".",
        "",
        "Commands (from the repository root):",
        "",
        "```",
        *data_cmds,
        *(c for r in results for c in r.commands),
        "```",
    ]
    return lines
