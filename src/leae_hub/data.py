"""Data sources named by a spec string, each giving images at a configured ``image_size``.

``build_dataset(spec, split, image_size, ...)`` is the one entry point. Image items are
``{"pixel_values": float32 [C, S, S] in [0, 1], "labels": int64 scalar}`` (label -1 when unknown); the 2-D toy mixture
gives ``{"points": float32 [2], "labels": int64 scalar}``.

===============================================  ======================================================================
spec                                             source
===============================================  ======================================================================
``synthetic-shapes`` / ``synthetic-shapes:N``    procedural shapes on varied backgrounds, no files; the default
``mog-2d`` / ``mog-2d:N``                        2-D mixture of Gaussians (8 components on the unit circle, std 0.1)
``folder:<dir>`` / ``zip:<file.zip>`` / path     image folder or zip: ``<split>/<class>/*.jpg``, ``<class>/*.jpg``, flat
``idx:<dir>`` / directory with IDX files         MNIST-style ``*-images-idx3-ubyte(.gz)`` + ``*-labels-idx1-ubyte(.gz)``
``mnist`` / ``cifar10``                          ``$LEAE_DATA_DIR/mnist`` / ``$LEAE_DATA_DIR/cifar10-jpg.zip``
``mnist-full``                                   ``$LEAE_DATA_DIR/mnist-full`` (all 60,000 / 10,000 digits)
``celeba-half`` / ``utkface``                    ``$LEAE_DATA_DIR/celeba-9k-half.zip`` / ``utkface-128.zip`` (faces,
                                                 non-commercial research only)
``fashion-mnist``                                ``/usr/share/datasets/fashion-mnist`` (``apt-get install
                                                 dataset-fashion-mnist``)
``hf:<org/name>`` / ``<org/name>``               a Hugging Face Hub dataset, ``datasets.load_dataset(id, split=...)``
``parquet:<path|glob|dir>`` / ``arrow:<...>``    local Parquet / Arrow files, through the same code as Hub datasets
``disk:<dir>``                                   a directory written by ``Dataset.save_to_disk``
===============================================  ======================================================================

``LEAE_DATA_DIR`` defaults to ``<repository>/../shared/data``.

Splits. Image folders and zips take the split from a top-level folder (``train``, ``test``, ``validation``/``val``/
``valid``); a tree without split folders serves every split. Below the split, ``<class>/<image>`` gives labels from the
sorted class-folder names (the union over all splits, so ids agree between splits); images lying directly in the split
folder (or in the root) have label -1. A single wrapper folder (``data/train/...``, typical of zips) is looked through.
The face sets (``celeba-half``, ``utkface``) hold one class folder, ``face``: a single class is no label (evaluation
reports "no labels"); the ``utkface`` shortcut labels each image with the gender in its file name instead (option
``labels``). IDX directories map ``train`` to files named ``train*`` and ``test`` to ``t10k*``/``test*``. A
Parquet/Arrow *directory* takes splits from its file names like the Hub does; a single file or glob, like a saved
``Dataset`` (not a ``DatasetDict``), serves every split.

Images are converted by ``to_pixel_values``: any PIL mode or numpy array, resized (bicubic, antialiased) so the shorter
side is ``image_size`` and centre-cropped to a square. Images with transparency are composited on white.

Unreadable images never stop a run and are never replaced by another image: a DataLoader fetches a batch through
``__getitems__``, which leaves unreadable images out (the batch is that much smaller), counts them in ``num_skipped``
(per process) and warns, naming the file, when the count reaches a power of two. ``dataset[i]`` of an unreadable image
is an ``UnreadableImageError`` naming it; ``readable_items`` reads a list of indices the way a DataLoader does. Archive
members and files of a folder are read with a size cap (``MAX_MEMBER_BYTES``): a small zip that inflates to gigabytes,
or a file name that leads to a device, a pipe or a huge file, is an unreadable image, not a hang or an out-of-memory
crash. A zip or gzip file that is not one is a ``ValueError`` naming its path. An empty source is
a ``ValueError`` at construction.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import re
import stat
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

from .image_processing_leae import image_to_pixel_values

if TYPE_CHECKING:
    import datasets

DATA_SOURCES: dict[str, str] = {
    "synthetic-shapes[:N]": "procedural circles, rings, squares and triangles on varied backgrounds (label: largest)",
    "mog-2d[:N]": "points of a 2-D mixture of 8 Gaussians on the unit circle (label: component)",
    "folder:<dir> | zip:<file.zip> | <path>": "image folder or zip: <split>/<class>/<image>, <class>/<image> or flat",
    "idx:<dir> | <dir with IDX files>": "MNIST-style IDX files (*-images-idx3-ubyte[.gz] + *-labels-idx1-ubyte[.gz])",
    "mnist | mnist-full | fashion-mnist | cifar10 | celeba-half | utkface": "shortcuts for the real data sets "
    "under $LEAE_DATA_DIR",
    "hf:<org/name> | <org/name>": "a Hugging Face Hub dataset (datasets.load_dataset)",
    "parquet:<path|glob|dir> | arrow:<path|glob|dir>": "local Parquet / Arrow files, read like a Hub dataset",
    "disk:<dir>": "a directory written by datasets.Dataset.save_to_disk",
}

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm")
_SPLIT_ALIASES = {
    "train": ("train", "training"),
    "validation": ("validation", "val", "valid", "dev"),
    "test": ("test", "testing", "eval"),
}
_KNOWN_SPLITS = frozenset(name for names in _SPLIT_ALIASES.values() for name in names)
_DEFAULT_LENGTH = {"train": 50_000}  # every other split: 1_000
MAX_MEMBER_BYTES = 64 * 2**20  # the largest image file read from a folder or a zip (a stored size is not trusted)
MAX_IDX_BYTES = 8 * 2**30  # the largest IDX array a header may declare (MNIST's 60,000 digits: 47 MB)
# What a broken file raises while being opened, decoded or converted (UnidentifiedImageError is an OSError).
_UNREADABLE = (OSError, ValueError, SyntaxError, EOFError, zlib.error, zipfile.BadZipFile, Image.DecompressionBombError)


class UnreadableImageError(ValueError):
    """An image of a data source could not be read or decoded (`dataset[i]`); DataLoaders skip such images."""


def data_dir() -> Path:
    """Where the shortcut data sets live: ``$LEAE_DATA_DIR``, else ``<repository>/../shared/data``."""
    return Path(os.environ.get("LEAE_DATA_DIR", Path(__file__).resolve().parents[2].parent / "shared" / "data"))


# --------------------------------------------------------------------------------------------------------------------
# Image conversion shared by every image source
# --------------------------------------------------------------------------------------------------------------------


def to_pixel_values(image: Image.Image | np.ndarray, image_size: int, channels: int | None = None) -> torch.Tensor:
    """Convert an image to ``pixel_values``: float32 ``[C, image_size, image_size]`` in [0, 1].

    The conversion of ``LeaeImageProcessor`` (``image_processing_leae.image_to_pixel_values``), so a model sees the
    same tensor for a file in training and at inference: any PIL mode (alpha composited on white; 16-bit and "I"
    greys scaled by 65535, "F" taken as [0, 1]) or an array ``[H, W]`` / ``[H, W, C]`` / ``[C, H, W]`` (uint8, uint16,
    bool or float in [0, 1]); the shorter side resized to ``image_size`` (bicubic, antialiased), the centre cropped.
    ``channels`` forces 1 (ITU-R 601 luma) or 3 (grey repeated); None keeps the image's own count (1 or 3).
    """
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1, 3 or None, got {channels}")
    return image_to_pixel_values(image, image_size, channels)


def _split_key(split: str) -> int:
    """A stable number per split name, so every split draws its own random stream."""
    return zlib.crc32(split.encode())


def _item(pixel_values: torch.Tensor, label: int) -> dict[str, torch.Tensor]:
    return {"pixel_values": pixel_values, "labels": torch.tensor(label, dtype=torch.int64)}


def _check_index(index: int, length: int) -> int:
    if not -length <= index < length:
        raise IndexError(f"index {index} out of range for a dataset of length {length}")
    return index % length


# --------------------------------------------------------------------------------------------------------------------
# Procedural data: synthetic shapes and a 2-D mixture of Gaussians
# --------------------------------------------------------------------------------------------------------------------


class SyntheticShapes(Dataset):
    """Coloured circles, rings, squares and triangles (1 to ``max_shapes`` per image) on a flat, gradient or two-tone
    background, rendered at ``image_size`` with numpy. Edges are anti-aliased analytically: each shape's signed
    distance (in pixels) gives its pixel coverage ``clip(0.5 - d, 0, 1)``. Item ``i`` depends only on
    ``(seed, split, i)``; the label is the class of the largest shape (0 circle, 1 ring, 2 square, 3 triangle), which
    is drawn on top so it is always visible.
    """

    classes = ("circle", "ring", "square", "triangle")

    def __init__(
        self,
        length: int | None = None,
        split: str = "train",
        image_size: int = 32,
        channels: int | None = None,
        seed: int = 0,
        max_shapes: int = 3,
    ) -> None:
        self.length = _DEFAULT_LENGTH.get(split, 1_000) if length is None else length
        if self.length <= 0:
            raise ValueError(f"synthetic-shapes: the {split!r} split needs a positive length, got {self.length}")
        self.split, self.image_size, self.channels, self.seed = split, image_size, channels, seed
        self.max_shapes = max_shapes
        centres = np.arange(image_size, dtype=np.float32) + 0.5
        self._x, self._y = centres[None, :], centres[:, None]  # [1, S], [S, 1]: broadcast to [S, S]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index = _check_index(index, self.length)
        rng = np.random.default_rng((self.seed, _split_key(self.split), index))
        image = self._background(rng)  # [3, S, S]
        shapes = sorted((self._shape(rng) for _ in range(rng.integers(1, self.max_shapes + 1))), key=lambda s: s[0])
        background_colour = image.mean(axis=(1, 2))
        for _, _, coverage in shapes:
            colour = rng.random(3, dtype=np.float32)
            if np.abs(colour - background_colour).max() < 0.3:  # too close to the background: take the complement
                colour = 1.0 - colour
            image += coverage * (colour[:, None, None] - image)
        return _item(to_pixel_values(image.transpose(1, 2, 0), self.image_size, self.channels), shapes[-1][1])

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        size = self.image_size
        first, second = rng.random((2, 3, 1, 1), dtype=np.float32)
        kind = rng.integers(3)  # 0 flat, 1 linear gradient, 2 two-tone split along a line
        if kind == 0:
            return np.broadcast_to(first, (3, size, size)).copy()
        angle, offset_x, offset_y = rng.uniform(0, 2 * math.pi), *(rng.uniform(0.25, 0.75, 2) * size).tolist()
        along = (self._x - offset_x) * math.cos(angle) + (self._y - offset_y) * math.sin(angle)  # [S, S], pixels
        weight = along / size + 0.5 if kind == 1 else 0.5 - along
        return first + np.clip(weight, 0.0, 1.0) * (second - first)

    def _shape(self, rng: np.random.Generator) -> tuple[float, int, np.ndarray]:
        """A random shape as (area, class id, coverage [S, S])."""
        size = self.image_size
        kind = int(rng.integers(4))
        radius = rng.uniform(0.15, 0.35) * size
        centre_x, centre_y = rng.uniform(0.6 * radius, size - 0.6 * radius, 2).tolist()  # floats keep float32
        angle = rng.uniform(0, 2 * math.pi)
        dx, dy = self._x - centre_x, self._y - centre_y
        if kind in (0, 1):  # circle; ring of thickness 30-50 % of the radius
            distance = np.hypot(dx, dy)
            if kind == 0:
                area, signed = math.pi * radius**2, distance - radius
            else:
                thickness = rng.uniform(0.3, 0.5) * radius
                area = math.pi * (radius**2 - (radius - thickness) ** 2)
                signed = np.abs(distance - (radius - thickness / 2)) - thickness / 2
        elif kind == 2:  # square of half-side 0.8 radius, rotated
            half = 0.8 * radius
            cos, sin = math.cos(angle), math.sin(angle)
            area = 4 * half**2
            signed = np.maximum(np.abs(dx * cos + dy * sin), np.abs(dy * cos - dx * sin)) - half
        else:  # equilateral triangle of circumradius 1.1 radius, rotated: the farthest of its three edge lines
            circumradius = 1.1 * radius
            area = 3 * math.sqrt(3) / 4 * circumradius**2
            edges = [angle + k * 2 * math.pi / 3 for k in range(3)]
            signed = np.maximum.reduce([dx * math.cos(a) + dy * math.sin(a) for a in edges]) - circumradius / 2
        return area, kind, np.clip(0.5 - signed, 0.0, 1.0)


class MixtureOfGaussians2D(Dataset):
    """Points of a 2-D mixture of ``components`` Gaussians (std ``std``) centred on a circle of radius ``radius``.

    Items are ``{"points": float32 [2], "labels": component id}``; all points are drawn at construction from
    ``(seed, split)``, so splits differ and a dataset is reproducible.
    """

    def __init__(
        self,
        length: int | None = None,
        split: str = "train",
        seed: int = 0,
        components: int = 8,
        radius: float = 1.0,
        std: float = 0.1,
    ) -> None:
        length = _DEFAULT_LENGTH.get(split, 1_000) if length is None else length
        if length <= 0:
            raise ValueError(f"mog-2d: the {split!r} split needs a positive length, got {length}")
        rng = np.random.default_rng((seed, _split_key(split)))
        angles = 2 * np.pi * np.arange(components) / components
        self.centres = (radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)).astype(np.float32)
        labels = rng.integers(components, size=length)
        points = self.centres[labels] + std * rng.standard_normal((length, 2))
        self.points = torch.from_numpy(points.astype(np.float32))
        self.labels = torch.from_numpy(labels.astype(np.int64))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"points": self.points[index], "labels": self.labels[index]}


# --------------------------------------------------------------------------------------------------------------------
# Image sources read from files
# --------------------------------------------------------------------------------------------------------------------


class _SkipsUnreadable:
    """Counts unreadable images and warns when the count reaches a power of two."""

    spec: str
    num_skipped: int = 0

    def _skipped(self, where: str, error: Exception) -> None:
        self.num_skipped += 1
        if self.num_skipped & (self.num_skipped - 1) == 0:
            warnings.warn(
                f"{self.spec}: skipped {self.num_skipped} unreadable image(s) so far (last: {where}: {error})",
                RuntimeWarning,
                stacklevel=3,
            )


class _ImageSource(_SkipsUnreadable, Dataset):
    """Base of the map-style image sources: subclasses implement ``_read(i) -> (image, label)``."""

    def __init__(self, spec: str, split: str, image_size: int, channels: int | None, length: int) -> None:
        if length == 0:
            raise ValueError(f"{spec}: no images found for split {split!r}")
        self.spec, self.split, self.image_size, self.channels, self.length = spec, split, image_size, channels, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index = _check_index(index, self.length)
        try:
            image, label = self._read(index)
            return _item(to_pixel_values(image, self.image_size, self.channels), label)
        except _UNREADABLE as error:
            raise UnreadableImageError(f"{self.spec}: {self._name(index)} is unreadable: {error}") from error

    def __getitems__(self, indices: list[int]) -> list[dict[str, torch.Tensor]]:
        """The readable items among `indices` (what a DataLoader fetches for one batch); unreadable ones are left out
        and counted, never replaced by another image (an empty list when none is: the training skips that batch)."""
        items = []
        for index in indices:
            try:
                items.append(self[index])
            except UnreadableImageError as error:
                self._skipped(self._name(_check_index(index, self.length)), error.__cause__ or error)
        return items

    def _read(self, index: int) -> tuple[Image.Image | np.ndarray, int]:
        raise NotImplementedError

    def _name(self, index: int) -> str:
        return f"item {index}"


def readable_items(dataset: Dataset, indices: Iterable[int]) -> list[dict[str, torch.Tensor]]:
    """The items at `indices` that can be read, as a DataLoader fetches them (unreadable images left out, counted)."""
    indices = list(indices)
    if hasattr(dataset, "__getitems__"):
        return dataset.__getitems__(indices)
    return [dataset[index] for index in indices]


def first_readable(dataset: Dataset, tries: int = 32) -> dict[str, torch.Tensor]:
    """The first readable item among the first `tries` (to learn the channel count of a source)."""
    items = readable_items(dataset, range(min(tries, len(dataset))))
    if not items:
        raise ValueError(f"{getattr(dataset, 'spec', 'the data')}: none of the first {tries} images is readable")
    return items[0]


def _read_regular_file(path: Path) -> bytes:
    """The bytes of `path` (links followed) when it is a regular file of at most `MAX_MEMBER_BYTES`; a device, pipe,
    socket or larger file is refused before it is opened (reading `/dev/zero` or a FIFO would never end)."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise ValueError("it is not a regular file (a device, pipe, socket or folder)")
    if info.st_size > MAX_MEMBER_BYTES:
        raise ValueError(f"it has {info.st_size} bytes, more than MAX_MEMBER_BYTES ({MAX_MEMBER_BYTES})")
    with path.open("rb") as handle:
        data = handle.read(MAX_MEMBER_BYTES + 1)  # the file may have grown since
    if len(data) > MAX_MEMBER_BYTES:
        raise ValueError(f"it grew past MAX_MEMBER_BYTES ({MAX_MEMBER_BYTES} bytes) while being read")
    return data


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# Labels an image folder can take instead of its class folders: name -> (what the label means, file name -> label).
_UTKFACE_NAME = re.compile(r"^(\d+)_([01])_(\d+)_")
LABELS_FROM_NAMES: dict[str, str] = {
    "folder": "the class folder (<split>/<class>/<image>); none for images directly in the split folder",
    "utkface-gender": "gender from UTKFace file names age_gender_race_date.jpg (0 male, 1 female; -1 if absent)",
}


