"""The check a training makes over its datalist before it builds anything (nnU-Net's
``--verify_dataset_integrity``, always on, and cached).

Every case of the lists a training reads (``training`` and ``validation``: the items of its datasets, so
the check sees what MONAI Label's datastore hands the bundle as well as a datalist) is checked with the rules of
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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from data_prep.contract import Plan, load_plan
from data_prep.errors import DataPrepError
from data_prep.io import write_json
from data_prep.validate import DEFAULT_TOLERANCE, check_case

__all__ = ["CACHE_VERSION", "check_training_data", "datalist_items"]

#: format of the cache file; a cache of another version is ignored
CACHE_VERSION = 1


def datalist_items(
    datalist: str | os.PathLike, key: str, dataset_dir: str | os.PathLike
) -> list[dict[str, Any]]:
    """``monai.data.load_decathlon_datalist(datalist, data_list_key=key, base_dir=dataset_dir)`` (the
    bundles' one datalist reader) with a missing or malformed file, or a missing list, as one
    ``DataPrepError`` line naming the file."""
    from monai.data import load_decathlon_datalist

    datalist = Path(datalist)
    if not datalist.is_file():
        raise DataPrepError(f"{datalist}: no such datalist file (make one with `python -m data_prep split`)")
    try:
        return load_decathlon_datalist(str(datalist), data_list_key=key, base_dir=str(dataset_dir))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataPrepError(f"{datalist}: not a readable JSON file ({err})") from None
    except (ValueError, KeyError, TypeError) as err:
        raise DataPrepError(f"{datalist}: no usable {key!r} list ({err})") from None


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
    cases: Mapping[str, Sequence[Mapping[str, Any]]],
    plan: Plan | dict | str | os.PathLike,
    cache_file: str | os.PathLike | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> int:
    """Check every case a training will read; raise ``DataPrepError`` naming the first bad file.

    Args:
        cases: the lists the training reads, by name: ``{"training": @train#dataset#data, "validation":
            @validate#dataset#data}`` (items with ``image`` and ``label`` paths; a datalist's, or MONAI
            Label's datastore's when it trains the bundle).
        plan: the dataset's plan (labels, channel count).
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
    for split, items in cases.items():
        for i, item in enumerate(items):
            image, label = (None if item.get(k) is None else str(item[k]) for k in ("image", "label"))
            missing = [p for p in (image, label) if p is not None and not os.path.isfile(p)]
            if image is None or missing:
                problems.append(f"{missing[0] if missing else split}: no such file ({split} case {i})")
                continue
            stamp = [_stat(image), _stat(label)]
            if passed.get(f"{image}|{label}") == stamp:
                continue
            read += 1
            info = check_case("", image, label, context["labels"], tolerance)
            found = [f"{p['file']}: {p['problem']}" for p in info["problems"]]
            if info["channels"] is not None and info["channels"] != plan.num_channels:
                found.append(
                    f"{image}: {info['channels']} channel(s) but the plan expects {plan.num_channels}"
                )
            if found:
                problems.extend(found)
            else:
                checked[f"{image}|{label}"] = stamp
    if cache_file is not None and checked != passed:
        write_json({"version": CACHE_VERSION, "context": context, "passed": checked}, cache_file)
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise DataPrepError(f"{problems[0]}{more}; `python -m data_prep validate` lists them all")
    return read
