"""The images an evaluation reads: batches of a map-style dataset (a seeded subset, unreadable images left out) or of
a stream, and the raw-pixel features of the representation baseline."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset, IterableDataset

from ..data import UnreadableImageError

RAW_PIXEL_MAX_SIZE = 32  # the raw-pixel baseline sees images area-downsampled to at most 32×32


def _subset_indices(length: int, limit: int | None, seed: int) -> list[int]:
    """All indices, or a seeded random subset of `limit` of them in increasing order (class-sorted sources stay
    balanced)."""
    if limit is None or limit >= length:
        return list(range(length))
    if limit <= 0:
        raise ValueError(f"the number of images must be positive, got {limit}")
    generator = torch.Generator().manual_seed(seed)
    return sorted(torch.randperm(length, generator=generator)[:limit].tolist())


def image_batches(
    dataset: Dataset | IterableDataset,
    batch_size: int,
    limit: int | None,
    seed: int,
    skipped: list[str] | None = None,
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield (pixel_values [b, C, H, W], labels [b]) from a map-style (subset: see `_subset_indices`) or iterable
    dataset (its first `limit` items). An unreadable image of a map-style dataset (`UnreadableImageError`) is left
    out, never replaced, and its message appended to `skipped`."""
    if isinstance(dataset, IterableDataset) or not hasattr(dataset, "__len__"):
        items: Iterable[dict[str, Tensor]] = dataset
        if limit is not None:
            items = (item for _, item in zip(range(limit), dataset, strict=False))
    else:
        items = _readable(dataset, _subset_indices(len(dataset), limit, seed), [] if skipped is None else skipped)
    batch: list[dict[str, Tensor]] = []
    for item in items:
        if "pixel_values" not in item:
            raise ValueError(f"dataset items need 'pixel_values' (images), got keys {sorted(item)}")
        batch.append(item)
        if len(batch) == batch_size:
            yield _collate(batch)
            batch = []
    if batch:
        yield _collate(batch)


def _readable(dataset: Dataset, indices: Iterable[int], skipped: list[str]) -> Iterator[dict[str, Tensor]]:
    for index in indices:
        try:
            yield dataset[index]
        except UnreadableImageError as error:
            skipped.append(str(error))
            if len(skipped) & (len(skipped) - 1) == 0:  # 1, 2, 4, 8, ...: one warning per doubling
                message = f"evaluation skipped {len(skipped)} unreadable image(s) so far: {error}"
                warnings.warn(message, RuntimeWarning, stacklevel=2)


def _collate(batch: list[dict[str, Tensor]]) -> tuple[Tensor, Tensor]:
    pixel_values = torch.stack([item["pixel_values"] for item in batch]).float()
    labels = torch.stack([torch.as_tensor(item.get("labels", -1), dtype=torch.int64) for item in batch])
    return pixel_values, labels


def raw_pixel_features(pixel_values: Tensor) -> Tensor:
    size = pixel_values.shape[-1]
    if size > RAW_PIXEL_MAX_SIZE:
        pixel_values = F.adaptive_avg_pool2d(pixel_values, RAW_PIXEL_MAX_SIZE)
    return pixel_values.flatten(1)