def _utkface_gender(name: str) -> int:
    match = _UTKFACE_NAME.match(name.rsplit("/", 1)[-1])
    return int(match.group(2)) if match else -1


class ImageFolderSource(_ImageSource):
    """Images from a folder or a ``.zip`` archive (see the module docstring for the layouts).

    The member list is indexed once at construction; images are read and decoded in ``__getitem__``. A zip is opened
    lazily in each process (DataLoader workers included) and never pickled. ``labels`` picks what an item's label is
    (``LABELS_FROM_NAMES``): its class folder (the default) or, for UTKFace, the gender in its file name;
    ``label_description`` says which, for reports.
    """

    def __init__(
        self,
        path: str | Path,
        split: str = "train",
        image_size: int = 32,
        channels: int | None = None,
        labels: str = "folder",
    ):
        if labels not in LABELS_FROM_NAMES:
            raise ValueError(f"labels must be one of {', '.join(LABELS_FROM_NAMES)}, got {labels!r}")
        self.path = Path(path)
        self.is_zip = self.path.is_file()
        if not self.path.exists():
            raise FileNotFoundError(f"image folder or zip not found: {self.path}")
        if self.is_zip:
            with _open_zip(self.path) as archive:
                names = [info.filename for info in archive.infolist() if not info.is_dir()]
        else:
            names = [
                (Path(folder) / file).relative_to(self.path).as_posix()
                for folder, _, files in os.walk(self.path)
                for file in files
            ]
        self.files, self.labels, self.classes = _folder_layout(names, split, str(self.path))
        if labels == "utkface-gender":
            self.labels, self.classes = [_utkface_gender(name) for name in self.files], ["male", "female"]
        self.label_description = LABELS_FROM_NAMES[labels]
        self._archive: zipfile.ZipFile | None = None
        self._archive_pid = -1
        super().__init__(str(self.path), split, image_size, 3 if channels is None else channels, len(self.files))

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_archive": None, "_archive_pid": -1}

    def _read(self, index: int) -> tuple[Image.Image, int]:
        name = self.files[index]
        if not self.is_zip:
            return _decode(_read_regular_file(self.path / name)), self.labels[index]
        if self._archive is None or self._archive_pid != os.getpid():  # first read in this process
            self._archive, self._archive_pid = _open_zip(self.path), os.getpid()
        chunks, size = [], 0
        with self._archive.open(name) as member:  # inflated a MiB at a time, whatever the header claims
            while chunk := member.read(2**20):
                size += len(chunk)
                if size > MAX_MEMBER_BYTES:
                    raise ValueError(f"it inflates to more than MAX_MEMBER_BYTES ({MAX_MEMBER_BYTES} bytes)")
                chunks.append(chunk)
        return _decode(b"".join(chunks)), self.labels[index]

    def _name(self, index: int) -> str:
        return self.files[index]


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(f"{path} is not a readable zip archive ({error}); check the file or pass a folder") from error


