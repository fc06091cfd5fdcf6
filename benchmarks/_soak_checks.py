"""What a kill soak (``benchmarks/kill_soak.py``) did, the checks of the state it ends in, and its report.

The end state must equal an unkilled run's: the same epochs, one training loss and one validation per epoch, no
temporary file left, weights that load with ``weights_only=True`` and are finite, a curves CSV with every epoch
once.
"""

from __future__ import annotations

import math
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BUNDLE = "abdominal_mri_attention_unet"
RELIABILITY = REPO / "docs" / "reliability.md"
SECTION = ("<!-- kill_soak:begin -->", "<!-- kill_soak:end -->")
TMP_GLOB = ".*.tmp*"  # the temporary siblings of data_prep.io.atomic_write


@dataclass
class Kill:
    """One SIGKILL: its kind, seconds after the run started, and the temporary files it left in models/
    (new ones: not those of earlier kills that are still there)."""

    run: int
    kind: str
    after_s: float
    left: list[str] = field(default_factory=list)

    @property
    def during_write(self) -> bool:
        return bool(self.left)


@dataclass
class SoakResult:
    """What a soak did and found; ``failures`` is empty when every check held."""

    command: list[str]
    epochs: int
    iterations_per_epoch: int
    kills: list[Kill] = field(default_factory=list)
    resumes: int = 0
    epochs_done: int = -1
    loss_epochs: list[int] = field(default_factory=list)
    val_epochs: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    total_s: float = 0.0
    reference_epochs: int | None = None
    log_path: Path | None = None

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the runs' output."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]

    @property
    def kills_during_writes(self) -> int:
        return sum(k.during_write for k in self.kills)

    def kills_by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for k in self.kills:
            out[k.kind] = out.get(k.kind, 0) + 1
        return out


def temporaries(folder: Path) -> list[str]:
    """Names of the temporary siblings ``atomic_write`` left in ``folder``."""
    return sorted(p.name for p in folder.glob(TMP_GLOB))


def load_checkpoint(path: Path) -> dict[str, Any]:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def epochs_done(ckpt: dict[str, Any]) -> int:
    trainer = ckpt["trainer"]
    return int(trainer["iteration"]) // int(trainer["epoch_length"])


