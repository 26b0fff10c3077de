"""The spec parser: `build_dataset(spec, ...)` resolves a spec string to a registered source (`SOURCES`) and builds it;
`make_dataloader` reads the result with a seeded order."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

from .sources import DATA_SOURCES, SHORTCUTS, SOURCES, SourceRequest

_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


class _Streamed(IterableDataset):
    """A map-style dataset read in order as a stream; DataLoader workers take interleaved indices."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        worker = get_worker_info()
        start, step = (0, 1) if worker is None else (worker.id, worker.num_workers)
        for index in range(start, len(self.dataset), step):
            yield self.dataset[index]


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
    and zips (``LABELS_FROM_NAMES``: ``"folder"``, or ``"utkface-gender"``, the default of the ``utkface`` shortcut)
    and, for those and Hugging Face sources, ``crop`` (a box of each image kept before the resize, ``check_crop``;
    ``celeba-half-face`` has one by default)."""
    kind, target = _resolve(spec)
    source = SOURCES[kind]
    request = SourceRequest(spec, kind, target, split, image_size, channels, seed, streaming)
    dataset = source.build(request, options)
    return _Streamed(dataset) if streaming and not source.streams else dataset


def _resolve(spec: str) -> tuple[str, str]:
    """Normalise a spec to (kind, target): explicit prefix, shortcut name, existing path, or Hub id."""
    kind, colon, target = spec.partition(":")
    if kind in SOURCES and (colon or SOURCES[kind].bare):
        return kind, target
    if spec in SHORTCUTS:
        shortcut = SHORTCUTS[spec]
        path = shortcut.path()
        if not path.exists():
            raise FileNotFoundError(
                f"{spec}: {path} not found; {shortcut.how}, or give the path as {shortcut.kind}:<path>"
            )
        return shortcut.kind, str(path)
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