def _folder_layout(names: list[str], split: str, spec: str) -> tuple[list[str], list[int], list[str]]:
    """Select the split's image files from relative posix names; return (files, labels, class names)."""
    paths = sorted(
        tuple(name.split("/"))
        for name in names
        if name.lower().endswith(IMAGE_EXTENSIONS)
        and not any(part.startswith(".") or part == "__MACOSX" for part in name.split("/"))
    )
    if not paths:
        raise ValueError(f"{spec}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)})")
    prefix: tuple[str, ...] = ()  # look through single wrapper folders, e.g. a zip of "data/train/..."
    while len({p[len(prefix)] for p in paths}) == 1 and all(len(p) > len(prefix) + 1 for p in paths):
        if paths[0][len(prefix)].lower() in _KNOWN_SPLITS:
            break
        prefix = paths[0][: len(prefix) + 1]
    relative = [p[len(prefix) :] for p in paths]
    split_folders = sorted({p[0] for p in relative if len(p) > 1 and p[0].lower() in _KNOWN_SPLITS})
    if split_folders:
        wanted = next((set(names) for names in _SPLIT_ALIASES.values() if split.lower() in names), {split.lower()})
        if not any(folder.lower() in wanted for folder in split_folders):
            raise ValueError(f"{spec}: no images found for split {split!r} (split folders: {', '.join(split_folders)})")
        relative = [p for p in relative if len(p) > 1 and p[0] in split_folders]
        classes = sorted({p[1] for p in relative if len(p) > 2})
        chosen = [p for p in relative if p[0].lower() in wanted]
        inside = [p[1:] for p in chosen]  # path below the split folder
    else:
        classes = sorted({p[0] for p in relative if len(p) > 1})
        chosen = inside = relative
    if any(len(p) == 1 for p in inside):  # images lie directly in the split folder (or root): no labels
        classes, labels = [], [-1] * len(inside)
    else:
        ids = {name: i for i, name in enumerate(classes)}
        labels = [ids[p[0]] for p in inside]
    files = ["/".join(prefix + p) for p in chosen]
    return files, labels, classes


