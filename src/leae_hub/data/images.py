"""What every image source shares: the conversion to ``pixel_values``, the item format, and reading files safely.

Unreadable images never stop a run: a map-style source (``_ImageSource``) turns a broken file into an
``UnreadableImageError`` naming it, and its ``__getitems__`` (what a DataLoader calls for a batch) leaves such images
out, counting them and warning when the count reaches a power of two.
"""

from __future__ import annotations

import io
import stat
import warnings
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..image_processing_leae import image_to_pixel_values

MAX_MEMBER_BYTES = 64 * 2**20  # the largest image file read from a folder or a zip (a stored size is not trusted)
# What a broken file raises while being opened, decoded or converted (UnidentifiedImageError is an OSError).
_UNREADABLE = (OSError, ValueError, SyntaxError, EOFError, zlib.error, zipfile.BadZipFile, Image.DecompressionBombError)


CropBox = tuple[float, float, float, float]


def check_crop(crop: CropBox | list[float] | None) -> CropBox | None:
    """`crop` as a tuple of floats, or a ValueError naming it: a box (left, top, right, bottom) in fractions of an
    image's width and height, with 0 <= left < right <= 1 and 0 <= top < bottom <= 1 (None: the whole image)."""
    if crop is None:
        return None
    box = tuple(float(value) for value in crop)
    if len(box) != 4 or not (0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1):
        raise ValueError(
            f"crop must be (left, top, right, bottom) in fractions of the width and height with 0 <= left < right "
            f"<= 1 and 0 <= top < bottom <= 1, got {crop!r}; e.g. (0.1, 0.2, 0.9, 0.8)"
        )
    return box  # type: ignore[return-value]


class UnreadableImageError(ValueError):
    """An image of a data source could not be read or decoded (`dataset[i]`); DataLoaders skip such images."""


def to_pixel_values(
    image: Image.Image | np.ndarray, image_size: int, channels: int | None = None, crop: CropBox | None = None
) -> torch.Tensor:
    """Convert an image to ``pixel_values``: float32 ``[C, image_size, image_size]`` in [0, 1].

    The conversion of ``LeaeImageProcessor`` (``image_processing_leae.image_to_pixel_values``), so a model sees the
    same tensor for a file in training and at inference: any PIL mode (alpha composited on white; 16-bit and "I"
    greys scaled by 65535, "F" taken as [0, 1]) or an array ``[H, W]`` / ``[H, W, C]`` / ``[C, H, W]`` (uint8, uint16,
    bool or float in [0, 1]); the shorter side resized to ``image_size`` (bicubic, antialiased), the centre cropped.
    ``channels`` forces 1 (ITU-R 601 luma) or 3 (grey repeated); None keeps the image's own count (1 or 3). ``crop``
    (`check_crop`) keeps a box of the image before the resize.
    """
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1, 3 or None, got {channels}")
    return image_to_pixel_values(image, image_size, channels, box=crop)


def _split_key(split: str) -> int:
    """A stable number per split name, so every split draws its own random stream."""
    return zlib.crc32(split.encode())


def _item(pixel_values: torch.Tensor, label: int) -> dict[str, torch.Tensor]:
    return {"pixel_values": pixel_values, "labels": torch.tensor(label, dtype=torch.int64)}


def _check_index(index: int, length: int) -> int:
    if not -length <= index < length:
        raise IndexError(f"index {index} out of range for a dataset of length {length}")
    return index % length


class _SourceBase:
    """What every image source holds: its spec (for messages), split, output size and channels, and the box of each
    image kept before the resize (``crop``, `check_crop`; None keeps the whole image). Unreadable images it skips are
    counted, with a warning each time the count reaches a power of two."""

    num_skipped: int = 0

    def __init__(self, spec: str, split: str, image_size: int, channels: int, crop: CropBox | None = None) -> None:
        self.spec, self.split, self.image_size, self.channels = spec, split, image_size, channels
        self.crop = check_crop(crop)

    def _skipped(self, where: str, error: Exception) -> None:
        self.num_skipped += 1
        if self.num_skipped & (self.num_skipped - 1) == 0:
            warnings.warn(
                f"{self.spec}: skipped {self.num_skipped} unreadable image(s) so far (last: {where}: {error})",
                RuntimeWarning,
                stacklevel=3,
            )


class _ImageSource(_SourceBase, Dataset):
    """Base of the map-style image sources: subclasses implement ``_read(i) -> (image, label)``."""

    def __init__(
        self, spec: str, split: str, image_size: int, channels: int, length: int, crop: CropBox | None = None
    ) -> None:
        if length == 0:
            raise ValueError(f"{spec}: no images found for split {split!r}")
        super().__init__(spec, split, image_size, channels, crop)
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index = _check_index(index, self.length)
        try:
            image, label = self._read(index)
            return _item(to_pixel_values(image, self.image_size, self.channels, self.crop), label)
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
