"""Views that hide pixels: square, centred and random holes with their fill, pixel and patch masks."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

from .checks import _check_images, _check_ratio, _masking_dims, _random
from .registry import register_view

HoleFill = Literal["image-mean", "visible-mean"]


def square_hole_mask(
    batch_size: int,
    height: int,
    width: int,
    area_ratio: float = 0.35,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """One square hole per image, of side round(sqrt(area_ratio)·H) (·W across), at a uniform integer position.

    Returns:
        [B, 1, H, W] float mask, 1 inside the hole and 0 elsewhere.
    """
    _check_ratio(area_ratio, "area_ratio")
    side_h, side_w = round(math.sqrt(area_ratio) * height), round(math.sqrt(area_ratio) * width)
    starts = _random(torch.rand, (batch_size, 2), generator, "cpu")
    top = (starts[:, :1] * (height - side_h + 1)).floor()  # [B, 1]
    left = (starts[:, 1:] * (width - side_w + 1)).floor()
    rows, cols = torch.arange(height), torch.arange(width)
    in_rows = (rows >= top) & (rows < top + side_h)  # [B, H]
    in_cols = (cols >= left) & (cols < left + side_w)  # [B, W]
    return (in_rows[:, None, :, None] & in_cols[:, None, None, :]).float().to(device)


def centred_hole_mask(batch_size: int, height: int, width: int, area_ratio: float = 0.25) -> Tensor:
    """The centred square hole of the demo's presets and the evaluation: side round(sqrt(area_ratio)·H) (·W across),
    starting at (H − side) // 2. Returns a [B, 1, H, W] float mask, 1 inside the hole."""
    _check_ratio(area_ratio, "area_ratio", allow_zero=False)
    side_h, side_w = round(math.sqrt(area_ratio) * height), round(math.sqrt(area_ratio) * width)
    mask = torch.zeros(batch_size, 1, height, width)
    top, left = (height - side_h) // 2, (width - side_w) // 2
    mask[:, :, top : top + side_h, left : left + side_w] = 1
    return mask


def apply_hole(x: Tensor, mask: Tensor, fill: HoleFill = "image-mean") -> Tensor:
    """Replace the hole (mask = 1) with a per-image, per-channel constant.

    `fill="image-mean"` uses the mean over the whole image, hole included (the upstream behaviour: hole pixels leak
    into the fill); `fill="visible-mean"` uses the mean over visible pixels only.

    Args:
        x: [B, C, H, W] images.
        mask: [B, 1, H, W] (or [B, C, H, W]) hole mask, 1 = hole.
    """
    _check_images(x)
    visible = 1 - mask
    if fill == "image-mean":
        value = x.mean(dim=(2, 3), keepdim=True)
    elif fill == "visible-mean":
        value = (x * visible).sum(dim=(2, 3), keepdim=True) / visible.sum(dim=(2, 3), keepdim=True).clamp_min(1)
    else:
        raise ValueError(f"fill must be 'image-mean' or 'visible-mean', got {fill!r}")
    return x * visible + value * mask


# Random holes (`random_hole_mask`): the smallest rectangle area and the stroke geometry, in fractions of the image
# side (area of the image for the rectangle), sized so strokes look like a brush drawn over a face in the demo.
RANDOM_HOLE_MIN_AREA = 0.04
RANDOM_HOLE_ASPECT = 2.0  # rectangles' height/width ratio lies in [1/2, 2], log-uniform
STROKE_RADIUS = (0.04, 0.10)
STROKE_SEGMENT = (0.15, 0.45)
STROKES_MAX, SEGMENTS_MAX = 2, 4


def _segment_distance(points: Tensor, start: Tensor, end: Tensor) -> Tensor:
    """Distance from every point [H·W, 2] to each segment start→end [B, 2]: [B, H·W]."""
    direction = end - start  # [B, 2]
    length2 = (direction * direction).sum(dim=1, keepdim=True).clamp_min(1e-12)  # [B, 1]
    offset = points[None] - start[:, None]  # [B, H·W, 2]
    along = ((offset * direction[:, None]).sum(dim=2) / length2).clamp(0, 1)  # [B, H·W]
    return (offset - along[..., None] * direction[:, None]).norm(dim=2)