def bundle_network(bundle: Path, dataset_dir: Path) -> Any:
    """The bundle's ``network_def`` as its train.json builds it for ``dataset_dir``."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "train.json"))
    parser["bundle_root"] = str(bundle)
    parser["dataset_dir"] = str(dataset_dir)
    return parser.get_parsed_content("network_def")


def check_end_state(bundle: Path, dataset_dir: Path, result: SoakResult) -> list[str]:
    """The problems of the finished training in ``bundle`` (empty when all checks hold); fills ``result``."""
    import torch

    problems: list[str] = []
    models = bundle / "models"
    for folder in (models, bundle / "runs"):
        left = temporaries(folder)
        if left:
            problems.append(f"{folder.name}/: temporary files left: {', '.join(left)}")
    try:
        latest = load_checkpoint(models / "checkpoint_latest.pt")
        best = load_checkpoint(models / "model.pt")
    except Exception as err:  # noqa: BLE001 - any load error is the finding
        return [*problems, f"models/: a weights file does not load with weights_only=True: {err}"]
    result.epochs_done = epochs_done(latest)
    expected = result.reference_epochs if result.reference_epochs is not None else result.epochs
    if result.epochs_done != expected or latest["trainer"]["iteration"] % latest["trainer"]["epoch_length"]:
        problems.append(
            f"checkpoint_latest.pt: trainer at iteration {latest['trainer']['iteration']} "
            f"({result.epochs_done} epochs), an unkilled run ends after {expected} epochs"
        )
    history = latest["training_curves"]["history"]
    result.loss_epochs, result.val_epochs = list(history["epoch"]), list(history["val_epoch"])
    if history["epoch"] != list(range(1, expected + 1)):
        problems.append(f"training curves: loss epochs {history['epoch']}, expected 1..{expected} each once")
    if len(history["loss"]) != len(history["epoch"]) or not all(math.isfinite(v) for v in history["loss"]):
        problems.append(f"training curves: losses {history['loss']} (one finite loss per epoch expected)")
    problems += _check_curves_csv(bundle / "runs" / "training_curves.csv", expected)
    network = bundle_network(bundle, dataset_dir)
    for name, state in (("model.pt", best["model"]), ("checkpoint_latest.pt", latest["network"])):
        try:
            network.load_state_dict(state, strict=True)
        except RuntimeError as err:
            problems.append(f"{name}: does not load into the network (strict): {str(err)[:300]}")
        bad = [k for k, v in state.items() if torch.is_floating_point(v) and not torch.isfinite(v).all()]
        if bad:
            problems.append(f"{name}: non-finite values in {', '.join(bad[:5])}")
    return problems


def _check_curves_csv(path: Path, epochs: int) -> list[str]:
    """Problems of the curves' CSV (a row per epoch 1..``epochs``, each once, a finite loss in each); none
    when the handler writes no CSV."""
    import csv

    if not path.exists():
        return []
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    problems = []
    listed = [int(r["epoch"]) for r in rows]
    if listed != list(range(1, epochs + 1)):
        problems.append(f"runs/{path.name}: rows for epochs {listed}, expected 1..{epochs} each once")
    losses = [r.get("loss", "") for r in rows]
    if not all(v and math.isfinite(float(v)) for v in losses):
        problems.append(f"runs/{path.name}: losses {losses} (a finite loss in every row expected)")
    return problems


def report(result: SoakResult, machine: str = "") -> str:
    """The markdown section of a soak."""
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(result.kills_by_kind().items()))
    files: dict[str, int] = {}
    for kill in result.kills:
        for name in {n.split(".tmp")[0].lstrip(".").rsplit(".", 1)[0] for n in kill.left}:
            files[name] = files.get(name, 0) + 1
    written = ", ".join(f"{name} {n}" for name, n in sorted(files.items()))
    expected = result.reference_epochs if result.reference_epochs is not None else result.epochs
    lost = sorted(set(range(1, expected + 1)) - set(result.val_epochs))
    command = [Path(result.command[0]).name, *result.command[1:]]
    command[command.index("--config_file") + 1] = "BUNDLE/configs/train.json"
    command[command.index("--dataset_dir") + 1] = "DATA"
    lines = [
        "## Kill soak of a training",
        "",
        "A training of `abdominal_mri_attention_unet` (synthetic data, 32-voxel patches) is killed",
        "with SIGKILL at seeded random moments and resumed with `--resume true` after each kill",
        "(`benchmarks/kill_soak.py`; `tests/bundles/test_kill_soak.py` runs a short one). A kill counts",
        "as *during a write* when a temporary sibling of `checkpoint_latest.pt`, `model.pt` or",
        "`plan.json` was still in `models/` after the process was gone.",
        "",
        "| | |",
        "| --- | --- |",
        f"| kills | {len(result.kills)} ({kinds}) |",
        f"| kills during checkpoint writes | {result.kills_during_writes}"
        + (f" ({written})" if written else "")
        + " |",
        f"| resumes | {result.resumes} |",
        f"| epochs | {result.epochs_done} of {result.epochs} (unkilled run: {result.reference_epochs}), "
        f"{result.iterations_per_epoch} iterations each |",
        f"| loss history epochs | {_ranges(result.loss_epochs)} |",
        f"| validation epochs | {_ranges(result.val_epochs)}"
        + (f" (lost: {', '.join(map(str, lost))})" if lost else "")
        + " |",
        f"| failures | {len(result.failures)} |",
        f"| total time | {result.total_s:.0f} s (soak and the unkilled run) |",
        "",
        "```",
        shlex.join(command) + " [--resume true]",
        "```",
    ]
    if result.failures:
        lines += ["", "Failures:", ""] + [f"- {f}" for f in result.failures]
    if lost:
        lines += [
            "",
            "A lost validation epoch: the checkpoint of the epoch's last iteration",
            "(`ckpt_every_n_iterations` divides the epoch) is written before the epoch's validation; a",
            "kill before the epoch-end checkpoint resumes at the next epoch, and that epoch's validation",
            "never runs (its curves row, early-stop count and best-model comparison are missing).",
        ]
    if machine:
        lines += ["", f"Measured on {machine}."]
    return "\n".join(lines) + "\n"


def _ranges(values: Sequence[int]) -> str:
    if not values:
        return "none"
    if list(values) == list(range(values[0], values[0] + len(values))):
        return f"{values[0]}..{values[-1]}, each once"
    return ", ".join(map(str, values))


def write_section(body: str, path: Path = RELIABILITY) -> None:
    """Replace this script's section of ``path`` (made with a '# Reliability' header when missing)."""
    sys.path.insert(0, str(REPO))
    from data_prep.io import write_text

    begin, end = SECTION
    text = path.read_text(encoding="utf-8") if path.exists() else "# Reliability\n"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    if begin in text and end in text and text.index(begin) < text.index(end):
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    write_text(text, path)
