"""``prepare`` recipes: one public dataset's own layout -> a dataset folder in one command.

Each recipe module exposes ``RECIPE`` (a :class:`data_prep.recipes._common.Recipe`) and a library
function (``prepare_chaos``, ``prepare_msd``, ``prepare_pancreas_ct``, ``prepare_kvasir``).
"""

from __future__ import annotations

from data_prep.recipes import chaos, kvasir, msd, pancreas_ct
from data_prep.recipes._common import Recipe
from data_prep.recipes.chaos import prepare_chaos
from data_prep.recipes.kvasir import prepare_kvasir
from data_prep.recipes.msd import prepare_msd
from data_prep.recipes.pancreas_ct import prepare_pancreas_ct

#: recipe name on the command line -> recipe
RECIPES: dict[str, Recipe] = {m.RECIPE.name: m.RECIPE for m in (chaos, msd, pancreas_ct, kvasir)}

__all__ = ["RECIPES", "Recipe", "prepare_chaos", "prepare_kvasir", "prepare_msd", "prepare_pancreas_ct"]
