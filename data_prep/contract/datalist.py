"""``datalist.json``: the patient-level split of a dataset folder, written by ``split``.

:class:`Datalist` is its one typed view, :func:`load_datalist` its one loader and :meth:`Datalist.from_dict`
its one validator; ``split`` writes what this validator accepts, and the bundles read the same file with
``monai.data.load_decathlon_datalist`` (MSD style; :meth:`Datalist.items` gives the same dictionaries).
Rules (``docs/dataset_format.md``):

- ``version``: :data:`DATALIST_VERSION`; a file of another version, or one from before versions, is refused:
  run ``split`` again;
- ``labels``, ``modality``: as in ``dataset.json`` (:func:`~data_prep.contract.manifest.check_index_maps`);
- ``training`` (one or more), ``validation``, ``test``: ``{"image", "label", "patient"}`` (``test`` entries
  may lack the label); paths relative to the dataset folder, no file listed twice, no patient in two lists;
- ``seed`` >= 0; ``0 <= fold < num_folds``; ``proportions``: training, validation and test shares
  (:func:`proportions_problem`); ``folds``: ``num_folds`` lists of patients, ``folds[fold]`` the patients of
  ``validation``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ._checks import (
    check_header,
    field_error,
    is_count,
    is_numbers,
    load_contract,
)
from .manifest import (
    Case,
    check_index_maps,
    check_unique,
    missing_files,
    parse_case,
    refuse_missing_files,
)

__all__ = ["DATALIST_JSON", "DATALIST_VERSION", "SPLITS", "Datalist", "load_datalist", "proportions_problem"]

DATALIST_JSON = "datalist.json"
DATALIST_VERSION = 1
SPLITS = ("training", "validation", "test")


def proportions_problem(values: Any) -> str | None:
    """Why ``values`` are not training, validation and test shares (three numbers >= 0 that sum to 1, with
    a training share > 0); None when they are."""
    values = list(values) if isinstance(values, list | tuple) else values
    if not is_numbers(values, minimum=0) or len(values) != 3 or not all(math.isfinite(v) for v in values):
        return "needs three shares >= 0 (training validation test)"
    if abs(sum(values) - 1.0) > 1e-3 or values[0] <= 0:
        return "must sum to 1 with a training share > 0"
    return None


@dataclass(frozen=True)
class Datalist:
    """A dataset folder's ``datalist.json`` (version :data:`DATALIST_VERSION`).

    Args:
        version: datalist format version; only :data:`DATALIST_VERSION` is read.
        name: dataset name.
        description: free text, from ``dataset.json``.
        labels: class value (as a string) -> class name, from ``dataset.json``.
        modality: input channel (as a string) -> modality name, from ``dataset.json``.
        seed: seed of the patient shuffle.
        num_folds: cross-validation folds (1: one validation set by ``proportions``).
        fold: the fold this file describes.
        proportions: training, validation and test shares of the patients.
        folds: per fold, its validation patients.
        training: training cases.
        validation: validation cases.
        test: test cases (unlabelled test images have no label).
        dataset_dir: the folder the paths are relative to.
    """

    version: int
    name: str
    description: str
    labels: dict[str, str]
    modality: dict[str, str]
    seed: int
    num_folds: int
    fold: int
    proportions: list[float]
    folds: list[list[str]]
    training: list[Case]
    validation: list[Case]
    test: list[Case]
    dataset_dir: Path = field(default=Path("."), compare=False)

    def cases(self) -> list[tuple[str, Case]]:
        """``(where, case)`` for every entry, e.g. ``("validation[0]", case)``."""
        return [(f"{key}[{i}]", c) for key in SPLITS for i, c in enumerate(getattr(self, key))]

    def patients(self, split: str) -> set[str]:
        """The patients of ``split`` (``"training"``, ``"validation"`` or ``"test"``)."""
        return {c.patient for c in getattr(self, split)}

    def items(self, split: str) -> list[dict[str, str]]:
        """The entries of ``split`` with paths resolved against the dataset folder (as
        ``monai.data.load_decathlon_datalist`` gives them)."""
        return [
            {**{k: str(self.dataset_dir / p) for k, p in c.files()}, "patient": c.patient}
            for c in getattr(self, split)
        ]

    def missing_files(self) -> list[tuple[str, str, str]]:
        """``(where, key, path)`` of every listed file the dataset folder lacks."""
        return missing_files(self.cases(), self.dataset_dir)

    def to_dict(self) -> dict[str, Any]:
        """The datalist as ``datalist.json`` holds it."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "dataset_dir"}
        return data | {key: [c.to_dict() for c in getattr(self, key)] for key in SPLITS}

    @classmethod
    def from_dict(
        cls,
        data: Any,
        source: str | os.PathLike = DATALIST_JSON,
        dataset_dir: str | os.PathLike | None = None,
    ) -> Datalist:
        """Check ``data`` (a parsed ``datalist.json``) and build the datalist; errors name ``source`` and the
        field. ``dataset_dir`` (default: the folder of ``source``) is what the paths are relative to."""
        names = [f.name for f in fields(cls) if f.name != "dataset_dir"]
        check_header(data, source, "datalist", names, DATALIST_VERSION, "split")
        labels, modality = check_index_maps(data, source)
        for key in ("name", "description"):
            if not isinstance(data[key], str):
                raise field_error(source, key, f"must be a string, got {data[key]!r}")
        seed, num_folds, fold = data["seed"], data["num_folds"], data["fold"]
        if not is_count(seed):
            raise field_error(source, "seed", f"must be an integer >= 0, got {seed!r}")
        if not is_count(num_folds, 1) or not is_count(fold) or fold >= num_folds:
            raise field_error(source, "fold", f"must be 0..num_folds-1, got {fold!r} of {num_folds!r} folds")
        problem = proportions_problem(data["proportions"])
        if problem:
            raise field_error(source, "proportions", f"{problem}, got {data['proportions']!r}")
        folds = data["folds"]
        if not isinstance(folds, list) or len(folds) != num_folds or not all(_strings(f) for f in folds):
            raise field_error(source, "folds", f"must list {num_folds} lists of patients, got {folds!r}")
        splits = {}
        for key in SPLITS:
            entries = data[key]
            if not isinstance(entries, list) or (key == "training" and not entries):
                raise field_error(source, key, f"must list cases{' (one or more)' * (key == 'training')}")
            label = "optional" if key == "test" else "required"
            splits[key] = [
                parse_case(e, source, f"{key}[{i}]", label=label, patient_required=True)
                for i, e in enumerate(entries)
            ]
        datalist = cls(
            version=data["version"],
            name=data["name"],
            description=data["description"],
            labels=labels,
            modality=modality,
            seed=seed,
            num_folds=num_folds,
            fold=fold,
            proportions=list(data["proportions"]),
            folds=folds,
            **splits,
            dataset_dir=Path(source).parent if dataset_dir is None else Path(dataset_dir),
        )
        check_unique(datalist.cases(), source)
        _check_patients(datalist, source)
        return datalist


