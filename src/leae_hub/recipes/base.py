"""What every recipe shares: the output type, the seeded per-step generator, the latent loss, and the registry.

A recipe is one file: a `Recipe` subclass decorated with `@register_recipe`. Its options are its constructor's
keyword arguments (type-annotated, with defaults, described in the class docstring's `Args:` section); the training
script turns them into config keys and command-line flags. A recipe that trains in more than one stage says so in
`stages`.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..modeling_leae import LeaeModel

# Constructor arguments the training loop fills in itself (from `--seed` and the stage's length): never options.
RUN_ARGUMENTS = ("seed", "total_steps")


@dataclass
class ObjectiveOutput:
    """One training step's objective.

    Args:
        loss: the scalar to minimise.
        logs: every term of the loss (and useful diagnostics) as floats.
        images: detached image batches for sample grids, e.g. `input`, `reconstruction`, `masked_input`,
            `masked_reconstruction`.
    """

    loss: Tensor
    logs: dict[str, float] = field(default_factory=dict)
    images: dict[str, Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class RecipeOption:
    """One option of a recipe: a keyword argument of its constructor.

    Args:
        name: the argument's name, also the config key and the command-line flag (`--name`).
        type: its annotation, e.g. `float`, `int | None`, `Sequence[str]`.
        default: the recipe's default (the upstream value).
        help: its entry in the class docstring's `Args:` section ("" when there is none).
    """

    name: str
    type: Any
    default: Any
    help: str = ""


@dataclass(frozen=True)
class RecipeCard:
    """What a model card says about a recipe (`leae_hub.hub.render_card`): a recipe without one trains, but gets no
    card draft.

    Args:
        summary: completes "This model is ..." in the card's first paragraph (Markdown).
        description: how the objective works, in a few sentences.
        equation: the loss in LaTeX (rendered in display math).
        notes: what the equation's symbols and stop-gradients mean.
        limitations: what the recipe itself limits, listed among the card's limitations after the training data.
    """

    summary: str
    description: str
    equation: str
    notes: str
    limitations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stage:
    """One stage of a training run: `recipe` with `options`, trained as a run of its own.

    Args:
        recipe: a registered recipe name.
        options: that recipe's options (the training loop adds `seed` and `total_steps` where it takes them).
        max_steps: the stage's length in optimiser steps; None: the run's own `max_steps` / `num_epochs`.
        output_subdir: where the stage writes, inside the run's `output_dir`; None: the `output_dir` itself (the last
            stage always writes there). A stage in a subfolder counts as done, and is skipped when the run is
            started again, once its `model/config.json` exists.
        init_from_previous: start from the model the previous stage saved.
    """

    recipe: str
    options: dict[str, Any] = field(default_factory=dict)
    max_steps: int | None = None
    output_subdir: str | None = None
    init_from_previous: bool = False


class Recipe(nn.Module):
    """A training objective: `recipe(model, batch, step) -> ObjectiveOutput`.

    `batch` is a dict with `pixel_values` [B, C, H, W] in [0, 1] (and optional `labels`). Randomness (views, masks,
    SIGReg directions) comes from generators seeded by `(seed, step)`, so a resumed run draws exactly what an
    uninterrupted one would. State that must survive a restart (EMA weights, predictors) lives in the recipe's
    `state_dict`.
    """

    name: ClassVar[str]
    card: ClassVar[RecipeCard | None] = None

    def __init__(self, seed: int = 0):
        super().__init__()
        self.seed = seed

    @classmethod
    def options(cls) -> list[RecipeOption]:
        """The recipe's options, in constructor order: every keyword argument except `RUN_ARGUMENTS`.

        A constructor that ends in `**kwargs` passes them on to its parent's, whose options follow its own (as
        `JudgedRecipe`'s do). An option's help comes from the docstring `Args:` of the recipe class, else of the
        class whose constructor declares it.
        """
        parameters = _constructor_parameters(cls)
        helps = {
            klass: _docstring_args(inspect.cleandoc(klass.__doc__ or ""))
            for klass in {cls, *(owner for owner, _, _ in parameters)}
        }
        options = []
        for owner, parameter, annotation in parameters:
            if parameter.name in RUN_ARGUMENTS:
                continue
            if parameter.default is parameter.empty or annotation is None:
                raise TypeError(
                    f"Option {parameter.name!r} of recipe {cls.name!r} needs a type annotation and a default "
                    f"(e.g. `{parameter.name}: float = 0.5`)."
                )
            help_text = helps[cls].get(parameter.name) or helps[owner].get(parameter.name, "")
            options.append(RecipeOption(parameter.name, annotation, parameter.default, help_text))
        return options

    @classmethod
    def run_arguments(cls) -> set[str]:
        """The `RUN_ARGUMENTS` the recipe's constructor (or a parent's it passes `**kwargs` on to) takes."""
        return {parameter.name for _, parameter, _ in _constructor_parameters(cls)} & set(RUN_ARGUMENTS)

    @classmethod
    def stages(cls, options: dict[str, Any]) -> list[Stage]:
        """The stages a run of this recipe with `options` trains, in order; by default one, the recipe itself."""
        return [Stage(cls.name, dict(options))]

    def generator(self, step: int, stream: int = 0) -> torch.Generator:
        """A CPU generator for `step` (and an optional sub-stream), independent of everything else."""
        return torch.Generator().manual_seed((self.seed * 1_000_003 + stream) * 2**32 + step)

    def trainable_parameters(self, model: LeaeModel) -> Iterator[nn.Parameter]:
        """The parameters the optimiser updates: by default the whole autoencoder plus the recipe's own."""
        yield from model.parameters()
        yield from self.parameters()

    def update(self, model: LeaeModel, step: int) -> None:
        """Called after each optimiser step (EMA judges and targets move here)."""


