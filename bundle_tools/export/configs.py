"""Rewrite a bundle's configs for a self-contained bundle that MONAI Label serves.

* project code -> ``scripts.<package>`` (``_target_`` values and ``$`` expressions; ``"$import scripts"``
  first among the imports; imports of modules nothing names any more are dropped);
* ``bundle_root``: a project expression (``$bundle_tools.config.paths.bundle_root()``) -> ``"."`` (MONAI Label
  sets it to the bundle folder; run from the bundle folder otherwise);
* ``@_meta_#...`` references -> their values from ``metadata.json`` (MONAI Label reads ``inference.json``
  without the metadata);
* a config that names a handler by list position is refused: MONAI Label's train task inserts a
  ``CheckpointLoader`` at index 0 of ``train#handlers``, which would shift every position
  (:func:`check_handler_references`);
* ``train.json``'s ``plan`` -> ``inference.json``'s (the preprocessing plan shipped in ``models/plan.json``:
  MONAI Label fine-tunes the exported model on its own datastore, where no dataset ``plan.json`` exists),
  with ``inference.json``'s ``ckpt_path`` when ``train.json`` has none (the plan is the one beside the weights).

:data:`REQUIRED_IDS` are the ids MONAI Label's bundle tasks drive; :func:`check_required_ids` checks them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .errors import ExportError
from .vendoring import VENDOR_PACKAGE, referenced_packages, rewrite_references

__all__ = [
    "REQUIRED_IDS",
    "channel_def_for_labels",
    "check_required_ids",
    "code_strings",
    "inline_meta_references",
    "check_handler_references",
    "rewrite_configs",
]

REQUIRED_IDS = {
    "inference.json": (
        "network_def",
        "network",
        "preprocessing",
        "postprocessing",
        "inferer",
        "device",
        "bundle_root",
        "run",
    ),
    "train.json": (
        "network_def",
        "network",
        "train#trainer",
        "train#handlers",
        "train#dataset#data",
        "validate#evaluator",
        "validate#dataset#data",
        "device",
        "bundle_root",
        "run",
    ),
}
"""Per config file, the ids that MONAI Label's ``BundleInferTask``/``BundleTrainTask`` read or override."""

_META_REF = re.compile(r"@_meta_((?:#\w+)+)")
_HANDLER_INDEX_REF = re.compile(r"@\w+(?:(?:#|::)\w+)*(?:#|::)(?:val_|train_)?handlers(?:#|::)\d+(?![\w])")
_IMPORT_KEYS = ("imports", "+imports")


def _map_strings(obj: Any, fn: Callable[[str | None, str], str], key: str | None = None) -> Any:
    if isinstance(obj, str):
        return fn(key, obj)
    if isinstance(obj, list):
        return [_map_strings(v, fn, key) for v in obj]
    if isinstance(obj, dict):
        return {k: _map_strings(v, fn, k) for k, v in obj.items()}
    return obj


def _is_code(key: str | None, value: str) -> bool:
    return key == "_target_" or value.startswith("$")


def code_strings(config: Any, include_imports: bool = True) -> Iterator[str]:
    """The ``_target_`` values and ``$`` expressions of a config (optionally without its import list)."""
    found: list[str] = []

    def visit(key: str | None, value: str) -> str:
        if _is_code(key, value):
            found.append(value)
        return value

    if isinstance(config, dict) and not include_imports:
        config = {k: v for k, v in config.items() if k not in _IMPORT_KEYS}
    _map_strings(config, visit)
    yield from found


def _meta_value(metadata: Mapping[str, Any], path: str, file: str) -> Any:
    value: Any = metadata
    for part in path.strip("#").split("#"):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            raise ExportError(f"{file}: @_meta_{path} is not in metadata.json")
    return value


def inline_meta_references(config: Any, metadata: Mapping[str, Any], file: str) -> Any:
    """Replace ``@_meta_#a#b`` by the metadata's value: the JSON value for a whole string, its Python
    literal (``repr``) inside an expression."""

    def fn(key: str | None, value: str) -> Any:
        whole = _META_REF.fullmatch(value)
        if whole:
            return _meta_value(metadata, whole.group(1), file)
        if value.startswith("$") and "@_meta_" in value:
            return _META_REF.sub(lambda m: repr(_meta_value(metadata, m.group(1), file)), value)
        return value

    return _map_strings(config, fn)


def check_handler_references(config: Any, file: str) -> None:
    """Refuse a config that names a handler by its list position, or a ``train#handlers`` entry that is not a
    handler dict.

    MONAI Label's train task reads every entry of ``train#handlers`` as a dict (``t.get("_target_")``) and
    inserts a ``CheckpointLoader`` at index 0, which would shift every position. The bundles name the
    handlers other ids refer to (``@train#early_stop``) and hand them to the trainer after the list.
    """
    found: list[str] = []
    _map_strings(config, lambda k, v: found.extend(m.group(0) for m in _HANDLER_INDEX_REF.finditer(v)) or v)
    if found:
        raise ExportError(
            f"{file}: refers to handlers by list position ({', '.join(sorted(set(found)))}); name them"
        )
    train = config.get("train") if isinstance(config, dict) else None
    handlers = train.get("handlers") if isinstance(train, dict) else None
    if isinstance(handlers, list) and not all(isinstance(h, dict) for h in handlers):
        raise ExportError(
            f"{file}: train#handlers must hold handler dicts only (MONAI Label reads each as a dict)"
        )


