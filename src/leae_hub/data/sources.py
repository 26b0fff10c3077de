"""The registry of data sources: each reader of spec strings is one `Source` subclass decorated with `@register_source`.

A source names the prefixes it takes (``kinds``: ``folder`` in ``folder:<dir>``), its forms with their descriptions,
which `DATA_SOURCES` lists (the help texts and the error message for an unknown spec), and how it builds a dataset
from a resolved spec (`SourceRequest`). `SOURCES` maps every prefix to its source, `DATA_SOURCES` every form to its
description, both in the order of registration. A source defined elsewhere (a plug-in, a test) registers the same way
once its module is imported; `build_dataset` (`leae_hub.data.spec`) then takes its prefix like the ones here.

The shortcuts (``mnist``, ``cifar10``, ...) are named data sets under `data_dir()` (`SHORTCUTS`), resolved to one of the
file sources.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from torch.utils.data import Dataset, IterableDataset

from .folders import ImageFolderSource
from .hf import HFSource, HFStreamingSource, _HFRows, load_hf_dataset
from .idx import IdxSource
from .images import CropBox
from .procedural import MixtureOfGaussians2D, SyntheticShapes

DATA_DIR_ENV = "LEAE_DATA_DIR"


def data_dir() -> Path:
    """Where the shortcut data sets live: ``$LEAE_DATA_DIR``, else ``../shared/data`` relative to the current working
    directory (beside the checkout, for a command run from the checkout)."""
    return Path(os.environ.get(DATA_DIR_ENV, Path("..") / "shared" / "data"))


@dataclass(frozen=True)
class SourceRequest:
    """A resolved spec and what `build_dataset` was asked for.

    Args:
        spec: the spec string as given (for messages).
        kind: the source's prefix (``folder``, ``hf``, ...).
        target: what follows the prefix: a path, a Hub id, a length, or "".
        split, image_size, channels, seed, streaming: `build_dataset`'s arguments.
    """

    spec: str
    kind: str
    target: str
    split: str
    image_size: int
    channels: int | None
    seed: int
    streaming: bool


class Source:
    """One form of data spec: `build(request, options)` gives its dataset.

    Class attributes: ``kinds`` (the prefixes it takes, ``kind:<target>``), ``bare`` (the prefix alone is a spec, as
    ``synthetic-shapes``), ``streams`` (its `build` honours ``streaming`` itself; otherwise `build_dataset` reads the
    map-style dataset in order), ``forms`` (its lines in `DATA_SOURCES`: form -> description).
    """

    kinds: ClassVar[tuple[str, ...]] = ()
    bare: ClassVar[bool] = False
    streams: ClassVar[bool] = False
    forms: ClassVar[dict[str, str]]

    @classmethod
    def build(cls, request: SourceRequest, options: dict[str, Any]) -> Dataset | IterableDataset:
        """The dataset of `request`; `options` are `build_dataset`'s extra keyword arguments for this source."""
        raise NotImplementedError


SOURCES: dict[str, type[Source]] = {}
DATA_SOURCES: dict[str, str] = {}
SourceType = TypeVar("SourceType", bound=type[Source])


def register_source(cls: SourceType) -> SourceType:
    """Class decorator: make a `Source` subclass's prefixes specs of `build_dataset` and list its forms in
    `DATA_SOURCES`."""
    if not isinstance(getattr(cls, "forms", None), dict) or not cls.forms:
        raise TypeError(f"{cls.__qualname__} needs a class attribute `forms` ({{form: description}}) to register.")
    for kind in cls.kinds:
        if SOURCES.get(kind, cls) is not cls:
            taken = SOURCES[kind]
            raise ValueError(
                f"Data source prefix {kind!r} is already taken by {taken.__module__}.{taken.__qualname__}."
            )
    SOURCES.update(dict.fromkeys(cls.kinds, cls))
    DATA_SOURCES.update(cls.forms)
    return cls


