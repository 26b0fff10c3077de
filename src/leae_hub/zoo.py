"""The model zoo: which repos exist, under which Hub organisation, and which of them hold trained weights.

One list for everything that names the zoo: the staged folders under `model_cards/`, their cards' repo ids, the
Space's model menu and the README table. The organisation is ``$LEAE_HUB_ORG`` (default ``leae-hub``), so a person
publishing under their own account sets it once and every id follows:

```python
>>> from leae_hub.zoo import ZOO, repo_id
>>> repo_id("leae-faces-128", org="alice")
'alice/leae-faces-128'
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass

ORG_ENV = "LEAE_HUB_ORG"
DEFAULT_ORG = "leae-hub"


@dataclass(frozen=True)
class ZooEntry:
    """One repo of the zoo.

    Args:
        name: the repo name (also the folder under `model_cards/`).
        title: a short description for menus and tables.
        data: the data source spec it was trained on (see `leae_hub.data`).
        trained: False for a card published ahead of its weights (never offered as a model to load).
    """

    name: str
    title: str
    data: str
    trained: bool = True


ZOO: tuple[ZooEntry, ...] = (
    ZooEntry("leae-faces-128", "faces, 128 px, self-teaching (UTKFace)", "utkface"),
    ZooEntry("leae-celeba-64", "faces, 64 px, self-teaching (CelebA subset)", "celeba-half"),
    ZooEntry("leae-celeba-64-baseline", "faces, 64 px, masked-MSE inpainting baseline (CelebA subset)", "celeba-half"),
    ZooEntry("leae-cifar10-32-self-teaching", "CIFAR-10, 32 px, self-teaching", "cifar10"),
    ZooEntry("leae-cifar10-32-masked", "CIFAR-10, 32 px, leAutoencoder (masked)", "cifar10"),
    ZooEntry("leae-cifar10-32-baseline", "CIFAR-10, 32 px, masked-MSE baseline", "cifar10"),
    ZooEntry("leae-cifar10-32-jepa", "CIFAR-10, 32 px, JEPA + decoder probe", "cifar10"),
    ZooEntry("leae-mnist-jepa", "MNIST, 28 px, JEPA + decoder probe", "mnist"),
    ZooEntry(
        "leae-celeba-128",
        "faces, 128 px, self-teaching on full CelebA (card only, not trained)",
        "flwrlabs/celeba",
        trained=False,
    ),
)


def hub_org(org: str | None = None) -> str:
    """The Hub organisation of the zoo: `org` when given, else ``$LEAE_HUB_ORG``, else ``leae-hub``."""
    return org or os.environ.get(ORG_ENV) or DEFAULT_ORG


def repo_id(name: str, org: str | None = None) -> str:
    """``ORG/name`` for a zoo repo name."""
    return f"{hub_org(org)}/{name}"


def entry(name: str) -> ZooEntry:
    """The zoo entry called `name` (a repo name, or an ``ORG/name`` id)."""
    short = name.rstrip("/").split("/")[-1]
    for item in ZOO:
        if item.name == short:
            return item
    raise KeyError(f"{name!r} is not in the zoo; known: {', '.join(item.name for item in ZOO)}")


def trained_repo_ids(org: str | None = None) -> list[str]:
    """Repo ids of the entries with weights, faces first (the order of `ZOO`)."""
    return [repo_id(item.name, org) for item in ZOO if item.trained]


__all__ = ["DEFAULT_ORG", "ORG_ENV", "ZOO", "ZooEntry", "entry", "hub_org", "repo_id", "trained_repo_ids"]
