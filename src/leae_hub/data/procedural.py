"""Procedural data, no files: synthetic shapes and a 2-D mixture of Gaussians."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import Dataset

from .images import _check_index, _item, _split_key, to_pixel_values

_DEFAULT_LENGTH = {"train": 50_000}  # every other split: 1_000


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
