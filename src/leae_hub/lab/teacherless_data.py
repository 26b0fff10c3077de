"""Controlled transforms for the teacherless seq-JEPA lab (issue 16, docs/teacherless.md): views with known parameters.

Each example is a sequence of V views of one image. View 0 is the identity; every other view draws its own
parameters. The *action* of view i is the transformation from view i−1 to view i (view 0's action is the identity
action), so the model only ever sees relative transformations, as in seq-JEPA (Ghaemi et al. 2025).

Two families:

- `AffineFamily`: rotation θ ~ U(±max_degrees), integer shifts t_x, t_y ~ U{−max_shift … max_shift} px, scale s
  log-uniform in [min_scale, 1], and optionally a colour jitter (brightness b, contrast c, saturation σ, each
  U[1−j, 1+j]). Parameters per view: p = (θ, t_x, t_y, log s[, b, c, σ]). The action from view i−1 to view i is

      a_i = (sin Δθ, cos Δθ, Δt_x, Δt_y, Δlog s[, Δb, Δc, Δσ]),   Δx = x_i − x_{i−1}

  (the scale entry is the log of the scale ratio, which composes additively like the others).
  The warp maps an output pixel at position q (pixels, from the image centre, x right, y down) to the input position
  A⁻¹(q − t) with A = s·R(θ), R(θ) = [[cos θ, −sin θ], [sin θ, cos θ]]: the content is scaled by s about the centre,
  turned by θ (clockwise on screen, as y points down), then moved by t. Bilinear sampling, zeros outside. The view
  is then framed (`AffineFamily.frame`): optionally the centre `crop` px of the canvas, the channels repeated
  `repeat_channels` times, and (x − mean)/std, which is how the seed author's MNIST views are made (28 px cut from a
  40-px canvas, grey repeated to 3 channels, MNIST's mean and std: kaikun213/seq-jepa,
  experiments/datasets_mnist_affine.py:126-161, 239-262).
- `RotationFamily`: rotations by k·90°, k ∈ {0, 1, 2, 3} (exact, `torch.rot90`); p = (θ) with θ = kπ/2 and
  a_i = (sin(θ_i − θ_{i−1}), cos(θ_i − θ_{i−1})).

Data: MNIST from the IDX gz files (`load_mnist`, digits padded to 40 px) and CIFAR-10 from the JPEG zip
(`load_cifar10`), both read by `leae_hub.data`'s sources and returned as float tensors in [0, 1]. A subset is drawn
with numpy from the run's seed, or as the seed author draws it (`author_subset`).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import IdxSource, ImageFolderSource

MNIST_PAD = 6  # 28 + 2·6 = 40 px
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass(frozen=True)
class AffineFamily:
    """Random rotation, integer shift and log-uniform scale (optionally colour jitter); see the module docstring.

    Attributes:
        max_degrees: rotations are U(±max_degrees) (75 for the issue's affine mode, 180 for its rotation-only mode).
        max_shift: integer shifts per axis in U{−max_shift … max_shift} px (0 turns shifts off).
        min_scale: scale log-uniform in [min_scale, 1] (1 turns scaling off).
        jitter: colour-jitter half-width j (0 turns it off); needs RGB images.
        crop: side of the centred square kept from the canvas after the warp (0 keeps the whole canvas).
        repeat_channels: the view's channels repeated this many times (3 turns a grey digit into RGB).
        mean, std: the view becomes (x − mean) / std (0 and 1 leave it as it is).
    """

    max_degrees: float = 75.0
    max_shift: int = 7
    min_scale: float = 0.5
    jitter: float = 0.0
    crop: int = 0
    repeat_channels: int = 1
    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.max_degrees <= 180:
            raise ValueError(f"max_degrees must be in [0, 180], got {self.max_degrees}")
        if self.max_shift < 0:
            raise ValueError(f"max_shift must be a non-negative integer, got {self.max_shift}")
        if not 0 < self.min_scale <= 1:
            raise ValueError(f"min_scale must be in (0, 1], got {self.min_scale}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter}")
        if self.crop < 0 or self.repeat_channels < 1 or self.std <= 0:
            raise ValueError(
                f"crop {self.crop}, repeat_channels {self.repeat_channels} and std {self.std} must be ≥ 0, ≥ 1 and "
                "> 0: use crop 0 for the whole canvas, repeat_channels 1 and std 1 to leave the views as they are"
            )

    @property
    def param_dim(self) -> int:
        return 7 if self.jitter else 4

    @property
    def action_dim(self) -> int:
        return self.param_dim + 1

    @property
    def factors(self) -> dict[str, int]:
        """The single factors that vary (name → index into the parameters), for the per-factor metrics."""
        names = {"rotation": 0, "shift_x": 1, "shift_y": 2, "scale": 3}
        active = {
            "rotation": self.max_degrees > 0,
            "shift_x": self.max_shift > 0,
            "shift_y": self.max_shift > 0,
            "scale": self.min_scale < 1,
        }
        return {name: index for name, index in names.items() if active[name]}

    def identity(self, count: int) -> Tensor:
        """Identity parameters, [count, P]."""
        params = torch.zeros(count, self.param_dim)
        if self.jitter:
            params[:, 4:] = 1.0
        return params

    def sample(self, count: int, generator: torch.Generator) -> Tensor:
        """`count` independent random parameter rows, [count, P]."""
        u = torch.rand(count, 2, generator=generator)
        params = self.identity(count)
        params[:, 0] = math.radians(self.max_degrees) * (2 * u[:, 0] - 1)
        params[:, 1:3] = torch.randint(-self.max_shift, self.max_shift + 1, (count, 2), generator=generator).float()
        params[:, 3] = math.log(self.min_scale) * u[:, 1]
        if self.jitter:
            params[:, 4:] = 1 + self.jitter * (2 * torch.rand(count, 3, generator=generator) - 1)
        return params

    def single_factor(self, factor: str, count: int, generator: torch.Generator) -> Tensor:
        """Random parameters in which only `factor` differs from the identity, [count, P]."""
        if factor not in self.factors:
            raise ValueError(f"factor must be one of {sorted(self.factors)}, got {factor!r}")
        params = self.identity(count)
        index = self.factors[factor]
        params[:, index] = self.sample(count, generator)[:, index]
        return params

    def actions(self, params: Tensor) -> Tensor:
        """Relative actions of a sequence of views: params [..., V, P] → actions [..., V, A] (row 0: identity)."""
        previous = torch.cat([params[..., :1, :], params[..., :-1, :]], dim=-2)
        delta = params - previous
        return torch.cat([delta[..., :1].sin(), delta[..., :1].cos(), delta[..., 1:]], dim=-1)

    def apply(self, images: Tensor, params: Tensor) -> Tensor:
        """Transform each image [N, C, H, W] (square) with its own parameters [N, P]."""
        count, channels, height, width = images.shape
        if height != width:
            raise ValueError(f"AffineFamily needs square images, got {height}×{width}; pad them first")
        theta, shift, scale = params[:, 0], params[:, 1:3], params[:, 3].exp()
        cos, sin = theta.cos(), theta.sin()
        # Inverse of A = s·R(θ): R(−θ)/s. affine_grid maps output to input in normalised coordinates (pixel · 2/W).
        inverse = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2) / scale[:, None, None]
        offset = -(inverse @ (2 * shift / width).unsqueeze(-1))
        grid = F.affine_grid(
            torch.cat([inverse, offset], dim=-1), [count, channels, height, width], align_corners=False
        )
        views = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        if self.jitter:
            views = colour_jitter(views, params[:, 4], params[:, 5], params[:, 6])
        return self.frame(views)

    def frame(self, canvas: Tensor) -> Tensor:
        """The view shown to the model from a (warped) canvas [N, C, S, S]: the centre `crop` px, the channels
        repeated `repeat_channels` times, then (x − mean) / std; the canvas itself with the defaults."""
        if self.crop:
            size = canvas.shape[-1]
            if self.crop > size:
                raise ValueError(f"crop {self.crop} is larger than the {size}-px canvas; use a crop of at most {size}")
            start = (size - self.crop) // 2
            canvas = canvas[..., start : start + self.crop, start : start + self.crop]
        if self.repeat_channels > 1:
            canvas = canvas.repeat(1, self.repeat_channels, 1, 1)
        if self.mean or self.std != 1:
            canvas = (canvas - self.mean) / self.std
        return canvas


def colour_jitter(images: Tensor, brightness: Tensor, contrast: Tensor, saturation: Tensor) -> Tensor:
    """x·b, then contrast about the image mean, then saturation about the grey value (ITU-R 601 luma), clipped to
    [0, 1]; each factor is [N]."""
    images = images * brightness[:, None, None, None]
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    images = mean + contrast[:, None, None, None] * (images - mean)
    luma = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype)[None, :, None, None]
    grey = (images * luma).sum(dim=1, keepdim=True)
    return (grey + saturation[:, None, None, None] * (images - grey)).clamp(0, 1)


@dataclass(frozen=True)
class RotationFamily:
    """Rotations by multiples of 90°; parameters (θ = kπ/2), actions (sin Δθ, cos Δθ)."""

    param_dim: int = 1
    action_dim: int = 2

    @property
    def factors(self) -> dict[str, int]:
        return {"rotation": 0}

    def identity(self, count: int) -> Tensor:
        return torch.zeros(count, 1)

    def sample(self, count: int, generator: torch.Generator) -> Tensor:
        return torch.randint(0, 4, (count, 1), generator=generator).float() * (math.pi / 2)

    def single_factor(self, factor: str, count: int, generator: torch.Generator) -> Tensor:
        if factor != "rotation":
            raise ValueError(f"RotationFamily has the single factor 'rotation', got {factor!r}")
        return self.sample(count, generator)

    def actions(self, params: Tensor) -> Tensor:
        previous = torch.cat([params[..., :1, :], params[..., :-1, :]], dim=-2)
        delta = params - previous
        return torch.cat([delta.sin(), delta.cos()], dim=-1)

    def frame(self, canvas: Tensor) -> Tensor:
        """The images as they are (CIFAR-10 views are not framed)."""
        return canvas

    def apply(self, images: Tensor, params: Tensor) -> Tensor:
        """Rotate each image by its k·90° (counter-clockwise on screen for k = 1, as `torch.rot90` on (H, W))."""
        quarters = torch.round(params[:, 0] / (math.pi / 2)).long() % 4
        views = images.clone()
        for k in range(1, 4):
            chosen = quarters == k
            if chosen.any():
                views[chosen] = torch.rot90(images[chosen], k, dims=(-2, -1))
        return views


TransformFamily = AffineFamily | RotationFamily


def make_sequences(
    images: Tensor, family: TransformFamily, num_views: int, generator: torch.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """Sequences of views of `images` [N, C, H, W]: views [N, V, C, H, W], params [N, V, P], actions [N, V, A].

    View 0 is the identity; views 1 … V−1 draw independent parameters.
    """
    if num_views < 2:
        raise ValueError(f"num_views must be at least 2 (a context view and a target view), got {num_views}")
    count = images.shape[0]
    params = torch.cat(
        [
            family.identity(count)[:, None],
            family.sample(count * (num_views - 1), generator).view(count, num_views - 1, -1),
        ],
        dim=1,
    )
    views = family.apply(images.repeat_interleave(num_views, dim=0), params.flatten(0, 1))
    return views.view(count, num_views, *views.shape[1:]), params, family.actions(params)


def author_subset(count: int, limit: int | None, seed: int) -> np.ndarray:
    """The seed author's subset of `count` indices: all of them shuffled by Python's `random.Random(seed)`, the
    first `limit` kept in that order (kaikun213/seq-jepa, train.py:90-98 `make_subset`; the training subset takes
    `subset_seed`, the validation subset of the test split `subset_seed + 1`, train.py:704-706). With `limit` None
    or ≥ `count`, all indices in order (the author's code then keeps the whole split)."""
    if limit is None or limit >= count:
        return np.arange(count)
    indices = list(range(count))
    random.Random(seed).shuffle(indices)
    return np.asarray(indices[:limit])


def _subset(count: int, limit: int | None, seed: int, author_draw: bool = False) -> np.ndarray:
    """All indices in order, or a seeded random subset of `limit` of them: sorted (numpy's generator), or drawn as
    the seed author does (`author_subset`)."""
    if author_draw:
        return author_subset(count, limit, seed)
    if limit is not None and limit < count:
        return np.sort(np.random.default_rng(seed).choice(count, size=limit, replace=False))
    return np.arange(count)


def load_mnist(
    root: str | Path, split: str, limit: int | None = None, seed: int = 0, author_draw: bool = False
) -> tuple[Tensor, Tensor]:
    """MNIST digits padded to 40 px, [N, 1, 40, 40] in [0, 1], and labels [N] from the IDX gz files under `root`
    (read by `leae_hub.data.IdxSource`).

    `split` is "train" (60,000) or "t10k" (10,000); `limit` keeps a seeded random subset (with `author_draw`, the
    seed author's draw, `author_subset`).
    """
    root = Path(root)
    if not (root / f"{split}-images-idx3-ubyte.gz").is_file():
        raise FileNotFoundError(
            f"MNIST IDX file not found: {root / f'{split}-images-idx3-ubyte.gz'}; point data.root at the folder of "
            "the four MNIST IDX .gz files (`mnist-full` in `leae_hub.data.data_dir()`)"
        )
    source = IdxSource(root, "test" if split == "t10k" else split)
    order = _subset(len(source), limit, seed, author_draw)
    pixels = torch.from_numpy(source.images[order].astype(np.float32) / 255.0)[:, None]
    return F.pad(pixels, (MNIST_PAD,) * 4), torch.from_numpy(source.labels[order])


def load_cifar10(path: str | Path, split: str, limit: int | None = None, seed: int = 0) -> tuple[Tensor, Tensor]:
    """CIFAR-10 images [N, 3, 32, 32] in [0, 1] and labels [N] from the JPEG zip (`<split>/<class>/*.jpg`, read by
    `leae_hub.data.ImageFolderSource`).

    `split` is "train" or "test"; `limit` keeps a seeded random subset (decoding all 50,000 takes a while).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"CIFAR-10 zip not found: {path}; point data.root at `cifar10-jpg.zip` in `leae_hub.data.data_dir()`"
        )
    source = ImageFolderSource(path, split, image_size=32, channels=3)
    if tuple(source.classes) != CIFAR_CLASSES:
        raise ValueError(f"{path}: the class folders are {source.classes}, not CIFAR-10's {list(CIFAR_CLASSES)}")
    order = _subset(len(source), limit, seed)
    pixels = torch.stack([source[int(index)]["pixel_values"] for index in order])
    return pixels, torch.tensor([source.labels[index] for index in order])
