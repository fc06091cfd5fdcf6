"""Checks a bundle makes against the dataset's plan before it trains, so a wrong setting fails at once.

The plan is read through its contract's one loader (:func:`data_prep.contract.load_plan`), which refuses a
plan of another version or with a bad field, naming the file and the field.
"""

from __future__ import annotations

import os
from pathlib import Path

from data_prep.contract import PLAN_JSON, Plan, load_plan
from data_prep.errors import DataPrepError

__all__ = ["check_num_classes"]


def check_num_classes(
    plan: Plan | dict | str | os.PathLike, num_classes: int, dataset_dir: str | os.PathLike
) -> None:
    """Raise ``DataPrepError`` naming the plan file when ``num_classes`` disagrees with the plan's labels.

    A bundle takes ``num_classes`` from the plan by default; an explicit ``--num_classes`` that does not
    match the labels the dataset was prepared with would train a network whose outputs mean other classes.
    """
    plan = load_plan(plan)
    if int(num_classes) != plan.num_classes:
        names = ", ".join(f"{i} {name}" for i, name in enumerate(plan.class_names))
        raise DataPrepError(
            f"{Path(dataset_dir) / PLAN_JSON}: the dataset has {plan.num_classes} classes ({names}), "
            f"but num_classes is {num_classes}; drop the --num_classes override or prepare the dataset again"
        )