class IdxSource(_ImageSource):
    """MNIST-style IDX files: ``train*`` files for ``split="train"``, ``t10k*``/``test*`` for ``split="test"``.

    Images are ``*-images-idx3-ubyte`` (gzip optional) with a matching ``*-labels-idx1-ubyte``; without a labels file
    the labels are -1. Everything is read at construction (uint8), converted per item. One channel by default.
    """

    _SPLIT_PREFIXES = {"train": ("train",), "test": ("t10k", "test")}

    def __init__(
        self, directory: str | Path, split: str = "train", image_size: int = 28, channels: int | None = None
    ) -> None:
        self.directory = Path(directory)
        images_file = self._find(split)
        self.images = _read_idx(images_file, dimensions=3)  # [N, H, W] uint8
        labels_file = images_file.with_name(images_file.name.replace("images-idx3", "labels-idx1"))
        if labels_file.exists():
            self.labels = _read_idx(labels_file, dimensions=1).astype(np.int64)
            if len(self.labels) != len(self.images):
                raise ValueError(f"{labels_file}: {len(self.labels)} labels for {len(self.images)} images")
        else:
            self.labels = np.full(len(self.images), -1, dtype=np.int64)
        super().__init__(str(images_file), split, image_size, 1 if channels is None else channels, len(self.images))

    def _find(self, split: str) -> Path:
        files = sorted(self.directory.glob("*-images-idx3-ubyte*")) if self.directory.is_dir() else []
        if not files:
            raise FileNotFoundError(f"no IDX image files (*-images-idx3-ubyte[.gz]) in {self.directory}")
        if split not in self._SPLIT_PREFIXES:
            raise ValueError(f"{self.directory}: IDX data has the splits 'train' and 'test', not {split!r}")
        by_stem: dict[str, Path] = {}  # an uncompressed copy wins over its .gz
        for file in files:
            if file.name.startswith(self._SPLIT_PREFIXES[split]) and file.name.endswith(("ubyte", "ubyte.gz")):
                by_stem.setdefault(file.name.removesuffix(".gz"), file)
        if len(by_stem) != 1:
            found = ", ".join(file.name for file in files)
            raise ValueError(f"{self.directory}: expected one {split!r} IDX image file, found {found or 'none'}")
        return next(iter(by_stem.values()))

    def _read(self, index: int) -> tuple[np.ndarray, int]:
        return self.images[index], int(self.labels[index])