def _strings(values: Any) -> bool:
    return isinstance(values, list) and all(isinstance(v, str) for v in values)


def _check_patients(datalist: Datalist, source: str | os.PathLike) -> None:
    """No patient in two lists; ``folds[fold]`` holds the validation patients."""
    owner: dict[str, str] = {}
    for key in SPLITS:
        for patient in sorted(datalist.patients(key)):
            if patient in owner:
                raise field_error(source, key, f"holds patient {patient!r}, who is in {owner[patient]!r} too")
            owner[patient] = key
    if set(datalist.folds[datalist.fold]) != datalist.patients("validation"):
        raise field_error(
            source, "folds", f"entry {datalist.fold} (the fold) must list the validation patients"
        )


def load_datalist(dataset: Datalist | dict | str | os.PathLike, *, check_files: bool = False) -> Datalist:
    """The :class:`Datalist` of ``dataset``: a datalist, a parsed ``datalist.json``, the dataset folder or its
    ``datalist.json``.

    Args:
        dataset: what to read.
        check_files: also refuse a listed file that the folder lacks, naming it
            (``<path>: validation[0] image imagesTr/x.nii.gz not found``).
    """
    advice = "write it with `python -m data_prep split DATASET_DIR`"
    datalist = load_contract(dataset, Datalist, DATALIST_JSON, advice)
    if check_files:
        refuse_missing_files(datalist.cases(), datalist.dataset_dir, datalist.dataset_dir / DATALIST_JSON)
    return datalist
