"""The plan's contract under the name bundle configs use (``"$data_prep.plan.load_plan(@dataset_dir)"``).

It lives with the other files of a dataset folder in :mod:`data_prep.contract` (:mod:`data_prep.contract.plan`);
this module names the same objects.
"""

from .contract.plan import NORMALIZATIONS, PLAN_JSON, PLAN_VERSION, Plan, load_plan

__all__ = ["NORMALIZATIONS", "PLAN_JSON", "PLAN_VERSION", "Plan", "load_plan"]
