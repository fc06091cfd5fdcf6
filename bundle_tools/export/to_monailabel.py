"""A self-contained bundle folder (and a zip of it) that MONAI Label's ``monaibundle`` app serves.

Layout of ``DEST`` (its name is the model name in MONAI Label: ``<app>/model/<DEST name>/``)::

    configs/   metadata.json (channel_def = the label names MONAI Label shows), inference.json,
               train.json, ... rewritten by :mod:`bundle_tools.export.configs`; logging.conf
    models/    model.pt ({"model": state dict, "plan_sha256": hash of plan.json}), model.ts (scripted, checked), plan.json,
               postprocessing.json (when training or cv decided one); for an ensemble (``ckpt_paths`` of
               ``--args_file``) also ensemble_0.pt ... (the same format), which inference.json's ``ckpt_paths`` names
    scripts/   the project packages the configs name, copied unchanged (:mod:`bundle_tools.export.vendoring`)
    docs/      the bundle's docs, plus export.json (what was exported and how it was checked)
    LICENSE

and ``DEST.zip`` holding ``<DEST name>/...``. Nothing is written unless all of it succeeds.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..handlers.model_loader import file_sha256
from .configs import channel_def_for_labels, check_required_ids, rewrite_configs
from .errors import ExportError, staged_outputs
from .report import write_report
from .source import BundleSource, load_bundle
from .to_torchscript import save_torchscript

__all__ = ["export_monailabel", "exported_metadata"]

_PROJECT_DISTRIBUTION = "seg3d-bundles"


def exported_metadata(source: BundleSource, inference: dict[str, Any]) -> dict[str, Any]:
    """The metadata of the exported bundle: label names in the first output's ``channel_def``, and no
    requirement on this project (its code is vendored)."""
    meta = copy.deepcopy(source.metadata)
    outputs = meta["network_data_format"]["outputs"]
    pred = outputs[next(iter(outputs))]
    if source.plan is not None:  # the labels the weights were trained with travel with them
        labels = {str(i): name for i, name in enumerate(source.plan.class_names)}
    else:
        labels = channel_def_for_labels(source.metadata, inference)
    if pred.get("channel_def") != labels:
        pred["network_channel_def"] = pred.get("channel_def", {})
        pred["channel_def"] = labels
    packages = meta.get("required_packages_version")
    if isinstance(packages, dict):
        packages.pop(_PROJECT_DISTRIBUTION, None)
    return meta


def _copy_docs_and_licence(source: BundleSource, stage: Path) -> None:
    licence = source.root / "LICENSE"
    if not licence.is_file():
        raise ExportError(f"{licence}: missing; a bundle carries its licence (MONAI bundle specification)")
    shutil.copyfile(licence, stage / "LICENSE")
    docs = source.root / "docs"
    if not (docs / "README.md").is_file():
        raise ExportError(f"{docs / 'README.md'}: missing; a bundle carries its documentation")
    shutil.copytree(docs, stage / "docs", ignore=shutil.ignore_patterns("__pycache__", ".*"))


def _copy_plan(source: BundleSource, stage: Path) -> None:
    plan = source.plan_path
    decision = source.postprocessing_path  # training's (or cv's) largest-component decision
    if decision.is_file():
        shutil.copyfile(decision, stage / "models" / "postprocessing.json")
    elif source.args.postprocessing is not None:
        raise ExportError(f"{decision}: missing (postprocessing_file of the args file)")
    if plan.is_file():
        shutil.copyfile(plan, stage / "models" / "plan.json")
    elif any(n in json.dumps(source.configs["inference.json"]) for n in ("plan.json", "plan_beside_weights")):
        raise ExportError(
            f"{plan}: missing; inference reads the preprocessing plan of training from there "
            "(training writes it; or copy the dataset's plan.json)"
        )


def _ensemble_config(source: BundleSource) -> dict[str, Any]:
    """The configs with inference.json's ``ckpt_paths`` naming the exported members (an ensemble only)."""
    if not source.members:
        return source.configs
    names = [f"ensemble_{k}.pt" for k in range(len(source.members))]
    inference = {
        **source.configs["inference.json"],
        "ckpt_paths": f"$[os.path.join(@ckpt_dir, f) for f in {names!r}]",
    }
    return {**source.configs, "inference.json": inference}


