"""``python -m bundle_tools compare``: several networks trained on the same folds with the same recipe,
then one report that says which differences are real.

Each network is the bundle with ``--network_def#_target_`` (and ``--network_def#<arg>``) overrides; every
network gets the same shared overrides, seed, folds and epochs, through
:func:`bundle_tools.experiments.cv.run_cv` into ``OUTPUT/<network>/`` (resumable fold by fold). What the
run decided and measured is kept in ``OUTPUT/compare.json``, so running the command again resumes it with
the same recipe (a changed recipe is refused) and can add networks; ``--report-only`` rewrites the report.
The report is :func:`bundle_tools.experiments.compare_report.write_report`'s ``OUTPUT/report/``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path
from typing import Any, NamedTuple

from data_prep.errors import DataPrepError
from data_prep.io import read_json, write_json

from ..tune.cli import _OverridesParser, override_ids

__all__ = ["NETWORKS", "NetworkSpec", "add_parser", "budget_epochs", "resolve_networks", "run"]

NETWORKS = {
    "unet": "custom_networks.UNet",
    "attention_unet": "custom_networks.AttentionUNet",
    "cbam_unet": "custom_networks.CBAMUNet",
    "improved_unet": "custom_networks.ImprovedUNet",
}
"""Short names of the project's networks -> their ``_target_``."""

DEFAULT_BUNDLE = "bundles/abdominal_mri_attention_unet"
_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*$")
_TARGET = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)+$")

_DESCRIPTION = f"""\
Train each network on the same cross-validation folds of one bundle with the same recipe (shared
overrides, seed, epochs), then write OUTPUT/report/: report.md and report.html, metrics.csv (per network,
class and metric: n, mean, std, median, 95% bootstrap interval over cases), tests.csv (paired Wilcoxon
signed-rank tests between every pair of networks on the out-of-fold per-case scores, Holm-corrected over
all comparisons of one metric), parameters, training time, inference seconds per case, box plots, the
validation curves of all networks and side-by-side overlays of the worst cases.

Networks: short names ({", ".join(NETWORKS)}),
NAME=module.Class, or the names of --network-file, a JSON object
{{"my_unet": {{"_target_": "my_pkg.Net", "dropout": 0.1}}}} (each argument becomes a --network_def#<arg>
override; the file's networks are compared even when --networks does not name them). Each network
trains through `cv` into OUTPUT/<name>/ (resumable: run the same command again); OUTPUT/compare.json
keeps the recipe, and another recipe in the same OUTPUT is refused.

--budget-minutes M gives every network the same training: compare times a training step and sliding-
window inference of each network, then passes all of them the same --epochs, the most that let the
slowest network train all folds within M minutes (an estimate; the report shows the time each took).
Without it, every network trains the bundle's (or the overrides') epochs. Shared bundle overrides go
after `--`, e.g. `-- --iterations_per_epoch 50 --roi_size "[96,96,64]"`.
"""


