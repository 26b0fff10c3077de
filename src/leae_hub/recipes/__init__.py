"""Training objectives. Each is an `nn.Module` called as `recipe(model, batch, step) -> ObjectiveOutput`."""

from __future__ import annotations

import inspect
from typing import Any

from .base import ObjectiveOutput, Recipe
from .baseline import BaselineRecipe
from .decoder_probe import DecoderProbeRecipe
from .jepa import JEPARecipe
from .masked import MaskedRecipe
from .self_teaching import SelfTeachingRecipe

RECIPES: dict[str, type[Recipe]] = {
    recipe.name: recipe for recipe in (SelfTeachingRecipe, MaskedRecipe, BaselineRecipe, JEPARecipe, DecoderProbeRecipe)
}


def build_recipe(name: str, **options: Any) -> Recipe:
    """Build the recipe `name` (see `RECIPES`) with its options; unknown names and options are `ValueError`s."""
    if name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}. Valid recipes: {', '.join(RECIPES)}.")
    recipe_class = RECIPES[name]

    valid = [p for p in inspect.signature(recipe_class.__init__).parameters if p != "self"]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"Unknown option(s) {unknown} for recipe {name!r}. Valid options: {', '.join(valid)}.")
    return recipe_class(**options)


__all__ = [
    "RECIPES",
    "BaselineRecipe",
    "DecoderProbeRecipe",
    "JEPARecipe",
    "MaskedRecipe",
    "ObjectiveOutput",
    "Recipe",
    "SelfTeachingRecipe",
    "build_recipe",
]