def _read_idx(path: Path, dimensions: int) -> np.ndarray:
    """Read an unsigned-byte IDX file (big-endian header: magic 0x0000080D with D = dimensions, then the sizes).

    A gzip file is inflated only as far as its header's sizes say (at most ``MAX_IDX_BYTES``), so a small file that
    inflates to gigabytes is refused rather than read into memory.
    """
    header = 4 + 4 * dimensions
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as handle:
            head = handle.read(header)
            if len(head) < header or head[:4] != bytes([0, 0, 8, dimensions]):
                raise ValueError(f"{path}: not an unsigned-byte IDX file with {dimensions} dimension(s)")
            shape = tuple(int(n) for n in np.frombuffer(head, dtype=">u4", count=dimensions, offset=4))
            size = math.prod(shape)
            if size > MAX_IDX_BYTES:
                raise ValueError(f"{path}: header says {shape} ({size} bytes), more than MAX_IDX_BYTES")
            data = handle.read(size + 1)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise ValueError(f"{path} is not a readable gzip file ({error}); download it again") from error
    if len(data) != size:
        held = f"{len(data)}" if len(data) <= size else "more"
        raise ValueError(f"{path}: header says {shape} ({size} bytes), file holds {held}")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


# --------------------------------------------------------------------------------------------------------------------
# Hugging Face datasets: Hub ids and local Parquet / Arrow / save_to_disk data, one code path
# --------------------------------------------------------------------------------------------------------------------

