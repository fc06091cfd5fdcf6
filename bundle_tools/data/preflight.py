"""The check a training makes over its datalist before it builds anything (nnU-Net's
``--verify_dataset_integrity``, always on, and cached).

Every case of the lists a training reads (``training`` and ``validation``) is checked with the rules of
``python -m data_prep validate`` (:func:`data_prep.validate.check_case`): image and label exist and can be
read, share their grid, the image holds no NaN or infinity and has the plan's channel count, the label
holds only the values ``0 .. plan.num_classes - 1``. A problem stops the run at once with one message that
names the file (then the count of the others), instead of an error deep inside a loader thread, a NaN loss,
or an index error in the one-hot encoding hours later.

The cases that passed are remembered in a cache file (path, size and modification time of both files, and
what they were checked against), so a second run, or a resumed one, reads only what changed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from data_prep.contract import Plan, load_plan
from data_prep.errors import DataPrepError
from data_prep.io import write_json
from data_prep.validate import DEFAULT_TOLERANCE, check_case

__all__ = ["CACHE_VERSION", "check_training_data", "datalist_cases"]

#: format of the cache file; a cache of another version is ignored
CACHE_VERSION = 1


def datalist_cases(
    datalist: str | os.PathLike, dataset_dir: str | os.PathLike, keys: tuple[str, ...]
) -> list:
    """``(where, image, label)`` of every entry of ``keys`` in ``datalist`` (a MSD-style JSON file), with
    paths resolved as ``monai.data.load_decathlon_datalist`` resolves them (relative to ``dataset_dir``)."""
    datalist = Path(datalist)
    if not datalist.is_file():
        raise DataPrepError(f"{datalist}: no such datalist file (make one with `python -m data_prep split`)")
    try:
        content = json.loads(datalist.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataPrepError(f"{datalist}: not a readable JSON file ({err})") from None
    if not isinstance(content, dict) or not isinstance(content.get(keys[0]), list) or not content[keys[0]]:
        raise DataPrepError(f"{datalist}: no {keys[0]!r} list of cases")
    cases = []
    for key in keys:
        for i, entry in enumerate(content.get(key) or []):
            if not isinstance(entry, dict) or not isinstance(entry.get("image"), str):
                raise DataPrepError(f"{datalist}: {key}[{i}] has no 'image' path")
            paths = [entry["image"], entry.get("label")]
            image, label = (None if p is None else str(Path(dataset_dir, p)) for p in paths)
            cases.append((f"{key}[{i}]", image, label))
    return cases


def _stat(path: str | None) -> list[int] | None:
    if path is None:
        return None
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]


def _read_cache(cache_file: Path | None, context: dict[str, Any]) -> dict[str, Any]:
    if cache_file is None or not cache_file.is_file():
        return {}
    try:
        cache = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    if (
        not isinstance(cache, dict)
        or cache.get("version") != CACHE_VERSION
        or cache.get("context") != context
    ):
        return {}
    passed = cache.get("passed")
    return passed if isinstance(passed, dict) else {}


def check_training_data(
    datalist: str | os.PathLike,
    dataset_dir: str | os.PathLike,
    plan: Plan | dict | str | os.PathLike,
    keys: tuple[str, ...] = ("training", "validation"),
    cache_file: str | os.PathLike | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> int:
    """Check every case a training will read; raise ``DataPrepError`` naming the first bad file.

    Args:
        datalist: the datalist the training reads (``@datalist``).
        dataset_dir: the folder its paths are relative to (``@dataset_dir``).
        plan: the dataset's plan (labels, channel count).
        keys: the lists of the datalist to check; the first must be present and not empty.
        cache_file: where to remember the cases that passed (e.g. ``runs/preflight.json``); ``None``: no cache.
        tolerance: geometry tolerance between image and label, as ``data_prep validate``.

    Returns:
        the number of cases read this time (0 when the cache held them all).
    """
    plan = load_plan(plan)
    context = {
        "labels": list(range(plan.num_classes)),
        "num_channels": plan.num_channels,
        "tolerance": tolerance,
    }
    cache_file = None if cache_file is None else Path(cache_file)
    passed = _read_cache(cache_file, context)
    checked = dict(passed)
    problems: list[str] = []
    read = 0
    for where, image, label in datalist_cases(datalist, dataset_dir, keys):
        missing = [p for p in (image, label) if p is not None and not os.path.isfile(p)]
        if missing:
            problems.append(f"{missing[0]}: no such file (listed by {datalist} as {where})")
            continue
        stamp = [_stat(image), _stat(label)]
        if passed.get(f"{image}|{label}") == stamp:
            continue
        read += 1
        info = check_case("", image, label, context["labels"], tolerance)
        found = [f"{p['file']}: {p['problem']}" for p in info["problems"]]
        if info["channels"] is not None and info["channels"] != plan.num_channels:
            found.append(f"{image}: {info['channels']} channel(s) but the plan expects {plan.num_channels}")
        if found:
            problems.extend(found)
        else:
            checked[f"{image}|{label}"] = stamp
    if cache_file is not None and checked != passed:
        write_json({"version": CACHE_VERSION, "context": context, "passed": checked}, cache_file)
    if problems:
        more = f" (and {len(problems) - 1} more problem(s) in {datalist})" if len(problems) > 1 else ""
        raise DataPrepError(f"{problems[0]}{more}; `python -m data_prep validate` lists them all")
    return read