def _write_configs(source: BundleSource, stage: Path) -> tuple[dict[str, Any], dict[str, Any], set[str]]:
    configs, packages = rewrite_configs(_ensemble_config(source), source.metadata)
    metadata = exported_metadata(source, configs["inference.json"])
    folder = stage / "configs"
    folder.mkdir(parents=True)
    for name, config in {**configs, "metadata.json": metadata}.items():
        (folder / name).write_text(json.dumps(config, indent=4) + "\n", encoding="utf-8")
    for other in sorted((source.root / "configs").iterdir()):
        if other.is_file() and other.suffix != ".json" and not other.name.startswith("."):
            shutil.copy2(other, folder / other.name)
    return configs, metadata, packages


def _zip_folder(folder: Path, name: str, zip_path: Path) -> None:
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, f"{name}/{path.relative_to(folder).as_posix()}")


def export_monailabel(
    bundle_dir: str | os.PathLike,
    out: str | os.PathLike,
    ckpt: str | os.PathLike | None = None,
    make_zip: bool = True,
    args_file: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Export a trained bundle to a self-contained MONAI Label bundle ``OUT`` (and ``OUT.zip``).

    Args:
        bundle_dir: the bundle folder.
        out: a folder that does not exist yet; its name is the model name in MONAI Label.
        ckpt: the weights; default ``models/model.pt`` of the bundle.
        make_zip: also write ``OUT.zip`` (must not exist either).
        args_file: the overrides the model was trained and run with; its ``ckpt_paths`` (an ensemble, such as
            ``bundle_tools cv``'s ``ensemble.json``) are exported as ``models/ensemble_K.pt``
            (:mod:`bundle_tools.export.overrides`).
    """
    from .vendoring import vendor_packages

    source = load_bundle(bundle_dir, ckpt, args_file=args_file)
    dest = Path(out).absolute()
    with staged_outputs(dest, extra=(".zip",) if make_zip else ()) as (stage, files):
        configs, metadata, packages = _write_configs(source, stage)
        check_required_ids(stage / "configs")
        models = stage / "models"
        models.mkdir()
        plan_file = source.plan_path  # copied unchanged below: its hash travels too
        plan_hash = {"plan_sha256": file_sha256(plan_file)} if plan_file.is_file() else {}
        torch.save({"model": source.state_dict, **plan_hash}, models / "model.pt")
        members = {}
        for k, member in enumerate(source.members):
            torch.save({"model": member, **plan_hash}, models / f"ensemble_{k}.pt")
            members[f"models/ensemble_{k}.pt"] = {"key": "model", "from": str(source.args.ckpt_paths[k])}
        ts_record = save_torchscript(
            source,
            models / "model.ts",
            {"metadata.json": metadata, "inference.json": configs["inference.json"]},
        )
        _copy_plan(source, stage)
        vendored = vendor_packages(packages, stage / "scripts")
        _copy_docs_and_licence(source, stage)
        report = write_report(
            stage / "docs" / "export.json",
            "monailabel",
            source,
            {"models/model.pt": {"key": "model"}, "models/model.ts": ts_record, **members},
        )
        report["scripts"] = vendored
        report["args_file"] = str(Path(args_file).absolute()) if args_file else None
        report["args_left_out"] = source.args.dropped  # paths of this machine
        report["labels"] = metadata["network_data_format"]["outputs"][source.spec.output_key]["channel_def"]
        (stage / "docs" / "export.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        if make_zip:
            _zip_folder(stage, dest.name, files[".zip"])
    return report
