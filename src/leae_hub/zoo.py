"""The model zoo: which repos exist, under which Hub organisation, and which of them hold trained weights.

One list for everything that names the zoo: the staged folders under `model_cards/`, their cards' repo ids, the
Space's model menu and the README table. The organisation is ``$LEAE_HUB_ORG`` (default ``leae-hub``), so a person
publishing under their own account sets it once and every id follows:

```python
>>> from leae_hub.zoo import ZOO, repo_id
>>> repo_id("leae-faces-128", org="alice")
'alice/leae-faces-128'
```

`DATA_SOURCES` says, for each data spec the zoo trains on, what a model card must state about it: exactly which images,
the Hub dataset ids for the card's YAML, and the terms of use (UTKFace and CelebA: non-commercial research only).
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
        holes: True when it was trained with holes (the `masked` and `baseline` recipes), so it can inpaint; the
            Space's Inpaint tab offers only these.
        twin: the repo name of its counterpart trained at equal steps, data, seed and batch with the other recipe
            (leAutoencoder and its masked-MSE baseline), for side-by-side comparisons; None if it has none.
    """

    name: str
    title: str
    data: str
    trained: bool = True
    holes: bool = False
    twin: str | None = None


ZOO: tuple[ZooEntry, ...] = (
    ZooEntry("leae-faces-128", "faces, 128 px, self-teaching (UTKFace)", "utkface"),
    ZooEntry(
        "leae-faces-128-masked",
        "faces, 128 px, leAutoencoder (masked: inpaints, no pixel loss; UTKFace)",
        "utkface",
        holes=True,
        twin="leae-faces-128-baseline",
    ),
    ZooEntry(
        "leae-faces-128-baseline",
        "faces, 128 px, masked-MSE baseline (inpaints; UTKFace)",
        "utkface",
        holes=True,
        twin="leae-faces-128-masked",
    ),
    ZooEntry(
        "leae-faces-128-masked-l512",
        "faces, 128 px, leAutoencoder, pooled latent 512 (96×; masked: inpaints, no pixel loss; UTKFace)",
        "utkface",
        holes=True,
        twin="leae-faces-128-baseline-l512",
    ),
    ZooEntry(
        "leae-faces-128-baseline-l512",
        "faces, 128 px, masked-MSE baseline, pooled latent 512 (96×; inpaints; UTKFace)",
        "utkface",
        holes=True,
        twin="leae-faces-128-masked-l512",
    ),
    ZooEntry("leae-celeba-64", "faces, 64 px, self-teaching (CelebA subset)", "celeba-half"),
    ZooEntry("leae-cifar10-32-self-teaching", "CIFAR-10, 32 px, self-teaching", "cifar10"),
    ZooEntry(
        "leae-cifar10-32-masked",
        "CIFAR-10, 32 px, leAutoencoder (masked)",
        "cifar10",
        holes=True,
        twin="leae-cifar10-32-baseline",
    ),
    ZooEntry(
        "leae-cifar10-32-baseline",
        "CIFAR-10, 32 px, masked-MSE baseline",
        "cifar10",
        holes=True,
        twin="leae-cifar10-32-masked",
    ),
    ZooEntry("leae-cifar10-32-jepa", "CIFAR-10, 32 px, JEPA + decoder probe", "cifar10"),
    ZooEntry("leae-mnist-jepa", "MNIST, 28 px, JEPA (the seed's setup) + phase-2 decoder", "mnist-full"),
    ZooEntry(
        "leae-celeba-128",
        "faces, 128 px, self-teaching on full CelebA (card only, not trained)",
        "flwrlabs/celeba",
        trained=False,
    ),
)


NON_COMMERCIAL = "**Non-commercial research use only.**"
_UTKFACE_TERMS = (
    f'{NON_COMMERCIAL} UTKFace (Z. Zhang, Y. Song and H. Qi, "Age Progression/Regression by Conditional Adversarial '
    'Autoencoder", CVPR 2017; https://susanqq.github.io/UTKFace/) is available for non-commercial research purposes '
    "only, and so are models trained on it, this one included. The photos' copyright stays with their owners."
)
_CELEBA_TERMS = (
    f'{NON_COMMERCIAL} CelebA (Z. Liu, P. Luo, X. Wang and X. Tang, "Deep Learning Face Attributes in the Wild", '
    "ICCV 2015; https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html) is available for non-commercial research purposes "
    "only, and so are models trained on it, this one included."
)


@dataclass(frozen=True)
class DataSource:
    """What a model card says about a data spec (see `leae_hub.data`).

    Args:
        spec: the data spec (`cifar10`, `utkface`, `flwrlabs/celeba`, ...).
        name: a short name for the card's summary and limitations.
        description: exactly which images the model is trained on (Markdown).
        hub_datasets: Hub dataset ids for the card's YAML `datasets`.
        terms: terms of use every card of a model trained on it must state, or None.
        non_commercial: True when the terms forbid commercial use (the card's license is then `other`).
    """

    spec: str
    name: str
    description: str
    hub_datasets: tuple[str, ...] = ()
    terms: str | None = None
    non_commercial: bool = False


