"""Training objectives. Each is an `nn.Module` called as `recipe(model, batch, step) -> ObjectiveOutput`.

Every module in this package is imported here, so a new recipe is one new file with a `@register_recipe` class.
Recipes defined elsewhere (a plug-in, a test) register the same way once their module is imported.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from .base import (
    RECIPES,
    RUN_ARGUMENTS,
    ObjectiveOutput,
    Recipe,
    RecipeCard,
    RecipeOption,
    Stage,
    register_recipe,
)
from .baseline import BaselineRecipe
from .decoder_probe import DecoderProbeRecipe
from .jepa import JEPARecipe
from .judged import JudgedRecipe
from .masked import MaskedRecipe
from .self_teaching import SelfTeachingRecipe

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")


def check_options(name: str, options: dict[str, Any]) -> None:
    """Raise a `ValueError` naming the fix when `name` is not a registered recipe or `options` are not its own."""
    if name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}. Valid recipes: {', '.join(RECIPES)}.")
    recipe_class = RECIPES[name]
    valid = [option.name for option in recipe_class.options()]
    run_arguments = recipe_class.run_arguments()
    unknown = sorted(set(options) - set(valid) - run_arguments)
    if unknown:
        raise ValueError(
            f"Unknown option(s) {unknown} for recipe {name!r}. Valid options: {', '.join(valid) or 'none'}."
        )


def build_recipe(name: str, **options: Any) -> Recipe:
    """Build the recipe `name` (see `RECIPES`) with its options; unknown names and options are `ValueError`s."""
    check_options(name, options)
    return RECIPES[name](**options)


__all__ = [
    "RECIPES",
    "RUN_ARGUMENTS",
    "BaselineRecipe",
    "DecoderProbeRecipe",
    "JEPARecipe",
    "JudgedRecipe",
    "MaskedRecipe",
    "ObjectiveOutput",
    "Recipe",
    "RecipeCard",
    "RecipeOption",
    "SelfTeachingRecipe",
    "Stage",
    "build_recipe",
    "check_options",
    "register_recipe",
]
