"""Patient-level split of a dataset into training, validation and test: ``datalist.json``.

Cases are grouped by their ``patient`` (``dataset.json``); whole patients, never single cases, are
assigned to a split, so two series of one patient can never sit on both sides of a split. The
assignment is a seeded shuffle of the sorted patient ids: the same dataset and seed always give
the same split, whatever the order of the cases in ``dataset.json``.

With ``folds=K > 1`` the test patients are held out first (by ``proportions[2]``), and the remaining
patients are cut into ``K`` folds; fold ``k`` validates on its own patients and trains on the
others. The test set does not depend on ``K`` or ``k``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from data_prep.errors import DataPrepError
from data_prep.io import read_json, write_json

DATASET_JSON = "dataset.json"
DATALIST_JSON = "datalist.json"
DEFAULT_PROPORTIONS = (0.6, 0.2, 0.2)


def split_dataset(
    dataset_dir: str | os.PathLike,
    *,
    proportions: Sequence[float] = DEFAULT_PROPORTIONS,
    folds: int = 1,
    fold: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """Split the cases of ``dataset_dir/dataset.json`` by patient and write ``datalist.json``.

    Args:
        dataset_dir: dataset folder holding ``dataset.json`` (see ``docs/dataset_format.md``).
        proportions: shares of patients for training, validation and test (sum 1). 20 patients
            with the default ``(0.6, 0.2, 0.2)`` give 12/4/4, as in seed 000. With 2 or more
            patients validation gets at least one (when its share is not 0); with 3 or more
            test gets at least one (when its share is not 0); training always keeps one.
        folds: number of cross-validation folds; ``1`` uses ``proportions`` for validation.
        fold: which fold this ``datalist.json`` describes (``0 <= fold < folds``).
        seed: seed of the patient shuffle.

    Returns:
        The datalist written to ``dataset_dir/datalist.json``: ``training``, ``validation``,
        ``test`` lists of ``{"image", "label", "patient"}`` and ``folds`` (validation patients of
        every fold).

    Example:
        >>> split_dataset("data/abdominal", folds=5, fold=2, seed=0)["validation"]  # doctest: +SKIP
    """
    dataset_dir = Path(dataset_dir)
    manifest_path = dataset_dir / DATASET_JSON
    manifest = read_json(manifest_path)
    shares = _check_proportions(proportions)
    if folds < 1:
        raise DataPrepError(f"--folds must be 1 or more, got {folds}")
    if not 0 <= fold < folds:
        raise DataPrepError(f"--fold must be between 0 and {folds - 1}, got {fold}")

    cases_by_patient = group_by_patient(manifest, manifest_path)
    patients = sorted(cases_by_patient)
    order = [patients[i] for i in np.random.default_rng(seed).permutation(len(patients))]

    if folds == 1:
        n_train, n_val, n_test = patient_counts(len(patients), shares)
        test = order[:n_test]
        validation = order[n_test : n_test + n_val]
        fold_patients = [sorted(validation)]
    else:
        n_test = patient_counts(len(patients), shares)[2]
        test, rest = order[:n_test], order[n_test:]
        if len(rest) < folds:
            raise DataPrepError(
                f"{manifest_path}: {len(rest)} patients outside the test set cannot make {folds} folds"
            )
        fold_patients = [
            sorted(chunk.tolist()) for chunk in np.array_split(np.array(rest, dtype=object), folds)
        ]
        validation = fold_patients[fold]
    held_out = set(test) | set(validation)
    training = [p for p in patients if p not in held_out]

    def entries(group: Sequence[str]) -> list[dict[str, str]]:
        return [case for patient in sorted(group) for case in cases_by_patient[patient]]

    datalist: dict[str, Any] = {
        "name": manifest.get("name", dataset_dir.name),
        "description": manifest.get("description", ""),
        "labels": manifest.get("labels", {}),
        "modality": manifest.get("modality", {}),
        "seed": seed,
        "num_folds": folds,
        "fold": fold,
        "proportions": list(shares),
        "folds": fold_patients,
        "training": entries(training),
        "validation": entries(validation),
        "test": entries(test) + _unlabelled_test_entries(manifest, manifest_path),
    }
    write_json(datalist, dataset_dir / DATALIST_JSON)
    return datalist


def patient_counts(n_patients: int, proportions: Sequence[float]) -> tuple[int, int, int]:
    """Numbers of training, validation and test patients for ``n_patients`` and ``proportions``."""
    _, p_val, p_test = proportions
    if n_patients < 2:
        return n_patients, 0, 0
    n_test = round(n_patients * p_test) if n_patients >= 3 else 0
    n_val = round(n_patients * p_val)
    if p_val > 0:
        n_val = max(n_val, 1)
    if p_test > 0 and n_patients >= 3:
        n_test = max(n_test, 1)
    while n_val + n_test > n_patients - 1:  # training keeps at least one patient
        if n_test >= n_val and n_test > 0:
            n_test -= 1
        else:
            n_val -= 1
    return n_patients - n_val - n_test, n_val, n_test


def group_by_patient(manifest: dict[str, Any], manifest_path: Path) -> dict[str, list[dict[str, str]]]:
    """Labelled cases of a ``dataset.json`` grouped by patient (a case with no patient is its own)."""
    training = manifest.get("training")
    if not isinstance(training, list) or not training:
        raise DataPrepError(f"{manifest_path}: no 'training' cases")
    groups: dict[str, list[dict[str, str]]] = {}
    for i, case in enumerate(training):
        if not isinstance(case, dict) or "image" not in case or "label" not in case:
            raise DataPrepError(f"{manifest_path}: training[{i}] needs an 'image' and a 'label'")
        for key in ("image", "label"):
            if not (manifest_path.parent / case[key]).is_file():
                raise DataPrepError(f"{manifest_path}: training[{i}] {key} {case[key]} not found")
        patient = str(case.get("patient") or case_name(case["image"]))
        groups.setdefault(patient, []).append(
            {"image": case["image"], "label": case["label"], "patient": patient}
        )
    return groups


def case_name(path: str) -> str:
    """``imagesTr/synth_abdominal_003.nii.gz`` -> ``synth_abdominal_003``."""
    name = Path(path).name
    for suffix in (".nii.gz", ".nii", ".mha", ".nrrd"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def _unlabelled_test_entries(manifest: dict[str, Any], manifest_path: Path) -> list[dict[str, str]]:
    """``dataset.json`` ``test`` images (no label) as datalist entries."""
    entries = []
    for i, item in enumerate(manifest.get("test") or []):
        image = item.get("image") if isinstance(item, dict) else item
        if not isinstance(image, str):
            raise DataPrepError(f"{manifest_path}: test[{i}] is neither a path nor an object with an 'image'")
        patient = item.get("patient") if isinstance(item, dict) else None
        entries.append({"image": image, "patient": str(patient or case_name(image))})
    return entries


def _check_proportions(proportions: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(p) for p in proportions)
    if len(values) != 3 or any(p < 0 or not math.isfinite(p) for p in values):
        raise DataPrepError(
            f"--proportions needs three shares >= 0 (training validation test), got {proportions}"
        )
    if abs(sum(values) - 1.0) > 1e-3 or values[0] <= 0:
        raise DataPrepError(f"--proportions must sum to 1 with a training share > 0, got {proportions}")
    return values  # type: ignore[return-value]
