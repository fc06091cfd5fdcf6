"""``dataset.json``: the manifest of a dataset folder (MSD's format with a ``patient`` on every case).

:class:`Manifest` is its one typed view, :func:`load_manifest` its one loader and :meth:`Manifest.from_dict`
its one validator: ``validate``, ``split``, ``analyze`` and the ``prepare`` recipes read ``dataset.json``
through them, so one rule decides everywhere (``docs/dataset_format.md``):

- ``labels``: class value written as a string -> class name; the keys are exactly ``"0"`` .. ``"N-1"``
  (background ``"0"`` and at least one class), as the label volumes hold 0..N-1;
- ``modality``: input channel written as a string -> name; the keys are exactly ``"0"`` .. ``"C-1"``;
- ``training``: one or more ``{"image", "label", "patient"}`` cases; ``test``: image paths or ``{"image",
  "patient"}``; paths relative to the dataset folder (MSD's ``./`` prefix is dropped), no file listed twice;
  a case with no ``patient`` is its own patient (:func:`case_name`);
- ``numTraining``, ``numTest`` (MSD's counts): when present, integers >= 0; ``validate`` reports a count
  that differs from its list.

``dataset.json`` carries no version: it is MSD's format, which Decathlon tasks and hand-written manifests
share with the files this project writes. :class:`Case` is also the entry of ``datalist.json``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import DataPrepError
from ._checks import (
    check_header,
    field_error,
    is_count,
    is_index_map,
    load_contract,
    ordered,
)

__all__ = [
    "DATASET_JSON",
    "Case",
    "Manifest",
    "case_name",
    "check_index_maps",
    "check_unique",
    "load_manifest",
    "missing_files",
    "parse_case",
    "refuse_missing_files",
]

DATASET_JSON = "dataset.json"
IMAGE_SUFFIXES = (
    ".nii.gz",
    ".nii",
    ".mha",
    ".mhd",
    ".nrrd",
    ".nrrd.gz",
    ".nhdr",
    ".png",
    ".jpg",
    ".jpeg",
    ".dcm",
)
"""Image file suffixes :func:`case_name` removes (case-insensitive)."""
#: the problem of a bad ``labels`` or ``modality`` map, and the fewest entries each needs
_MAP_RULES = {
    "labels": (
        2,
        "keys must be 0..{last}: class values written as strings, '0' background, each with a name",
    ),
    "modality": (1, "must map channels 0..{last} to names (one per image channel)"),
}


def case_name(path: str | os.PathLike) -> str:
    """The file name without folder and image suffix: ``imagesTr/synth_abdominal_003.nii.gz`` ->
    ``synth_abdominal_003`` (the one case-name rule: patients in splits, rows of reports, pictures)."""
    name = Path(str(path)).name
    for suffix in IMAGE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


@dataclass(frozen=True)
class Case:
    """One case of ``dataset.json`` or ``datalist.json``.

    Args:
        image: image path, relative to the dataset folder.
        label: label path, relative to the dataset folder; None for an unlabelled (test) image.
        patient: patient id; the cases of one patient always stay in one split.
    """

    image: str
    label: str | None
    patient: str

    def files(self) -> list[tuple[str, str]]:
        """``[("image", path), ("label", path)]`` (no label entry for an unlabelled image)."""
        return [("image", self.image)] + ([("label", self.label)] if self.label is not None else [])

    def to_dict(self) -> dict[str, str]:
        """The entry as the JSON files hold it: ``image``, ``label`` (when labelled), ``patient``."""
        return {**dict(self.files()), "patient": self.patient}


def parse_case(
    entry: Any,
    source: str | os.PathLike,
    where: str,
    *,
    label: Literal["required", "optional", "ignored"],
    patient_required: bool = False,
) -> Case:
    """Check one entry of a case list (``where``: e.g. ``training[3]``) and build its :class:`Case`.

    A bare string is an image path where no label or patient is required; ``label="ignored"`` drops a label
    (``dataset.json``'s ``test`` images are unlabelled); a missing patient is :func:`case_name` of the image.
    """
    if isinstance(entry, str) and label != "required" and not patient_required:
        entry = {"image": entry}
    needed = (
        ["image"] + (["label"] if label == "required" else []) + (["patient"] if patient_required else [])
    )
    if not isinstance(entry, dict) or any(entry.get(key) in (None, "") for key in needed):
        names = [repr(key) for key in needed]
        listing = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        raise field_error(source, where, f"needs {listing}, got {entry!r}")
    image = _relative(entry["image"], source, where, "image")
    has_label = label != "ignored" and entry.get("label") not in (None, "")
    label_path = _relative(entry["label"], source, where, "label") if has_label else None
    patient = entry.get("patient")
    if patient in (None, ""):
        patient = case_name(image)
    elif isinstance(patient, bool) or not isinstance(patient, str | int):
        raise field_error(source, where, f"patient must be a string, got {patient!r}")
    return Case(image, label_path, str(patient))


def _relative(value: Any, source: str | os.PathLike, where: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise field_error(source, where, f"{key} must be a path, got {value!r}")
    path = value[2:] if value.startswith("./") else value
    if Path(path).is_absolute():
        raise field_error(source, where, f"{key} {value} must be relative to the dataset folder")
    return path


def check_index_maps(
    data: dict[str, Any], source: str | os.PathLike
) -> tuple[dict[str, str], dict[str, str]]:
    """``labels`` and ``modality`` of a ``dataset.json`` or ``datalist.json``, keys in value order."""
    maps = []
    for key, (minimum, problem) in _MAP_RULES.items():
        value = data.get(key)
        if not is_index_map(value, minimum=minimum):
            last = max(len(value) if isinstance(value, dict) else 0, minimum) - 1
            raise DataPrepError(f"{source}: {key!r} {problem.format(last=last)}; got {value!r}")
        maps.append(ordered(value))
    return maps[0], maps[1]


def check_unique(cases: Iterable[tuple[str, Case]], source: str | os.PathLike) -> None:
    """No file listed by two entries (or twice by one)."""
    seen: dict[str, str] = {}
    for where, case in cases:
        for key, path in case.files():
            if path in seen:
                raise field_error(source, where, f"{key} {path} is listed already by {seen[path]}")
            seen[path] = f"{where} {key}"


def missing_files(cases: Iterable[tuple[str, Case]], dataset_dir: Path) -> list[tuple[str, str, str]]:
    """``(where, key, path)`` of every listed file that is not in ``dataset_dir``."""
    return [
        (where, key, path)
        for where, case in cases
        for key, path in case.files()
        if not (dataset_dir / path).is_file()
    ]


def refuse_missing_files(
    cases: Iterable[tuple[str, Case]], dataset_dir: Path, source: str | os.PathLike
) -> None:
    """Refuse the first listed file that is not in ``dataset_dir``: ``<source>: training[3] label <path> not found``."""
    for where, key, path in missing_files(cases, dataset_dir)[:1]:
        raise DataPrepError(f"{source}: {where} {key} {path} not found")


@dataclass(frozen=True)
class Manifest:
    """A dataset folder's ``dataset.json``.

    Args:
        name: dataset name (the folder's name when the file gives none).
        description: free text.
        labels: class value (as a string) -> class name, ``"0"`` (background) first.
        modality: input channel (as a string) -> modality name (``"CT"``, ``"MR"``, ``"FLAIR"``, ...).
        training: the labelled cases.
        test: the unlabelled test images.
        num_training: ``numTraining`` as the file states it (None when absent).
        num_test: ``numTest`` as the file states it (None when absent).
        dataset_dir: the folder the paths are relative to.
    """

    name: str
    description: str
    labels: dict[str, str]
    modality: dict[str, str]
    training: list[Case]
    test: list[Case]
    num_training: int | None = None
    num_test: int | None = None
    dataset_dir: Path = field(default=Path("."), compare=False)

    @property
    def num_classes(self) -> int:
        """Classes, background included."""
        return len(self.labels)

    @property
    def num_channels(self) -> int:
        """Input channels (the ``modality`` count)."""
        return len(self.modality)

    @property
    def modalities(self) -> list[str]:
        """Modality names by channel."""
        return list(self.modality.values())

    def cases(self) -> list[tuple[str, Case]]:
        """``(where, case)`` for every training case and test image, e.g. ``("training[3]", case)``."""
        return [(f"training[{i}]", c) for i, c in enumerate(self.training)] + [
            (f"test[{i}]", c) for i, c in enumerate(self.test)
        ]

    def path(self, relative: str) -> Path:
        """A listed path resolved against the dataset folder."""
        return self.dataset_dir / relative

    def missing_files(self) -> list[tuple[str, str, str]]:
        """``(where, key, path)`` of every listed file the dataset folder lacks."""
        return missing_files(self.cases(), self.dataset_dir)

    @classmethod
    def from_dict(
        cls, data: Any, source: str | os.PathLike = DATASET_JSON, dataset_dir: str | os.PathLike | None = None
    ) -> Manifest:
        """Check ``data`` (a parsed ``dataset.json``) and build the manifest; errors name ``source`` and the
        field. ``dataset_dir`` (default: the folder of ``source``) is what the paths are relative to."""
        check_header(data, source, "manifest", ("labels", "modality", "training"))
        labels, modality = check_index_maps(data, source)
        folder = Path(source).parent if dataset_dir is None else Path(dataset_dir)
        name = data.get("name", folder.resolve().name)
        description = data.get("description", "")
        for key, value in (("name", name), ("description", description)):
            if not isinstance(value, str):
                raise field_error(source, key, f"must be a string, got {value!r}")
        training, test = data["training"], data.get("test") or []
        if not isinstance(training, list) or not training:
            raise field_error(source, "training", f"must list one or more labelled cases, got {training!r}")
        if not isinstance(test, list):
            raise field_error(source, "test", f"must list image paths, got {test!r}")
        counts = {key: data.get(key) for key in ("numTraining", "numTest")}
        for key, value in counts.items():
            if value is not None and not is_count(value):
                raise field_error(source, key, f"must be an integer >= 0, got {value!r}")
        manifest = cls(
            name=name,
            description=description,
            labels=labels,
            modality=modality,
            training=[
                parse_case(e, source, f"training[{i}]", label="required") for i, e in enumerate(training)
            ],
            test=[parse_case(e, source, f"test[{i}]", label="ignored") for i, e in enumerate(test)],
            num_training=counts["numTraining"],
            num_test=counts["numTest"],
            dataset_dir=folder,
        )
        check_unique(manifest.cases(), source)
        return manifest


def load_manifest(dataset: Manifest | dict | str | os.PathLike, *, check_files: bool = False) -> Manifest:
    """The :class:`Manifest` of ``dataset``: a manifest, a parsed ``dataset.json``, the dataset folder or its
    ``dataset.json``.

    Args:
        dataset: what to read.
        check_files: also refuse a training case whose image or label the folder lacks, naming it (the
            files ``split`` and ``analyze`` need; ``validate`` lists every missing file instead).
    """
    advice = "write it with `python -m data_prep prepare` or `python -m data_prep synth`"
    manifest = load_contract(dataset, Manifest, DATASET_JSON, advice)
    if check_files:
        labelled = manifest.cases()[: len(manifest.training)]
        refuse_missing_files(labelled, manifest.dataset_dir, manifest.path(DATASET_JSON))
    return manifest