DATA_SOURCES: dict[str, DataSource] = {
    source.spec: source
    for source in (
        DataSource(
            "cifar10",
            "CIFAR-10",
            "CIFAR-10 (A. Krizhevsky, 2009; Hub: `uoft-cs/cifar10`): the 50,000 training images, 32×32 RGB, 10 classes "
            "(data spec `cifar10`: a JPEG re-encode of the originals, so pixels differ slightly from the canonical "
            "release); evaluated on the 10,000 test images",
            ("uoft-cs/cifar10",),
        ),
        DataSource(
            "mnist",
            "MNIST",
            "MNIST (Y. LeCun, C. Cortes and C. Burges; Hub: `ylecun/mnist`): 10,000 training digits, 28×28 grey (data "
            "spec `mnist`: a fixed shuffled subset of the 60,000, none of them in the test set); evaluated on the "
            "official 10,000 test digits",
            ("ylecun/mnist",),
        ),
        DataSource(
            "mnist-full",
            "MNIST",
            "MNIST (Y. LeCun, C. Cortes and C. Burges; Hub: `ylecun/mnist`): all 60,000 training digits, 28×28 grey "
            "(data spec `mnist-full`); evaluated on the official 10,000 test digits",
            ("ylecun/mnist",),
        ),
        DataSource(
            "utkface",
            "UTKFace",
            "UTKFace (Zhang, Song, Qi 2017): 22,317 aligned and cropped face photos (ages 0–116) resized from 200×200 "
            "to 128×128 RGB (data spec `utkface`: `utkface-128.zip`, byte-identical duplicates removed); 1,000 more "
            "photos, drawn with a fixed seed, are held out as the test split (the same aligned and cropped photos, at "
            "200×200, are on the Hub as `py97/UTKFace-Cropped`)",
            ("py97/UTKFace-Cropped",),
            terms=_UTKFACE_TERMS,
            non_commercial=True,
        ),
        DataSource(
            "celeba-half",
            "a CelebA subset",
            "a subset of CelebA (Liu, Luo, Wang, Tang 2015): 8,468 `img_align_celeba` face images from files "
            "000033–009000, at half resolution (89×109 RGB) (data spec `celeba-half`: `celeba-9k-half.zip`); 500 more "
            "from the same range are held out as the test split (all of CelebA's aligned images are on the Hub as "
            "`flwrlabs/celeba`)",
            ("flwrlabs/celeba",),
            terms=_CELEBA_TERMS,
            non_commercial=True,
        ),
        DataSource(
            "celeba-half-face",
            "a CelebA subset, cropped to the face",
            "the images of `celeba-half` (a subset of CelebA, Liu, Luo, Wang, Tang 2015: 8,468 `img_align_celeba` "
            "face images from files 000033–009000 at half resolution, 89×109 RGB, `celeba-9k-half.zip`; 500 more held "
            "out as the test split), each cropped to the face before the resize: the square of 0.63 of the width "
            "centred 0.546 down, the face framed as UTKFace frames its chips (data spec `celeba-half-face`)",
            ("flwrlabs/celeba",),
            terms=_CELEBA_TERMS,
            non_commercial=True,
        ),
        DataSource(
            "flwrlabs/celeba",
            "CelebA",
            "CelebA (Liu, Luo, Wang, Tang 2015) through the Hub dataset `flwrlabs/celeba`: the 162,770 training "
            "images, aligned and cropped, 178×218 RGB, each cut to its central 128×128 as upstream does (the "
            "config's `image_crop`), then sized to the model's input (the official "
            "CelebA site https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html serves the same `img_align_celeba` images)",
            ("flwrlabs/celeba",),
            terms=_CELEBA_TERMS,
            non_commercial=True,
        ),
    )
}


def data_source(spec: str) -> DataSource:
    """The `DataSource` of a data spec (`hf:` prefixes are ignored); KeyError names the known specs."""
    source = DATA_SOURCES.get(spec.removeprefix("hf:"))
    if source is None:
        raise KeyError(
            f"no card text for data spec {spec!r}; known: {', '.join(DATA_SOURCES)} (add it to "
            "leae_hub.zoo.DATA_SOURCES, with its terms of use)"
        )
    return source


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


__all__ = [
    "DATA_SOURCES",
    "DEFAULT_ORG",
    "NON_COMMERCIAL",
    "ORG_ENV",
    "ZOO",
    "DataSource",
    "ZooEntry",
    "data_source",
    "entry",
    "hub_org",
    "repo_id",
    "trained_repo_ids",
]
