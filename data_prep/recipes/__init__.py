"""``prepare`` recipes: one public dataset's own layout -> a dataset folder in one command.

Each recipe module exposes ``RECIPE`` (a :class:`data_prep.recipes._common.Recipe`) and a library
function (``prepare_chaos``, ``prepare_msd``, ``prepare_pancreas_ct``, ``prepare_kvasir``).
"""

from __future__ import annotations

from . import chaos, kvasir, msd, pancreas_ct
from ._common import Recipe
from .chaos import prepare_chaos
from .kvasir import prepare_kvasir
from .msd import prepare_msd
from .pancreas_ct import prepare_pancreas_ct

#: recipe name on the command line -> recipe
RECIPES: dict[str, Recipe] = {m.RECIPE.name: m.RECIPE for m in (chaos, msd, pancreas_ct, kvasir)}

__all__ = ["RECIPES", "Recipe", "prepare_chaos", "prepare_kvasir", "prepare_msd", "prepare_pancreas_ct"]
