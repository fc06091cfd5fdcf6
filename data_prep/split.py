"""Patient-level split of a dataset into training, validation and test: ``datalist.json``.

Cases are grouped by their ``patient`` (``dataset.json``); whole patients, never single cases, are
assigned to a split, so two series of one patient can never sit on both sides of a split. The
assignment is a seeded shuffle of the sorted patient ids: the same dataset and seed always give
the same split, whatever the order of the cases in ``dataset.json``.

``dataset.json`` is read by :func:`data_prep.contract.load_manifest` (every training image and label must
exist), and the split is checked by :meth:`data_prep.contract.Datalist.from_dict`, the validator its loader
uses, before it is written.

With ``folds=K > 1`` the test patients are held out first (by ``proportions[2]``), and the remaining
patients are cut into ``K`` folds; fold ``k`` validates on its own patients and trains on the
others. The test set does not depend on ``K`` or ``k``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .contract import DATALIST_JSON, DATALIST_VERSION, DATASET_JSON, Case, Datalist, load_manifest
from .contract.datalist import proportions_problem
from .errors import DataPrepError
from .io import write_json

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
    manifest = load_manifest(dataset_dir, check_files=True)
    shares = tuple(float(p) for p in proportions)
    problem = proportions_problem(shares)
    if problem:
        raise DataPrepError(f"--proportions {problem}, got {proportions}")
    if folds < 1:
        raise DataPrepError(f"--folds must be 1 or more, got {folds}")
    if not 0 <= fold < folds:
        raise DataPrepError(f"--fold must be between 0 and {folds - 1}, got {fold}")

    cases_by_patient = group_by_patient(manifest.training)
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
        return [case.to_dict() for patient in sorted(group) for case in cases_by_patient[patient]]

    datalist: dict[str, Any] = {
        "version": DATALIST_VERSION,
        "name": manifest.name,
        "description": manifest.description,
        "labels": manifest.labels,
        "modality": manifest.modality,
        "seed": seed,
        "num_folds": folds,
        "fold": fold,
        "proportions": list(shares),
        "folds": fold_patients,
        "training": entries(training),
        "validation": entries(validation),
        "test": entries(test) + [case.to_dict() for case in manifest.test],
    }
    Datalist.from_dict(datalist, dataset_dir / DATALIST_JSON)  # what is written is what its loader reads
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


def group_by_patient(cases: Sequence[Case]) -> dict[str, list[Case]]:
    """Cases grouped by patient, in their order (a case with no patient in ``dataset.json`` is its own)."""
    groups: dict[str, list[Case]] = {}
    for case in cases:
        groups.setdefault(case.patient, []).append(case)
    return groups