class NetworkSpec(NamedTuple):
    """A compared network: its name (the folder under OUTPUT), ``_target_`` and constructor arguments."""

    name: str
    target: str
    args: dict[str, Any]

    def overrides(self) -> list[str]:
        """The bundle overrides that make ``network_def`` this network."""
        out = ["--network_def#_target_", self.target]
        for key, value in self.args.items():
            out += [f"--network_def#{key}", value if isinstance(value, str) else repr(value)]
        return out


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``compare`` command to a ``python -m bundle_tools`` parser."""
    parser = subparsers.add_parser(
        "compare",
        help="train several networks on the same folds and report which differences are significant",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s --dataset_dir D --networks A,B[,...] --folds K --output DIR [options] [-- overrides]",
    )
    parser.__class__ = _OverridesParser  # keeps the overrides after `--`
    parser.add_argument("--dataset_dir", "--dataset-dir", required=True, help="the dataset folder")
    parser.add_argument("--networks", default="", help="comma-separated networks (see above)")
    parser.add_argument("--network-file", default=None, help="JSON of extra networks: name -> _target_, args")
    parser.add_argument("--folds", type=int, required=True, help="cross-validation folds (at least 2)")
    parser.add_argument("--output", required=True, help="the comparison's folder")
    parser.add_argument(
        "--bundle", default=DEFAULT_BUNDLE, help=f"the bundle trained (default {DEFAULT_BUNDLE})"
    )
    parser.add_argument("--budget-minutes", type=float, default=None, help="training minutes per network")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the folds' split, of every training (--seed) and of the bootstrap",
    )
    parser.add_argument("--report-only", action="store_true", help="rewrite the report, train nothing")
    parser.set_defaults(func=run, overrides=[])
    return parser


def resolve_networks(names: str, network_file: str | None = None) -> list[NetworkSpec]:
    """The networks of ``--networks`` (short names, ``NAME=module.Class``, names of the file), then the
    file's other networks, in order."""
    from_file: dict[str, NetworkSpec] = {}
    if network_file:
        data = read_json(network_file)
        if not isinstance(data, dict) or not data:
            raise DataPrepError(
                f"{network_file}: must be a JSON object of networks, name -> {{_target_, ...}}"
            )
        for name, entry in data.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("_target_"), str):
                raise DataPrepError(f'{network_file}: network {name!r} needs a "_target_" string')
            args = {k: v for k, v in entry.items() if k != "_target_"}
            from_file[name] = _spec(name, entry["_target_"], args, network_file)
    specs: list[NetworkSpec] = []
    for item in (s.strip() for s in names.split(",") if s.strip()):
        name, eq, target = item.partition("=")
        if eq:
            specs.append(_spec(name, target, {}, "--networks"))
        elif name in from_file:
            specs.append(from_file.pop(name))
        elif name in NETWORKS:
            specs.append(NetworkSpec(name, NETWORKS[name], {}))
        else:
            known = ", ".join([*NETWORKS, *from_file])
            raise DataPrepError(f"--networks: unknown network {name!r}; known: {known}, or NAME=module.Class")
    specs += from_file.values()
    seen = [s.name for s in specs]
    duplicate = next((n for n in seen if seen.count(n) > 1), None)
    if duplicate:
        raise DataPrepError(f"--networks: {duplicate!r} is named twice")
    if len(specs) < 2:
        raise DataPrepError(f"--networks: a comparison needs at least 2 networks, got {seen}")
    return specs


def budget_epochs(minutes: float, folds: int, epoch_seconds: list[float]) -> int:
    """The epochs every network gets: the most that fit the slowest network's ``folds`` trainings in
    ``minutes`` (at least 1)."""
    slowest = max(epoch_seconds)
    if slowest <= 0:
        return 1
    return max(1, math.floor(minutes * 60.0 / (folds * slowest)))