_IMAGE_COLUMN_NAMES = ("image", "img", "pixel_values")
_LABEL_COLUMN_NAMES = ("label", "labels", "fine_label")


def load_hf_dataset(
    kind: str, target: str, split: str, streaming: bool = False, **load_kwargs: Any
) -> datasets.Dataset | datasets.IterableDataset:
    """Load a ``datasets`` split: ``kind`` is ``hf`` (Hub id), ``parquet``/``arrow`` (files) or ``disk``.

    ``load_kwargs`` go to ``datasets.load_dataset`` (``datasets.load_from_disk`` for ``disk``).
    """
    import datasets

    if kind == "disk":
        loaded = datasets.load_from_disk(target, **load_kwargs)
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise ValueError(f"disk:{target}: no split {split!r} (splits: {', '.join(loaded)})")
            loaded = loaded[split]
        return loaded.to_iterable_dataset() if streaming else loaded
    if kind == "hf":
        return datasets.load_dataset(target, split=split, streaming=streaming, **load_kwargs)
    if Path(target).is_dir():  # split names from the file names, as on the Hub
        return datasets.load_dataset(kind, data_dir=target, split=split, streaming=streaming, **load_kwargs)
    return datasets.load_dataset(kind, data_files=target, split="train", streaming=streaming, **load_kwargs)


def _hf_columns(
    hf_dataset: datasets.Dataset | datasets.IterableDataset, image_column: str | None, label_column: str | None
) -> tuple[str, str | None]:
    """Find the image column (first ``Image`` feature, else a usual name) and the label column (first
    ``ClassLabel``, else a usual name; None when there is none)."""
    import datasets

    features = hf_dataset.features or dict.fromkeys(next(iter(hf_dataset)))  # streams may not know their features
    names = list(features)
    for given in (image_column, label_column):
        if given is not None and given not in features:
            raise ValueError(f"column {given!r} not in the dataset (columns: {', '.join(names)})")
    image_column = image_column or next(
        (name for name in names if isinstance(features[name], datasets.Image)),
        next((name for name in _IMAGE_COLUMN_NAMES if name in features), None),
    )
    if image_column is None:
        raise ValueError(f"no image column found (columns: {', '.join(names)}); pass hf_image_column=<name>")
    label_column = label_column or next(
        (name for name in names if isinstance(features[name], datasets.ClassLabel)),
        next((name for name in _LABEL_COLUMN_NAMES if name in features), None),
    )
    label_feature = features.get(label_column)
    if isinstance(label_feature, datasets.Value) and not label_feature.dtype.startswith(("int", "uint")):
        raise ValueError(
            f"label column {label_column!r} holds {label_feature.dtype}, not class ids; "
            "encode it (Dataset.class_encode_column) or pass hf_label_column=<name>"
        )
    return image_column, label_column