RECIPES: dict[str, type[Recipe]] = {}
RecipeType = TypeVar("RecipeType", bound=type[Recipe])


def register_recipe(cls: RecipeType) -> RecipeType:
    """Class decorator: make a `Recipe` subclass available by its `name` to `build_recipe` and the training script.

    Its options are checked here, so a constructor the command line cannot express fails at import, not mid-run.
    """
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__qualname__} needs a class attribute `name` (e.g. name = 'my-recipe') to register.")
    if RECIPES.get(name, cls) is not cls:
        taken = RECIPES[name]
        raise ValueError(
            f"Recipe name {name!r} is already taken by {taken.__module__}.{taken.__qualname__}; "
            f"give {cls.__module__}.{cls.__qualname__} another `name`."
        )
    cls.options()
    RECIPES[name] = cls
    return cls


def _constructor_parameters(cls: type[Recipe]) -> list[tuple[type, inspect.Parameter, Any]]:
    """(declaring class, parameter, annotation or None) for every named constructor argument of `cls`, following a
    trailing `**kwargs` into the next constructor up the MRO; a name already seen lower down is not repeated."""
    found: list[tuple[type, inspect.Parameter, Any]] = []
    seen: set[str] = set()
    owners = [klass for klass in cls.__mro__ if "__init__" in vars(klass) and issubclass(klass, Recipe)]
    for owner in owners:
        hints = typing.get_type_hints(owner.__init__)
        passes_on = False
        for parameter in list(inspect.signature(owner.__init__).parameters.values())[1:]:
            if parameter.kind is parameter.VAR_KEYWORD:
                passes_on = True
            elif parameter.kind is parameter.VAR_POSITIONAL:
                raise TypeError(f"{owner.__qualname__}.__init__ takes *{parameter.name}; declare each option by name.")
            elif parameter.name not in seen:
                seen.add(parameter.name)
                found.append((owner, parameter, hints.get(parameter.name)))
        if not passes_on:
            break
    return found


def _docstring_args(doc: str) -> dict[str, str]:
    """{argument: description} from a Google-style `Args:` section (continuation lines joined)."""
    found: dict[str, str] = {}
    section = re.search(r"^Args:\n((?:[ \t]+\S.*\n?|[ \t]*\n)+)", doc, flags=re.MULTILINE)
    if section is None:
        return found
    current = None
    for line in section.group(1).splitlines():
        entry = re.match(r"^ {4}(\*{0,2}\w+)(?: \([^)]*\))?: ?(.*)$", line)
        if entry:
            current = entry.group(1)
            found[current] = entry.group(2).strip()
        elif current and line.strip():
            found[current] += " " + line.strip()
    return found


def latent_mse(a: Tensor, b: Tensor) -> Tensor:
    """‖a − b‖² averaged over every latent value (the upstream `mse_loss` on latents)."""
    return F.mse_loss(a, b)