def run(args: argparse.Namespace) -> int:
    """Measure each network, train the missing folds of each, write the report and print where it is."""
    from .compare_report import write_report
    from .network_costs import epoch_seconds, measure_costs

    bundle, dataset_dir, output = _bundle(args.bundle), Path(args.dataset_dir), Path(args.output)
    if not (dataset_dir / "dataset.json").is_file():
        raise DataPrepError(f"{dataset_dir}: not a dataset folder (no dataset.json)")
    if args.folds < 2:
        raise DataPrepError(f"--folds: must be at least 2, got {args.folds}")
    if args.budget_minutes is not None and args.budget_minutes <= 0:
        raise DataPrepError(f"--budget-minutes: must be positive, got {args.budget_minutes}")
    specs = resolve_networks(args.networks, args.network_file)
    shared = list(args.overrides)
    for key in override_ids(shared):
        if key.startswith("network_def"):
            raise DataPrepError(f"--{key}: the network is set per network by --networks; remove it after --")
        if key == "epochs" and args.budget_minutes is not None:
            raise DataPrepError("--epochs: is set by --budget-minutes; remove one of them")
    state = _state(output, bundle, dataset_dir, args, shared)
    for spec in specs:  # build and time every network before any training: a bad one fails at once
        entry = state["networks"].setdefault(spec.name, {})
        if entry.get("target") != spec.target or entry.get("args") != spec.args or "parameters" not in entry:
            print(f"{spec.name}: building {spec.target} and timing it")
            costs = measure_costs(
                bundle,
                dataset_dir,
                shared + spec.overrides(),
                spec.name,
                step=args.budget_minutes is not None,
            )
            entry.update(target=spec.target, args=spec.args, **costs)
    if args.budget_minutes is not None and state.get("epochs") is None:
        per_fold = _non_test_cases(dataset_dir) / args.folds
        seconds = [epoch_seconds(state["networks"][s.name], round(per_fold)) for s in specs]
        state["epochs"] = budget_epochs(args.budget_minutes, args.folds, seconds)
        print(f"--budget-minutes {args.budget_minutes:g}: every network trains {state['epochs']} epoch(s)")
    write_json(state, output / "compare.json")
    recipe = list(shared)
    if "seed" not in override_ids(shared):
        recipe += ["--seed", str(args.seed)]  # the same training seed for every network
    if state.get("epochs") is not None:
        recipe += ["--epochs", str(state["epochs"])]
    if not args.report_only:
        from .cv import run_cv

        for spec in specs:
            print(f"{spec.name}: cross-validation, {args.folds} folds -> {output / spec.name}")
            run_cv(
                bundle,
                dataset_dir,
                args.folds,
                output / spec.name,
                recipe + spec.overrides(),
                args.seed,
                print,
            )
    report = write_report(output, [s.name for s in specs], state, recipe, args.seed)
    print(f"report: {report / 'report.md'}, {report / 'report.html'}")
    return 0


def _bundle(value: str) -> Path:
    bundle = Path(value)
    if not bundle.is_absolute() and not bundle.exists():
        bundle = Path(__file__).resolve().parents[2] / value  # the default works outside the repository
    if not (bundle / "configs" / "train.json").is_file():
        raise DataPrepError(f"{value}: not a bundle folder (no configs/train.json)")
    return bundle


def _state(output: Path, bundle: Path, dataset_dir: Path, args: argparse.Namespace, shared: list) -> dict:
    """``compare.json``: the recipe (refused when it changed) and what each network measured and took."""
    recipe = {
        "bundle": str(bundle.absolute()),
        "dataset_dir": str(dataset_dir.absolute()),
        "folds": args.folds,
        "seed": args.seed,
        "overrides": shared,
        "budget_minutes": args.budget_minutes,
    }
    path = output / "compare.json"
    if not path.is_file():
        return {"version": 1, **recipe, "epochs": None, "networks": {}}
    state = read_json(path)
    for key, value in recipe.items():
        if state.get(key) != value:
            raise DataPrepError(
                f"{path}: was run with {key} {json.dumps(state.get(key))}, not {json.dumps(value)}; "
                "use another --output or the same recipe"
            )
    return state


def _non_test_cases(dataset_dir: Path) -> int:
    """The cases the folds share out (the datalist's training and validation; else every case)."""
    if (dataset_dir / "datalist.json").is_file():
        datalist = read_json(dataset_dir / "datalist.json")
        return sum(len(datalist.get(k) or []) for k in ("training", "validation"))
    return len(read_json(dataset_dir / "dataset.json").get("training") or [])


def _spec(name: str, target: str, args: dict, source: str) -> NetworkSpec:
    if not _NAME.match(name):
        raise DataPrepError(f"{source}: network name {name!r} must be letters, digits, _, . or -")
    if not _TARGET.match(target):
        raise DataPrepError(f"{source}: {target!r} of network {name!r} is not a module.Class target")
    return NetworkSpec(name, target, args)