@dataclass(frozen=True)
class _HFRows:
    """A Hugging Face dataset cut down to its image and label columns, with image decoding left to us so that a
    corrupt image is skipped rather than fatal."""

    dataset: datasets.Dataset | datasets.IterableDataset
    image_column: str
    label_column: str | None

    @classmethod
    def prepare(
        cls,
        hf_dataset: datasets.Dataset | datasets.IterableDataset,
        image_column: str | None = None,
        label_column: str | None = None,
    ) -> _HFRows:
        """Find (or check) the two columns, keep only them, and stop `datasets` from decoding the images."""
        import datasets

        image_column, label_column = _hf_columns(hf_dataset, image_column, label_column)
        hf_dataset = hf_dataset.select_columns([c for c in (image_column, label_column) if c is not None])
        if hf_dataset.features is not None and isinstance(hf_dataset.features[image_column], datasets.Image):
            hf_dataset = hf_dataset.cast_column(image_column, datasets.Image(decode=False))
        return cls(hf_dataset, image_column, label_column)

    def example(self, row: dict[str, Any]) -> tuple[Any, int]:
        """(image, label) of one row; the label is -1 without a label column."""
        import datasets

        image = row[self.image_column]
        if isinstance(image, dict):  # an undecoded datasets.Image value: {"bytes": ..., "path": ...}
            image = datasets.Image().decode_example(image)
            image.load()
        elif not isinstance(image, Image.Image):
            image = np.asarray(image)
        label = row[self.label_column] if self.label_column is not None else None
        return image, -1 if label is None else int(label)


class HFSource(_ImageSource):
    """A map-style ``datasets.Dataset`` (Hub or local) with auto-detected image and label columns."""

    def __init__(self, rows: _HFRows, spec: str, split: str, image_size: int, channels: int | None) -> None:
        self.rows = rows
        super().__init__(spec, split, image_size, 3 if channels is None else channels, len(rows.dataset))

    def _read(self, index: int) -> tuple[Any, int]:
        return self.rows.example(self.rows.dataset[index])


class HFStreamingSource(_SkipsUnreadable, IterableDataset):
    """A streamed ``datasets.IterableDataset`` converted like ``HFSource``; unreadable images are skipped.

    In DataLoader workers the underlying stream shards itself across workers.
    """

    def __init__(self, rows: _HFRows, spec: str, split: str, image_size: int, channels: int | None) -> None:
        self.rows, self.spec, self.split, self.image_size = rows, spec, split, image_size
        self.channels = 3 if channels is None else channels

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for position, row in enumerate(self.rows.dataset):
            try:
                image, label = self.rows.example(row)
                yield _item(to_pixel_values(image, self.image_size, self.channels), label)
            except _UNREADABLE as error:
                self._skipped(f"item {position}", error)


