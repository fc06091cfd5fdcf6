"""What every ``prepare`` recipe shares: the staged output, the per-case loop and the final files.

A recipe converts its cases into a staging folder beside the output (``staged_output_dir``), writes
``dataset.json``, then ``datalist.json`` (``split_dataset``) and ``plan.json`` (``analyze_dataset``),
and validates the result; only then is the staging folder renamed to the output folder. A failure
anywhere leaves the output folder as it was. Recipes convert their cases with
:func:`data_prep.parallel.map_cases`, the project's one process pool.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..analyze import analyze_dataset
from ..contract import DATASET_JSON
from ..errors import DataPrepError
from ..io import staged_output_dir, write_json
from ..split import split_dataset
from ..validate import validate_dataset

DEFAULT_WORKERS = 2


@dataclass(frozen=True)
class Recipe:
    """One ``prepare`` recipe: its name on the command line, help text, extra options and entry point.

    ``run(raw_dir, out_dir, *, overwrite, seed, workers, **options)`` builds the dataset; the keys of
    ``options`` are the ``dest`` names of the arguments that ``add_arguments`` registers (``None``: no options
    beyond the common ones).
    """

    name: str
    help: str
    description: str
    run: Callable[..., Path]
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    option_names: tuple[str, ...] = ()


def check_raw_dir(raw_dir: str | os.PathLike, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Refuse a missing raw folder and an output folder inside it (or the other way); returns both as Paths."""
    raw, out = Path(raw_dir).resolve(), Path(out_dir).resolve()
    if not raw.is_dir():
        raise DataPrepError(f"{raw_dir}: no such folder")
    if out == raw or raw in out.parents or out in raw.parents:
        raise DataPrepError(
            f"{out_dir}: the output folder must not contain or sit inside the raw folder {raw_dir}"
        )
    return Path(raw_dir), Path(out_dir)


def build_dataset(
    out_dir: Path,
    write_cases: Callable[[Path], dict[str, Any]],
    *,
    overwrite: bool,
    seed: int,
    workers: int,
) -> Path:
    """Run ``write_cases(stage)`` (returns the manifest) in a staging folder and finish the dataset there.

    Writes ``dataset.json``, ``datalist.json`` and ``plan.json``, validates the staged dataset, and
    moves it to ``out_dir``; a failure leaves ``out_dir`` untouched.
    """
    with staged_output_dir(out_dir, overwrite=overwrite) as stage:
        manifest = write_cases(stage)
        manifest["numTraining"] = len(manifest.get("training", []))
        manifest["numTest"] = len(manifest.get("test", []))
        write_json(manifest, stage / DATASET_JSON)
        report = validate_dataset(stage, workers=1, progress=False)
        if not report["ok"]:
            first = report["problems"][0]
            raise DataPrepError(
                f"{first['file']}: {first['problem']} ({report['num_problems']} problem(s) in the prepared dataset)"
            )
        split_dataset(stage, seed=seed)
        analyze_dataset(stage, workers=min(workers, DEFAULT_WORKERS))
    return out_dir


def manifest(
    name: str,
    description: str,
    source: str,
    labels: dict[str, str],
    modality: dict[str, str],
    training: Iterable[dict[str, str]],
    test: Iterable[str] = (),
) -> dict[str, Any]:
    """A ``dataset.json`` dictionary (see ``docs/dataset_format.md``)."""
    training, test = list(training), list(test)
    return {
        "name": name,
        "description": description,
        "source": source,
        "labels": labels,
        "modality": modality,
        "numTraining": len(training),
        "numTest": len(test),
        "training": training,
        "test": test,
    }


def relative_to(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it (for short, stable messages), else as given."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
