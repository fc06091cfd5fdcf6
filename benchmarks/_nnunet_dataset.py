"""Our dataset in nnU-Net v2's raw layout, and the one split of ``benchmarks/nnunet_train.py`` (nnU-Net's
environment; imports nothing of this project)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

SUFFIXES = (".nii.gz", ".nii", ".mha", ".nrrd")

# ----------------------------------------------------------------------------------------- dataset conversion


def case_name(path: str) -> str:
    """``imagesTr/synth_abdominal_003.nii.gz`` -> ``synth_abdominal_003``."""
    name = Path(path).name
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def read_split(dataset_dir: str | os.PathLike) -> dict[str, list[dict[str, str]]]:
    """The ``training``, ``validation`` and ``test`` cases of ``datalist.json``: ``{"case", "image", "label"}``
    with absolute paths (``label`` absent for unlabelled test cases). Raises ``ValueError`` naming the file when
    a list is missing or a file does not exist."""
    dataset_dir = Path(dataset_dir)
    path = dataset_dir / "datalist.json"
    if not path.is_file():
        raise ValueError(f"{path}: no datalist.json (python -m data_prep split {dataset_dir})")
    datalist = json.loads(path.read_text(encoding="utf-8"))
    split = {}
    for key in ("training", "validation", "test"):
        entries = []
        for i, entry in enumerate(datalist.get(key) or []):
            case = {"case": case_name(entry["image"]), "image": str(dataset_dir / entry["image"])}
            if entry.get("label"):
                case["label"] = str(dataset_dir / entry["label"])
            for field in ("image", "label"):
                if field in case and not Path(case[field]).is_file():
                    raise ValueError(f"{path}: {key}[{i}] {field} {case[field]} not found")
            entries.append(case)
        split[key] = entries
    if not split["training"]:
        raise ValueError(f"{path}: no 'training' cases")
    return split


def nnunet_labels(labels: dict[str, str]) -> dict[str, int]:
    """This project's ``{"0": "background", "1": "liver"}`` -> nnU-Net v2's ``{"background": 0, "liver": 1}``."""
    out = {name: int(value) for value, name in sorted(labels.items(), key=lambda kv: int(kv[0]))}
    if out.get("background") != 0 and 0 not in out.values():
        raise ValueError(f"labels {labels}: nnU-Net needs label 0 (background)")
    if sorted(out.values()) != list(range(len(out))):
        raise ValueError(f"labels {labels}: nnU-Net needs consecutive label values 0..N-1")
    return out


def dataset_folder_name(dataset_id: int, name: str) -> str:
    """``Dataset<ID>_<name>`` with the name reduced to letters, digits and ``-``."""
    if not 1 <= dataset_id <= 999:
        raise ValueError(f"nnU-Net dataset ids have three digits (1-999), got {dataset_id}")
    clean = re.sub(r"[^A-Za-z0-9-]+", "", name.title()) or "Data"
    return f"Dataset{dataset_id:03d}_{clean}"


def _channel_files(image: str, channels: int, out_stem: Path) -> list[Path]:
    """Write ``image`` as nnU-Net's ``<stem>_0000.nii.gz``, ... (a 4D image is split into its channels)."""
    outs = [Path(f"{out_stem}_{c:04d}.nii.gz") for c in range(channels)]
    if channels == 1:
        shutil.copyfile(image, outs[0]) if image.endswith(".nii.gz") else _resave(image, outs[0])
        return outs
    import nibabel as nib
    import numpy as np

    img = nib.load(image)
    data = np.asanyarray(img.dataobj)
    if data.ndim != 4 or data.shape[-1] != channels:
        raise ValueError(
            f"{image}: expected a 4D image with {channels} channels last, got shape {data.shape}"
        )
    for c, out in enumerate(outs):
        nib.save(nib.Nifti1Image(np.ascontiguousarray(data[..., c]), img.affine), str(out))
    return outs


def _resave(image: str, out: Path) -> None:
    import SimpleITK as sitk

    sitk.WriteImage(sitk.ReadImage(image), str(out))


def convert_dataset(
    dataset_dir: str | os.PathLike, raw_root: str | os.PathLike, dataset_id: int = 500
) -> tuple[Path, dict[str, list[str]]]:
    """Write the ``training`` + ``validation`` cases of ``dataset_dir`` as an nnU-Net v2 raw dataset.

    Returns:
        the ``Dataset<ID>_<name>`` folder and ``{"train": [...], "val": [...], "test": [...]}`` case names.
    """
    dataset_dir = Path(dataset_dir)
    manifest = json.loads((dataset_dir / "dataset.json").read_text(encoding="utf-8"))
    split = read_split(dataset_dir)
    labels = nnunet_labels(manifest["labels"])
    modality = manifest.get("modality") or {"0": "image"}
    channels = len(modality)
    folder = Path(raw_root) / dataset_folder_name(dataset_id, str(manifest.get("name") or dataset_dir.name))
    for old in Path(raw_root).glob(f"Dataset{dataset_id:03d}_*"):
        shutil.rmtree(old)  # one dataset per id: nnU-Net refuses two folders with the same id
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "labelsTr").mkdir()
    for entry in split["training"] + split["validation"]:
        if "label" not in entry:
            raise ValueError(f"{entry['image']}: a training/validation case without a label")
        _channel_files(entry["image"], channels, folder / "imagesTr" / entry["case"])
        label_out = folder / "labelsTr" / f"{entry['case']}.nii.gz"
        shutil.copyfile(entry["label"], label_out) if entry["label"].endswith(".nii.gz") else _resave(
            entry["label"], label_out
        )
    dataset_json = {
        "channel_names": {str(k): str(v) for k, v in sorted(modality.items(), key=lambda kv: int(kv[0]))},
        "labels": labels,
        "numTraining": len(split["training"]) + len(split["validation"]),
        "file_ending": ".nii.gz",
        "name": folder.name,
        "description": f"converted from {dataset_dir} by benchmarks/nnunet_train.py",
    }
    (folder / "dataset.json").write_text(json.dumps(dataset_json, indent=2), encoding="utf-8")
    cases = {key: [e["case"] for e in split[name]] for key, name in
             (("train", "training"), ("val", "validation"), ("test", "test"))}  # fmt: skip
    return folder, cases


def write_splits(preprocessed_folder: str | os.PathLike, train: list[str], val: list[str]) -> Path:
    """``splits_final.json`` with one split (fold 0): our training cases train, our validation cases validate."""
    if not train or not val:
        raise ValueError(f"need training and validation cases, got {len(train)} and {len(val)}")
    path = Path(preprocessed_folder) / "splits_final.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([{"train": list(train), "val": list(val)}], indent=2), encoding="utf-8")
    return path