@register_source
class ProceduralSource(Source):
    """`SyntheticShapes` (option ``max_shapes``) and `MixtureOfGaussians2D` (options ``components``, ``radius``,
    ``std``): no files, ``synthetic-shapes:N`` for N images."""

    kinds, bare = ("synthetic-shapes", "mog-2d"), True
    forms = {
        "synthetic-shapes[:N]": "procedural circles, rings, squares and triangles on varied backgrounds "
        "(label: largest)",
        "mog-2d[:N]": "points of a 2-D mixture of 8 Gaussians on the unit circle (label: component)",
    }

    @classmethod
    def build(cls, request: SourceRequest, options: dict[str, Any]) -> Dataset:
        r = request
        if "crop" in options:
            raise TypeError(
                f"{r.spec}: procedural data takes no crop box (`crop` is for photos: folders, zips, Hub data)"
            )
        if r.target and not r.target.replace("_", "").isdigit():
            raise ValueError(f"{r.spec}: the length after ':' must be a whole number, e.g. {r.kind}:1000")
        length = int(r.target) if r.target else None
        if r.kind == "mog-2d":
            return MixtureOfGaussians2D(length, r.split, r.seed, **options)
        return SyntheticShapes(length, r.split, r.image_size, r.channels, r.seed, **options)


@register_source
class FolderSource(Source):
    """`ImageFolderSource` on a folder or a zip; options ``labels`` (default: the shortcut's, else ``folder``) and
    ``crop`` (default: the shortcut's, else the whole image)."""

    kinds = ("folder", "zip")
    forms = {
        "folder:<dir> | zip:<file.zip> | <path>": "image folder or zip: <split>/<class>/<image>, <class>/<image> "
        "or flat"
    }

    @classmethod
    def build(cls, request: SourceRequest, options: dict[str, Any]) -> Dataset:
        unexpected = sorted(set(options) - {"labels", "crop"})
        if unexpected:
            raise TypeError(
                f"{request.spec}: unexpected options {unexpected} (image folders take only `labels` and `crop`)"
            )
        shortcut = SHORTCUTS.get(request.spec)
        labels = options.get("labels") or (shortcut.labels if shortcut else "folder")
        crop = options.get("crop") or (shortcut.crop if shortcut else None)
        r = request
        return ImageFolderSource(r.target, r.split, r.image_size, r.channels, labels=labels, crop=crop)


@register_source
class IdxFilesSource(Source):
    """`IdxSource`; no options."""

    kinds = ("idx",)
    forms = {
        "idx:<dir> | <dir with IDX files>": "MNIST-style IDX files (*-images-idx3-ubyte[.gz] + "
        "*-labels-idx1-ubyte[.gz])"
    }

    @classmethod
    def build(cls, request: SourceRequest, options: dict[str, Any]) -> Dataset:
        if options:
            raise TypeError(f"{request.spec}: unexpected options {sorted(options)} (IDX files take none)")
        return IdxSource(request.target, request.split, request.image_size, request.channels)


@dataclass(frozen=True)
class Shortcut:
    """A named data set: the source `kind` at `location` (relative to `data_dir()`, or absolute).

    Args:
        kind: the prefix it resolves to (``idx``, ``zip``).
        location: its path under `data_dir()` (an absolute path stays as it is).
        how: how to get it, for the error when it is absent.
        labels: the default ``labels`` option of a folder or zip (`LABELS_FROM_NAMES`).
        crop: the default ``crop`` option of a folder or zip (`check_crop`; None: the whole image).
    """

    kind: str
    location: str
    how: str
    labels: str = "folder"
    crop: CropBox | None = None

    def path(self) -> Path:
        """Where it is now (``$LEAE_DATA_DIR`` is read at each call)."""
        return data_dir() / self.location