def _imported_module(entry: str) -> str | None:
    m = re.fullmatch(r"\$\s*import\s+([\w.]+)\s*", entry)
    return m.group(1) if m else None


def _rewrite_imports(config: dict[str, Any], named: set[str]) -> None:
    for key in _IMPORT_KEYS:
        entries = config.get(key)
        if not isinstance(entries, list):
            continue
        kept = []
        for entry in entries:
            module = _imported_module(entry) if isinstance(entry, str) else None
            vendored = module is not None and module.startswith(VENDOR_PACKAGE + ".")
            if vendored and not any(n == module or n.startswith(module + ".") for n in named):
                continue  # e.g. "$import scripts.bundle_tools.config.paths" once bundle_root no longer uses it
            if entry != f"$import {VENDOR_PACKAGE}":
                kept.append(entry)
        config[key] = kept
    if isinstance(config.get("imports"), list):
        config["imports"].insert(0, f"$import {VENDOR_PACKAGE}")


def _dotted_names(texts: list[str]) -> set[str]:
    pattern = re.compile(rf"(?<![\w.]){VENDOR_PACKAGE}(?:\.\w+)+")
    return {m.group(0) for text in texts for m in pattern.finditer(text)}


def rewrite_configs(
    configs: Mapping[str, Any], metadata: Mapping[str, Any]
) -> tuple[dict[str, Any], set[str]]:
    """The configs of the self-contained bundle and the project packages they name.

    Args:
        configs: ``{file name: config}`` of ``configs/*.json`` (without ``metadata.json``).
        metadata: the bundle's metadata (for ``@_meta_`` references).
    """
    packages: set[str] = set()
    out: dict[str, Any] = {}
    for name, config in configs.items():
        packages |= referenced_packages(code_strings(config, include_imports=False))
        check_handler_references(config, f"configs/{name}")
        config = inline_meta_references(config, metadata, f"configs/{name}")
        if isinstance(config, dict):
            root = config.get("bundle_root")
            if isinstance(root, str) and root.startswith("$") and referenced_packages([root]):
                config = {**config, "bundle_root": "."}
        out[name] = _map_strings(config, lambda k, v: rewrite_references(v) if _is_code(k, v) else v)
    if "plan" in out.get("train.json", {}) and "plan" in out.get("inference.json", {}):
        out["train.json"]["plan"] = out["inference.json"]["plan"]
        if "ckpt_path" in out["inference.json"]:  # the plan is the one beside the weights (@ckpt_path)
            out["train.json"].setdefault("ckpt_path", out["inference.json"]["ckpt_path"])
    named = _dotted_names([s for c in out.values() for s in code_strings(c, include_imports=False)])
    for config in out.values():
        if isinstance(config, dict):
            _rewrite_imports(config, named)
    return out, packages


def channel_def_for_labels(metadata: Mapping[str, Any], inference: Mapping[str, Any]) -> dict[str, str]:
    """The label names MONAI Label shows: label value -> name of the label map that inference writes.

    ``inference.json``'s ``class_names`` (label value i -> name) when present - for multi-label networks
    (e.g. TC/WT/ET channels written as an MSD label map) it differs from the network's output channels;
    otherwise the metadata's ``channel_def`` of the first output.
    """
    names = inference.get("class_names")
    if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
        return {str(i): n for i, n in enumerate(names)}
    try:
        pred = next(iter(metadata["network_data_format"]["outputs"].values()))
        channel_def = pred["channel_def"]
    except (KeyError, StopIteration, TypeError, AttributeError):
        channel_def = None
    if not isinstance(channel_def, Mapping) or not channel_def:
        raise ExportError(
            "configs/metadata.json: network_data_format.outputs has no channel_def and configs/inference.json no "
            "class_names: MONAI Label would show no label names"
        )
    return {str(k): str(v) for k, v in channel_def.items()}


def check_required_ids(configs_dir: Path) -> None:
    """Raise :class:`ExportError` when an id of :data:`REQUIRED_IDS` is missing or ``inference.json`` still
    refers to the metadata."""
    from monai.bundle import ConfigParser

    for name, ids in REQUIRED_IDS.items():
        path = configs_dir / name
        if not path.is_file():
            raise ExportError(f"configs/{name}: missing; MONAI Label needs it")
        parser = ConfigParser()
        parser.read_config(str(path))
        missing = [i for i in ids if i not in parser]
        if missing:
            raise ExportError(f"configs/{name}: ids MONAI Label drives are missing: {', '.join(missing)}")
    text = (configs_dir / "inference.json").read_text(encoding="utf-8")
    if "_meta_" in text:
        raise ExportError(
            "configs/inference.json: still refers to _meta_ (MONAI Label does not merge metadata)"
        )
