"""MNIST-style IDX files: ``*-images-idx3-ubyte(.gz)`` with a matching ``*-labels-idx1-ubyte(.gz)``."""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from .images import _ImageSource

MAX_IDX_BYTES = 8 * 2**30  # the largest IDX array a header may declare (MNIST's 60,000 digits: 47 MB)


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