SHORTCUTS: dict[str, Shortcut] = {
    "mnist": Shortcut(
        "idx",
        "mnist",
        "put the MNIST IDX files (train-/t10k-images-idx3-ubyte.gz, ...-labels-idx1-ubyte.gz) there "
        "or set LEAE_DATA_DIR to the folder holding mnist/",
    ),
    "mnist-full": Shortcut(
        "idx",
        "mnist-full",
        "put the full MNIST IDX files (60,000 train / 10,000 t10k digits) there "
        "or set LEAE_DATA_DIR to the folder holding mnist-full/",
    ),
    "fashion-mnist": Shortcut(
        "idx",
        "/usr/share/datasets/fashion-mnist",
        "install it with `apt-get install -y dataset-fashion-mnist`",
    ),
    "cifar10": Shortcut(
        "zip",
        "cifar10-jpg.zip",
        "make it a zip of train/<class>/*.jpg and test/<class>/*.jpg (or use the Hub id uoft-cs/cifar10) "
        "or set LEAE_DATA_DIR to the folder holding cifar10-jpg.zip",
    ),
    "celeba-half": Shortcut(
        "zip",
        "celeba-9k-half.zip",
        "make it a zip of train/face/*.jpg and test/face/*.jpg (CelebA img_align_celeba; non-commercial research "
        "only) or set LEAE_DATA_DIR to the folder holding celeba-9k-half.zip",
    ),
    # The face of each aligned CelebA photo framed like UTKFace's chips (eye distance about 0.35 of the side, eyes
    # about 0.43 down): the square of 0.63 of the width (112 of the full resolution's 178 px) centred 0.546 down.
    "celeba-half-face": Shortcut(
        "zip",
        "celeba-9k-half.zip",
        "make it a zip of train/face/*.jpg and test/face/*.jpg (CelebA img_align_celeba; non-commercial research "
        "only) or set LEAE_DATA_DIR to the folder holding celeba-9k-half.zip",
        crop=(0.1854, 0.289, 0.8146, 0.803),
    ),
    "utkface": Shortcut(
        "zip",
        "utkface-128.zip",
        "make it a zip of train/face/*.jpg and test/face/*.jpg with UTKFace's age_gender_race_date file names "
        "(non-commercial research only) or set LEAE_DATA_DIR to the folder holding utkface-128.zip",
        labels="utkface-gender",
    ),
}


@register_source
class ShortcutSource(Source):
    """The `SHORTCUTS`: no prefix of their own, each resolves to a file source (`leae_hub.data.spec`)."""

    forms = {" | ".join(SHORTCUTS): "shortcuts for the real data sets under $LEAE_DATA_DIR"}


@register_source
class DatasetsSource(Source):
    """What `datasets` reads: a Hub dataset, local Parquet / Arrow files (a path, a glob or a folder), a folder written
    by ``Dataset.save_to_disk``; options ``hf_image_column``, ``hf_label_column``, ``hf_load_kwargs`` and ``crop``;
    streamed from the files with ``streaming=True``."""

    kinds, streams = ("hf", "parquet", "arrow", "disk"), True
    forms = {
        "hf:<org/name> | <org/name>": "a Hugging Face Hub dataset (datasets.load_dataset)",
        "parquet:<path|glob|dir> | arrow:<path|glob|dir>": "local Parquet / Arrow files, read like a Hub dataset",
        "disk:<dir>": "a directory written by datasets.Dataset.save_to_disk",
    }

    @classmethod
    def build(cls, request: SourceRequest, options: dict[str, Any]) -> Dataset | IterableDataset:
        options = dict(options)
        load_kwargs = options.pop("hf_load_kwargs", None) or {}
        unexpected = sorted(set(options) - {"hf_image_column", "hf_label_column", "crop"})
        if unexpected:
            raise TypeError(
                f"{request.spec}: unexpected options {unexpected} (Hugging Face sources take hf_image_column, "
                "hf_label_column, hf_load_kwargs and crop)"
            )
        r = request
        hf_dataset = load_hf_dataset(r.kind, r.target, r.split, r.streaming, **load_kwargs)
        rows = _HFRows.prepare(hf_dataset, options.get("hf_image_column"), options.get("hf_label_column"))
        source = HFStreamingSource if r.streaming else HFSource
        return source(rows, r.spec, r.split, r.image_size, r.channels, crop=options.get("crop"))