class _Streamed(IterableDataset):
    """A map-style dataset read in order as a stream; DataLoader workers take interleaved indices."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        worker = get_worker_info()
        start, step = (0, 1) if worker is None else (worker.id, worker.num_workers)
        for index in range(start, len(self.dataset), step):
            yield self.dataset[index]


# --------------------------------------------------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------------------------------------------------

_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_PREFIXES = ("synthetic-shapes", "mog-2d", "folder", "zip", "idx", "hf", "parquet", "arrow", "disk")
_HF_KINDS = ("hf", "parquet", "arrow", "disk")


def build_dataset(
    spec: str,
    split: str = "train",
    image_size: int = 32,
    channels: int | None = None,
    seed: int = 0,
    streaming: bool = False,
    **options: Any,
) -> Dataset | IterableDataset:
    """Build the data source named by ``spec`` (see ``DATA_SOURCES`` and the module docstring).

    ``channels`` forces 1 or 3 channels (None: 3 for colour sources, 1 for IDX). ``seed`` drives the procedural
    sources. ``streaming=True`` returns an ``IterableDataset`` (Hub/Parquet/Arrow sources stream from the files).
    ``options`` go to the source: ``max_shapes`` (synthetic-shapes); ``components``, ``radius``, ``std`` (mog-2d);
    ``hf_image_column``, ``hf_label_column`` and ``hf_load_kwargs`` (a dict for ``datasets.load_dataset``, e.g.
    ``{"name": ..., "revision": ..., "cache_dir": ...}``) for Hugging Face sources; ``labels`` for image folders
    and zips (``LABELS_FROM_NAMES``: ``"folder"``, or ``"utkface-gender"``, the default of the ``utkface`` shortcut).
    """
    kind, target = _resolve(spec)
    if kind in _HF_KINDS:
        load_kwargs = options.pop("hf_load_kwargs", None) or {}
        unexpected = sorted(set(options) - {"hf_image_column", "hf_label_column"})
        if unexpected:
            raise TypeError(
                f"{spec}: unexpected options {unexpected} (Hugging Face sources take hf_image_column, "
                "hf_label_column and hf_load_kwargs)"
            )
        hf_dataset = load_hf_dataset(kind, target, split, streaming, **load_kwargs)
        rows = _HFRows.prepare(hf_dataset, options.get("hf_image_column"), options.get("hf_label_column"))
        return (HFStreamingSource if streaming else HFSource)(rows, spec, split, image_size, channels)
    if kind in ("synthetic-shapes", "mog-2d"):
        if target and not target.replace("_", "").isdigit():
            raise ValueError(f"{spec}: the length after ':' must be a whole number, e.g. {kind}:1000")
        length = int(target) if target else None
        if kind == "mog-2d":
            dataset = MixtureOfGaussians2D(length, split, seed, **options)
        else:
            dataset = SyntheticShapes(length, split, image_size, channels, seed, **options)
    elif kind == "idx":
        if options:
            raise TypeError(f"{spec}: unexpected options {sorted(options)} (IDX files take none)")
        dataset = IdxSource(target, split, image_size, channels)
    else:  # folder or zip
        unexpected = sorted(set(options) - {"labels"})
        if unexpected:
            raise TypeError(f"{spec}: unexpected options {unexpected} (image folders take only `labels`)")
        labels = options.get("labels") or ("utkface-gender" if spec == "utkface" else "folder")
        dataset = ImageFolderSource(target, split, image_size, channels, labels=labels)
    return _Streamed(dataset) if streaming else dataset


def _resolve(spec: str) -> tuple[str, str]:
    """Normalise a spec to (kind, target): explicit prefix, shortcut name, existing path, or Hub id."""
    kind, colon, target = spec.partition(":")
    if kind in ("synthetic-shapes", "mog-2d") or (colon and kind in _PREFIXES):
        return kind, target
    shortcuts = {
        "mnist": (
            "idx",
            data_dir() / "mnist",
            "put the MNIST IDX files (train-/t10k-images-idx3-ubyte.gz, ...-labels-idx1-ubyte.gz) there "
            "or set LEAE_DATA_DIR to the folder holding mnist/",
        ),
        "mnist-full": (
            "idx",
            data_dir() / "mnist-full",
            "put the full MNIST IDX files (60,000 train / 10,000 t10k digits) there "
            "or set LEAE_DATA_DIR to the folder holding mnist-full/",
        ),
        "fashion-mnist": (
            "idx",
            Path("/usr/share/datasets/fashion-mnist"),
            "install it with `apt-get install -y dataset-fashion-mnist`",
        ),
        "cifar10": (
            "zip",
            data_dir() / "cifar10-jpg.zip",
            "make it a zip of train/<class>/*.jpg and test/<class>/*.jpg (or use the Hub id uoft-cs/cifar10) "
            "or set LEAE_DATA_DIR to the folder holding cifar10-jpg.zip",
        ),
        "celeba-half": (
            "zip",
            data_dir() / "celeba-9k-half.zip",
            "make it a zip of train/face/*.jpg and test/face/*.jpg (CelebA img_align_celeba; non-commercial research "
            "only) or set LEAE_DATA_DIR to the folder holding celeba-9k-half.zip",
        ),
        "utkface": (
            "zip",
            data_dir() / "utkface-128.zip",
            "make it a zip of train/face/*.jpg and test/face/*.jpg with UTKFace's age_gender_race_date file names "
            "(non-commercial research only) or set LEAE_DATA_DIR to the folder holding utkface-128.zip",
        ),
    }
    if spec in shortcuts:
        kind, path, how = shortcuts[spec]
        if not path.exists():
            raise FileNotFoundError(f"{spec}: {path} not found; {how}, or give the path as {kind}:<path>")
        return kind, str(path)
    path = Path(spec)
    if path.is_dir():
        if any(path.glob("*-images-idx3-ubyte*")):
            return "idx", spec
        if (path / "state.json").exists() or (path / "dataset_dict.json").exists():  # Dataset.save_to_disk
            return "disk", spec
        return "folder", spec
    if path.is_file():
        return {".parquet": "parquet", ".arrow": "arrow"}.get(path.suffix.lower(), "zip"), spec
    if _HUB_ID.match(spec):
        return "hf", spec
    forms = "\n".join(f"  {form}: {what}" for form, what in DATA_SOURCES.items())
    raise FileNotFoundError(f"data source {spec!r} is not a spec nor an existing path; forms:\n{forms}")


def make_dataloader(
    dataset: Dataset | IterableDataset,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    num_workers: int = 0,
    drop_last: bool = True,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader whose shuffling order is fixed by ``seed`` (streams are read in their own order)."""
    if shuffle and isinstance(dataset, IterableDataset):
        raise ValueError("shuffle=True needs a map-style dataset; a streaming dataset is read in order")
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(seed),
        num_workers=num_workers,
        drop_last=drop_last,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
    )
