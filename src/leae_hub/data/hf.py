"""Hugging Face datasets: Hub ids and local Parquet / Arrow / ``save_to_disk`` data, one code path."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import IterableDataset

from .images import _UNREADABLE, CropBox, _ImageSource, _item, _SourceBase, to_pixel_values

if TYPE_CHECKING:
    import datasets

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

    def __init__(
        self,
        rows: _HFRows,
        spec: str,
        split: str,
        image_size: int,
        channels: int | None,
        crop: CropBox | None = None,
    ) -> None:
        self.rows = rows
        super().__init__(spec, split, image_size, 3 if channels is None else channels, len(rows.dataset), crop)

    def _read(self, index: int) -> tuple[Any, int]:
        return self.rows.example(self.rows.dataset[index])


class HFStreamingSource(_SourceBase, IterableDataset):
    """A streamed ``datasets.IterableDataset`` converted like ``HFSource``; unreadable images are skipped.

    In DataLoader workers the underlying stream shards itself across workers.
    """

    def __init__(
        self,
        rows: _HFRows,
        spec: str,
        split: str,
        image_size: int,
        channels: int | None,
        crop: CropBox | None = None,
    ) -> None:
        self.rows = rows
        super().__init__(spec, split, image_size, 3 if channels is None else channels, crop)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for position, row in enumerate(self.rows.dataset):
            try:
                image, label = self.rows.example(row)
                yield _item(to_pixel_values(image, self.image_size, self.channels, self.crop), label)
            except _UNREADABLE as error:
                self._skipped(f"item {position}", error)
