"""The holes of the inpainting evaluation: the seeded masks (`inpainting_masks`, `hole_masks` of each `HOLE_KINDS`
entry), the mean-colour fill every inpainter must beat (`mean_fill`), and the scores of a filled hole
(`hole_scores`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from ..views import apply_hole, centred_hole_mask, hole_mask_function
from .reconstruction import hole_psnr, hole_ssim, psnr, ssim

# The holes of the `holes` evaluation section: centred squares of 10, 25 and 35 % of the area (the demo's presets) and
# seeded random holes (`random_hole_mask`: rectangles up to RANDOM_HOLE_MAX_AREA of the area, or brush strokes).
HOLE_KINDS: tuple[str, ...] = ("centre-10", "centre-25", "centre-35", "random")
RANDOM_HOLE_MAX_AREA = 0.45


def inpainting_masks(
    indices: Sequence[int], height: int, width: int, hole_ratio: float, seed: int, shape: str = "square"
) -> Tensor:
    """The fixed evaluation masks: one hole per index (an image's position in the evaluated sequence, 0, 1, 2, ...),
    from a generator seeded by (seed, index), so a mask depends neither on the batch size nor on the device:
    `square_hole_mask` of area `hole_ratio` with `shape="square"`, `random_hole_mask` of largest area `hole_ratio`
    with `shape="random"`. [len(indices), 1, H, W], 1 = hole."""
    draw = hole_mask_function(shape)
    masks = []
    for index in indices:
        state = np.random.SeedSequence([seed, int(index)]).generate_state(1, dtype=np.uint64)[0]
        generator = torch.Generator().manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)
        masks.append(draw(1, height, width, hole_ratio, generator=generator))
    return torch.cat(masks)


def hole_masks(kind: str, indices: Sequence[int], height: int, width: int, seed: int) -> Tensor:
    """The masks of one `HOLE_KINDS` entry for the images at `indices`: `centre-10`/`-25`/`-35` (the centred square
    of that percentage of the area, `centred_hole_mask`) or `random` (`inpainting_masks` of shape `random`, largest
    rectangle `RANDOM_HOLE_MAX_AREA`). [len(indices), 1, H, W], 1 = hole."""
    if kind == "random":
        return inpainting_masks(indices, height, width, RANDOM_HOLE_MAX_AREA, seed, shape="random")
    if kind.startswith("centre-") and kind in HOLE_KINDS:
        return centred_hole_mask(len(indices), height, width, int(kind.removeprefix("centre-")) / 100)
    raise ValueError(f"hole kind must be one of {list(HOLE_KINDS)}, got {kind!r}")


def hole_kind_title(kind: str) -> str:
    """A `HOLE_KINDS` entry in words, for cards and tables: "a centred hole of 25 % of the area", ..."""
    if kind == "random":
        return f"random holes (rectangles up to {round(RANDOM_HOLE_MAX_AREA * 100)} % of the area, or brush strokes)"
    if kind.startswith("centre-") and kind in HOLE_KINDS:
        return f"a centred hole of {kind.removeprefix('centre-')} % of the area"
    raise ValueError(f"hole kind must be one of {list(HOLE_KINDS)}, got {kind!r}")


def hole_scores(filled: Tensor, x: Tensor, mask: Tensor) -> dict[str, Tensor]:
    """PSNR and SSIM of an inpainting `filled` of `x` inside the hole `mask` and over the whole image, per image:
    `psnr_hole`, `ssim_hole` (`hole_psnr`, `hole_ssim`), `psnr_total`, `ssim_total` (`psnr`, `ssim`); float64 [B]."""
    return {
        "psnr_hole": hole_psnr(filled, x, mask),
        "ssim_hole": hole_ssim(filled, x, mask),
        "psnr_total": psnr(filled, x),
        "ssim_total": ssim(filled, x),
    }


def mean_fill(x: Tensor, mask: Tensor) -> Tensor:
    """The floor of every inpainter: the hole filled with the per-image, per-channel mean of the visible pixels (the
    colour `LeaeModel.inpaint` puts in the hole before it encodes), the known pixels kept."""
    return apply_hole(x, mask, fill="visible-mean")