def random_hole_mask(
    batch_size: int,
    height: int,
    width: int,
    max_area: float = 0.45,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Holes of random shape, size and position, like the ones a user draws in the demo.

    Each image gets, with equal odds, either
    - a rectangle: area uniform in [`RANDOM_HOLE_MIN_AREA`, max_area] of the image, height/width ratio log-uniform in
      [1/2, 2] (clipped to the image), at a uniform integer position; or
    - brush strokes: 1 or 2 polylines of 1 to 4 segments (each 0.15-0.45 of the side long, starting at a uniform point,
      turning at random, clipped to the image) painted with a round brush of radius 0.04-0.10 of the side.
    All random numbers are drawn in fixed shapes from `generator`, so equal generator states give equal masks.

    Returns:
        [B, 1, H, W] float mask, 1 inside the hole and 0 elsewhere; never empty.
    """
    if not RANDOM_HOLE_MIN_AREA <= max_area < 1:
        raise ValueError(f"max_area must lie in [{RANDOM_HOLE_MIN_AREA}, 1), got {max_area}")
    size = torch.tensor([width, height], dtype=torch.float32)  # (x, y) scale
    side = min(height, width)
    per_stroke = 4 + 2 * SEGMENTS_MAX  # present, segment count, start (x, y), then (angle, length) per segment
    draws = _random(torch.rand, (batch_size, 6 + STROKES_MAX * per_stroke), generator, "cpu")
    is_stroke, area, aspect, top, left, radius = draws[:, :6].unbind(dim=1)
    strokes = draws[:, 6:].view(batch_size, STROKES_MAX, per_stroke)
    # Rectangles.
    area = RANDOM_HOLE_MIN_AREA + area * (max_area - RANDOM_HOLE_MIN_AREA)
    aspect = RANDOM_HOLE_ASPECT ** (2 * aspect - 1)
    rect_h = (torch.sqrt(area * aspect) * height).round().clamp(1, height)
    rect_w = (area * height * width / rect_h).round().clamp(1, width)
    top = (top * (height - rect_h + 1)).floor()[:, None]
    left = (left * (width - rect_w + 1)).floor()[:, None]
    rows, cols = torch.arange(height), torch.arange(width)
    in_rows = (rows >= top) & (rows < top + rect_h[:, None])  # [B, H]
    in_cols = (cols >= left) & (cols < left + rect_w[:, None])  # [B, W]
    rectangle = in_rows[:, :, None] & in_cols[:, None, :]  # [B, H, W]
    # Strokes: pixel centres within the brush radius of any drawn segment.
    ys, xs = torch.meshgrid(rows.float() + 0.5, cols.float() + 0.5, indexing="ij")
    points = torch.stack([xs.flatten(), ys.flatten()], dim=1)  # [H·W, 2]
    brush = (STROKE_RADIUS[0] + radius * (STROKE_RADIUS[1] - STROKE_RADIUS[0])) * side  # [B]
    brush = brush.clamp_min(0.75)  # at least the pixel centre next to a vertex
    painted = torch.zeros(batch_size, height * width, dtype=torch.bool)
    for stroke in range(STROKES_MAX):
        present, segments_u = strokes[:, stroke, 0], strokes[:, stroke, 1]
        keep_stroke = (present < 0.5) | (stroke == 0)  # the first stroke always, the second with odds 1/2
        segments = 1 + (segments_u * SEGMENTS_MAX).floor().clamp(max=SEGMENTS_MAX - 1)
        position = strokes[:, stroke, 2:4] * size
        walk = strokes[:, stroke, 4:].view(batch_size, SEGMENTS_MAX, 2)
        for segment in range(SEGMENTS_MAX):
            angle = 2 * math.pi * walk[:, segment, 0]
            length = (STROKE_SEGMENT[0] + walk[:, segment, 1] * (STROKE_SEGMENT[1] - STROKE_SEGMENT[0])) * side
            step = torch.stack([torch.cos(angle), torch.sin(angle)], dim=1) * length[:, None]
            end = torch.minimum(torch.maximum(position + step, torch.zeros(2)), size)
            drawn = _segment_distance(points, position, end) <= brush[:, None]
            painted |= drawn & (keep_stroke & (segment < segments))[:, None]
            position = end
    mask = torch.where((is_stroke < 0.5)[:, None, None], painted.view(batch_size, height, width), rectangle)
    return mask[:, None].float().to(device)


HoleShape = Literal["square", "random"]
# The hole shapes: each a (batch_size, height, width, area, generator, device) -> mask function.
HOLE_SHAPES: dict[str, Callable[..., Tensor]] = {"square": square_hole_mask, "random": random_hole_mask}
HOLE_FILLS: tuple[str, ...] = ("image-mean", "visible-mean")


def hole_mask_function(shape: str) -> Callable[..., Tensor]:
    """The mask function of a hole shape (`HOLE_SHAPES`); a ValueError naming the shapes otherwise."""
    if shape not in HOLE_SHAPES:
        raise ValueError(f"hole shape must be one of {list(HOLE_SHAPES)}, got {shape!r}")
    return HOLE_SHAPES[shape]


def check_hole_options(hole_ratio: float, hole_fill: str, hole_shape: str) -> None:
    """Check a recipe's hole options when it is built (before any training step), naming the option to fix."""
    if hole_fill not in HOLE_FILLS:
        raise ValueError(f"hole_fill must be 'image-mean' or 'visible-mean', got {hole_fill!r}")
    if hole_shape not in HOLE_SHAPES:
        raise ValueError(f"hole_shape must be 'square' or 'random', got {hole_shape!r}")
    low = RANDOM_HOLE_MIN_AREA if hole_shape == "random" else 0.0
    if not low <= hole_ratio < 1:
        raise ValueError(f"hole_ratio must lie in [{low}, 1) with hole_shape={hole_shape!r}, got {hole_ratio}")


@register_view("inpaint", shares="generator")
def inpainting_view(
    x: Tensor,
    area_ratio: float = 0.35,
    fill: HoleFill = "image-mean",
    generator: torch.Generator | None = None,
    shape: HoleShape = "square",
) -> tuple[Tensor, Tensor]:
    """Cut one hole per image and fill it. Returns (masked x, mask).

    `shape="square"` is upstream's hole: a square of area `area_ratio` at a random position (upstream: area 0.35,
    image-mean fill). `shape="random"` draws `random_hole_mask` holes (rectangles of random size and aspect up to
    `area_ratio`, or brush strokes), the kinds of hole the demo lets a user draw.
    """
    _check_images(x)
    draw = hole_mask_function(shape)
    mask = draw(x.shape[0], x.shape[2], x.shape[3], area_ratio, generator, x.device).to(x.dtype)
    return apply_hole(x, mask, fill), mask


@register_view("pixel-mask", shares="mask")
def pixel_mask(
    x: Tensor, ratio: float, generator: torch.Generator | None = None, fill: float = 0.0
) -> tuple[Tensor, Tensor]:
    """Drop each pixel location independently with probability `ratio` (all channels together), set it to `fill`.

    Returns:
        (masked x, mask [B, 1, H, W] with 1 = dropped).
    """
    batch, height, width = _masking_dims(x, ratio, "ratio")
    mask = (_random(torch.rand, (batch, 1, height, width), generator, x.device) < ratio).to(x.dtype)
    return x * (1 - mask) + fill * mask, mask


@register_view("patch-mask", shares="mask")
def patch_mask(
    x: Tensor, patch_size: int, ratio: float, generator: torch.Generator | None = None, fill: float = 0.0
) -> tuple[Tensor, Tensor]:
    """Drop exactly round(ratio · number of patches) random non-overlapping square patches per image (MAE style).

    Returns:
        (masked x, mask [B, 1, H, W] with 1 = dropped).
    """
    batch, height, width = _masking_dims(x, ratio, "ratio")
    if patch_size < 1 or height % patch_size or width % patch_size:
        raise ValueError(f"patch_size must divide the image size {height}×{width}, got {patch_size}")
    grid_h, grid_w = height // patch_size, width // patch_size
    num_dropped = round(ratio * grid_h * grid_w)
    noise = _random(torch.rand, (batch, grid_h * grid_w), generator, "cpu")
    rank = noise.argsort(dim=1).argsort(dim=1)  # each patch's place in a random permutation
    patches = (rank < num_dropped).view(batch, 1, grid_h, grid_w)
    mask = patches.repeat_interleave(patch_size, dim=2).repeat_interleave(patch_size, dim=3).to(x.device, x.dtype)
    return x * (1 - mask) + fill * mask, mask
