"""The registry of views: a view is one function decorated with `@register_view(name, shares=...)`.

The function takes an image batch first and returns its view (or ``(view, mask)``); a random one takes a keyword
``generator``. ``shares`` says how the same random transform reaches several batches (x and x̂):

- ``fixed``: no randomness, the function applied to each batch;
- ``images``: the function takes several batches at once and draws once for all (`crop_resize`);
- ``mask``: the function returns ``(view, mask)``; the mask drawn on the first batch hides the same pixels of every
  batch, ``x·(1 − mask)``;
- ``generator``: only generators in the same state give the same transform (one call per batch).

`build_view` gives a view as a callable ``(x, generator=None) -> view of x``; `joint_view` applies one draw to several
batches (the self-teaching views). A view defined elsewhere (a plug-in, a test) registers the same way once its module
is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

import torch
from torch import Tensor

View = Callable[[Tensor, torch.Generator | None], Tensor]
Shares = Literal["fixed", "images", "mask", "generator"]
ViewFunction = TypeVar("ViewFunction", bound=Callable[..., Tensor | tuple[Tensor, ...]])


@dataclass(frozen=True)
class RegisteredView:
    """A view of the registry.

    Args:
        name: its name in `VIEWS`, configs and command lines (``crop``, ``pixel-mask``).
        function: ``function(x, [generator=...,] **options)`` -> the view, or ``(view, mask)``.
        shares: how one draw reaches several batches (see the module docstring).
    """

    name: str
    function: Callable[..., Tensor | tuple[Tensor, ...]]
    shares: Shares


VIEWS: dict[str, RegisteredView] = {}


def register_view(name: str, shares: Shares = "fixed") -> Callable[[ViewFunction], ViewFunction]:
    """Function decorator: make the view function available by `name` to `build_view` and `joint_view`."""
    if shares not in ("fixed", "images", "mask", "generator"):
        raise ValueError(f"shares must be 'fixed', 'images', 'mask' or 'generator', got {shares!r}")

    def register(function: ViewFunction) -> ViewFunction:
        taken = VIEWS.get(name)
        if taken is not None and taken.function is not function:
            raise ValueError(
                f"View name {name!r} is already taken by {taken.function.__module__}.{taken.function.__qualname__}."
            )
        VIEWS[name] = RegisteredView(name, function, shares)
        return function

    return register


def registered_view(name: str) -> RegisteredView:
    """The view `name`; a ValueError naming the registered views otherwise."""
    if name not in VIEWS:
        raise ValueError(f"unknown view {name!r}; choose one of {', '.join(sorted(VIEWS))}")
    return VIEWS[name]


def build_view(name: str, **kwargs: object) -> View:
    """The view `name` with its keyword arguments fixed, as a callable `(x, generator=None) -> view of x`.

    Mask views return only the masked image. Calling the view on x and on x̂ with generators in the same state
    applies the same transform to both.
    """
    entry = registered_view(name)
    if entry.shares == "fixed":
        return lambda x, generator=None: entry.function(x, **kwargs)

    def view(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        out = entry.function(x, generator=generator, **kwargs)
        return out[0] if isinstance(out, tuple) else out

    return view


def joint_view(
    name: str, *images: Tensor, generator: torch.Generator | None = None, **kwargs: object
) -> tuple[Tensor, ...]:
    """The view `name` of every batch in `images` from ONE draw of `generator`: the same crop boxes, the same hidden
    pixels (set to the view's `fill`), the same fixed transform. A view that shares its draw only through the
    generator's state is a ValueError: call `build_view`'s view on each batch with generators in the same state
    instead."""
    entry = registered_view(name)
    if entry.shares == "fixed":
        return tuple(entry.function(image, **kwargs) for image in images)
    if entry.shares == "images":
        out = entry.function(*images, generator=generator, **kwargs)
        return out if isinstance(out, tuple) else (out,)
    if entry.shares == "mask":
        first, mask = entry.function(images[0], generator=generator, **kwargs)
        fill = kwargs.get("fill", 0.0)
        return (first, *(image * (1 - mask) + fill * mask for image in images[1:]))
    raise ValueError(
        f"view {name!r} shares its transform only through the generator's state; call build_view({name!r}) on each "
        "batch with generators in the same state"
    )
