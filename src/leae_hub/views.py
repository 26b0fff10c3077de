"""Views T of an image batch: crop-resize, masks, detail transforms and JEPA augmentations.

Pure tensor functions on images [B, C, H, W] with values in [0, 1]. Every function is differentiable with respect to
the image (sampling grids, convolutions and pooling; no in-place writes), so a view of a reconstruction x̂ passes
gradients back to x̂. Random parameters depend only on the batch size and image size, never on pixel values, and are
drawn on the generator's device (on CPU without a generator) before being moved to the images: a CPU generator works
for CUDA images, and two calls with generators in the same state apply the same transform (that is how x and x̂ get
the same view when they cannot be passed together).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

HoleFill = Literal["image-mean", "visible-mean"]


def _random(
    sampler: Callable[..., Tensor],
    shape: tuple[int, ...],
    generator: torch.Generator | None,
    device: torch.device | str | None,
) -> Tensor:
    """Draw `sampler(shape)` (torch.rand or torch.randn) on the generator's device (CPU without one); to `device`."""
    source = generator.device if generator is not None else torch.device("cpu")
    return sampler(shape, generator=generator, device=source).to(device)


def _check_images(x: Tensor, name: str = "x") -> None:
    if x.ndim != 4:
        raise ValueError(f"{name} must be an image batch [B, C, H, W], got shape {tuple(x.shape)}")


def _check_ratio(value: float, name: str, allow_zero: bool = True) -> None:
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value <= 1):
        interval = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"{name} must lie in {interval}, got {value}")


def _masking_dims(x: Tensor, ratio: float, name: str) -> tuple[int, int, int]:
    """Check an image batch and a masking ratio in [0, 1]; the batch's (B, H, W)."""
    _check_images(x)
    _check_ratio(ratio, name)
    return x.shape[0], x.shape[2], x.shape[3]


def _check_odd(kernel_size: int) -> None:
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd number (to keep the image size), got {kernel_size}")


# ----------------------------------------------------------------------------------------------------- crop-resize


def random_crop_boxes(batch_size: int, side_ratio: float, generator: torch.Generator | None = None) -> Tensor:
    """One random box per image: `side_ratio` of the image's width and height, position uniform inside the image.

    Returns:
        [B, 4] float32 boxes `(x0, y0, x1, y1)` in fractions of the width and height (0 = left/top edge,
        1 = right/bottom edge), on CPU. Positions are continuous, not snapped to pixels.
    """
    _check_ratio(side_ratio, "side_ratio", allow_zero=False)
    corners = _random(torch.rand, (batch_size, 2), generator, "cpu") * (1 - side_ratio)  # [B, 2] = (x0, y0)
    return torch.cat([corners, corners + side_ratio], dim=1)


def _crop(image: Tensor, boxes: Tensor, output_size: tuple[int, int]) -> Tensor:
    # affine_grid maps output coordinates in [-1, 1] to input coordinates: a box [x0, x1] (fractions) is the scale
    # x1 - x0 and the shift x0 + x1 - 1. With align_corners=False the full box is the identity grid.
    x0, y0, x1, y1 = boxes.to(image.device, image.dtype).unbind(dim=1)
    zero = torch.zeros_like(x0)
    theta = torch.stack(
        [torch.stack([x1 - x0, zero, x0 + x1 - 1], dim=1), torch.stack([zero, y1 - y0, y0 + y1 - 1], dim=1)], dim=1
    )  # [B, 2, 3]
    grid = F.affine_grid(theta, [image.shape[0], image.shape[1], *output_size], align_corners=False)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


def crop_resize(
    *images: Tensor,
    side_ratio: float = 0.15,
    output_size: tuple[int, int] | None = None,
    generator: torch.Generator | None = None,
    boxes: Tensor | None = None,
) -> Tensor | tuple[Tensor, ...]:
    """Crop one random box per image and resize it (bilinear), applying the SAME boxes to every tensor given.

    `crop_resize(x, x_hat)` gives identically placed crops of x and x̂: the self-teaching view (upstream: side 0.15
    of the image, resized back to full size). The crop is a bilinear `grid_sample` (align_corners=False, border
    padding), so `side_ratio=1.0` returns the image itself.

    Args:
        images: one or more [B, C, H, W] tensors with the same B (channels and sizes may differ).
        side_ratio: box side as a fraction of the image side, in (0, 1].
        output_size: (height, width) of the crops; default: each input's own size.
        generator: seeds the box positions.
        boxes: [B, 4] boxes from `random_crop_boxes` to reuse; `side_ratio` and `generator` are then unused.

    Returns:
        The crop of each input: a tensor for one input, a tuple for several.
    """
    if not images:
        raise ValueError("crop_resize needs at least one image batch, got none")
    for index, image in enumerate(images):
        _check_images(image, f"images[{index}]")
    batch_size = images[0].shape[0]
    if any(image.shape[0] != batch_size for image in images):
        raise ValueError(f"all images must share the batch size, got {[image.shape[0] for image in images]}")
    if boxes is None:
        boxes = random_crop_boxes(batch_size, side_ratio, generator)
    if boxes.shape != (batch_size, 4):
        raise ValueError(f"boxes must have shape [{batch_size}, 4], got {tuple(boxes.shape)}; use random_crop_boxes")
    crops = tuple(_crop(image, boxes, output_size or tuple(image.shape[-2:])) for image in images)
    return crops[0] if len(crops) == 1 else crops


# ----------------------------------------------------------------------------------------------------------- masks


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


# ---------------------------------------------------------------------------------------------------- detail stack


def _depthwise(x: Tensor, kernels: Tensor) -> Tensor:
    """Cross-correlate every channel with each of the [K, k, k] kernels, reflect-padded: [B, C, K, H, W]."""
    batch, channels, height, width = x.shape
    count, size = kernels.shape[0], kernels.shape[-1]
    weight = kernels.to(x).repeat(channels, 1, 1).unsqueeze(1)  # [C·K, 1, k, k]
    padded = F.pad(x, [size // 2] * 4, mode="reflect")
    return F.conv2d(padded, weight, groups=channels).view(batch, channels, count, height, width)


def box_blur(x: Tensor, kernel_size: int = 3) -> Tensor:
    """Mean over a kernel_size × kernel_size window (reflect padding, size preserved)."""
    _check_images(x)
    _check_odd(kernel_size)
    kernel = torch.full((1, kernel_size, kernel_size), 1 / kernel_size**2)
    return _depthwise(x, kernel).squeeze(2)


def _luma(x: Tensor) -> Tensor:
    """Grey level [B, 1, H, W]: ITU-R BT.601 weights for RGB, the channel mean otherwise."""
    if x.shape[1] == 3:
        weights = x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (x * weights).sum(dim=1, keepdim=True)
    return x.mean(dim=1, keepdim=True)


def boost_saturation_contrast(x: Tensor, saturation: float = 1.5, contrast: float = 1.5) -> Tensor:
    """Scale colour away from grey, then values away from the mean grey level, clamped to [0, 1].

        y = g + saturation·(x − g),   out = clamp(m + contrast·(y − m), 0, 1),

    with g the per-pixel grey level (BT.601) and m its per-image mean, as torchvision's adjust_saturation and
    adjust_contrast (saturation keeps g, so the order does not matter).
    """
    _check_images(x)
    grey = _luma(x)
    saturated = grey + saturation * (x - grey)
    mean = grey.mean(dim=(2, 3), keepdim=True)
    return (mean + contrast * (saturated - mean)).clamp(0, 1)


def sobel_edges(x: Tensor) -> Tensor:
    """Per-channel gradient magnitude sqrt(g_x² + g_y² + 1e-12) from 3×3 Sobel filters divided by 4.

    With the /4, a unit step edge has magnitude 1. The 1e-12 keeps the gradient finite on flat regions.
    """
    _check_images(x)
    sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 4
    gradients = _depthwise(x, torch.stack([sobel_x, sobel_x.T]))  # [B, C, 2, H, W]
    return (gradients.square().sum(dim=2) + 1e-12).sqrt()


def high_pass(x: Tensor, kernel_size: int = 5) -> Tensor:
    """Fine detail around mid-grey: x − box_blur(x, kernel_size) + 0.5.

    Flat regions map to 0.5; values are not clamped (range [−0.5, 1.5]), so no detail is cut off.
    """
    return x - box_blur(x, kernel_size) + 0.5


def local_contrast_normalize(x: Tensor, kernel_size: int = 7, eps: float = 1e-3) -> Tensor:
    """Local contrast normalisation (Jarrett et al. 2009, "What is the best multi-stage architecture for object
    recognition?"), with a box window: (x − μ) / sqrt(σ² + eps), μ and σ² the local mean and variance per channel.
    """
    mean = box_blur(x, kernel_size)
    variance = (box_blur(x.square(), kernel_size) - mean.square()).clamp_min(0)
    return (x - mean) / (variance + eps).sqrt()


def detail_stack(x: Tensor) -> dict[str, Tensor]:
    """The detail views with their default settings, name → [B, C, H, W] tensor."""
    return {
        "blur": box_blur(x),
        "saturation_contrast": boost_saturation_contrast(x),
        "edges": sobel_edges(x),
        "high_pass": high_pass(x),
        "local_contrast": local_contrast_normalize(x),
    }


# --------------------------------------------------------------------------------------------- JEPA augmentations


def random_affine(
    x: Tensor,
    max_rotation_deg: float = 15.0,
    scale: tuple[float, float] = (0.9, 1.1),
    max_shear_deg: float = 10.0,
    max_translate: float = 0.1,
    generator: torch.Generator | None = None,
    padding_mode: str = "zeros",
) -> Tensor:
    """Random rotation, scale, horizontal shear and translation per image, about the image centre (bilinear).

    Parameters are uniform: angle in ±max_rotation_deg, scale in `scale`, shear angle in ±max_shear_deg, shift in
    ±max_translate of the width and height. The content is moved by A = R(angle)·Shear·scale + shift (in pixel
    units, so rotations stay rotations on non-square images); sampling uses A⁻¹. Zero parameters give the identity.
    """
    _check_images(x)
    batch, _, height, width = x.shape
    u = _random(torch.rand, (batch, 5), generator, "cpu").double() * 2 - 1  # [B, 5] in [-1, 1)
    angle = math.radians(max_rotation_deg) * u[:, 0]
    factor = scale[0] + (scale[1] - scale[0]) * (u[:, 1] + 1) / 2
    shear = math.radians(max_shear_deg) * u[:, 2]
    cos, sin, tan = angle.cos(), angle.sin(), shear.tan()
    linear = torch.stack([cos, cos * tan - sin, sin, sin * tan + cos], dim=1).view(batch, 2, 2) * factor.view(-1, 1, 1)
    to_pixels = torch.diag(torch.tensor([width / 2, height / 2], dtype=torch.float64))
    linear = to_pixels.inverse() @ linear @ to_pixels  # the pixel-unit map in normalised coordinates
    shift = 2 * max_translate * u[:, 3:, None]  # [B, 2, 1]; one image width is 2 normalised units
    inverse = torch.linalg.inv(linear)
    theta = torch.cat([inverse, -inverse @ shift], dim=2).to(x.device, x.dtype)  # [B, 2, 3]: output → input
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)


def additive_noise(x: Tensor, std: float = 0.1, generator: torch.Generator | None = None) -> Tensor:
    """Add i.i.d. Gaussian noise of standard deviation `std`, clamped to [0, 1]."""
    noise = _random(torch.randn, tuple(x.shape), generator, x.device).to(x.dtype)
    return (x + std * noise).clamp(0, 1)


def invert(x: Tensor) -> Tensor:
    """Photographic negative 1 − x."""
    return 1 - x


def dilate(x: Tensor, kernel_size: int = 3) -> Tensor:
    """Grey-level dilation: maximum over a kernel_size × kernel_size window (size preserved)."""
    _check_images(x)
    _check_odd(kernel_size)
    return F.max_pool2d(x, kernel_size, stride=1, padding=kernel_size // 2)


def erode(x: Tensor, kernel_size: int = 3) -> Tensor:
    """Grey-level erosion: minimum over a kernel_size × kernel_size window, i.e. −dilate(−x) (size preserved)."""
    return -dilate(-x, kernel_size)


def salt_and_pepper(x: Tensor, amount: float = 0.05, generator: torch.Generator | None = None) -> Tensor:
    """Set a random `amount` of the pixel locations to 0 or 1 (half each), all channels together."""
    batch, height, width = _masking_dims(x, amount, "amount")
    u = _random(torch.rand, (batch, 2, height, width), generator, x.device).to(x.dtype)
    hit = u[:, :1] < amount
    return torch.where(hit, (u[:, 1:] < 0.5).to(x.dtype), x)


def seed_affine(x: Tensor, strength: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
    """The MNIST JEPA seed's own random affine map at coefficient c = `strength` (its `prepare_transforms`).

    Per image: angle a in ±30°·c, shear h in ±15°·c, s uniform in [1/(1 + 0.1c), 1/(1 − 0.25c)], shifts t_x, t_y
    uniform in ±0.15c·W pixels; the sampling grid (output → input, `align_corners=True`) is

        [[s·cos a, −s·sin(a + h), t_x / (W − 1)], [s·sin a, s·cos(a + h), t_y / (H − 1)]],

    so the content is scaled by 1/s ∈ [1 − 0.25c, 1 + 0.1c] and moved by at most 0.15c·W/2 pixels (a shift of
    t / (W − 1) normalised units is t / 2 pixels). Bilinear, zeros outside. `random_affine` is the lab's own
    parametrisation (scale 1 ± 0.2c, shift up to 0.15c·W, `align_corners=False`).
    """
    _check_images(x)
    _check_ratio(strength, "strength")
    batch, _, height, width = x.shape
    u = _random(torch.rand, (batch, 5), generator, "cpu") * 2 - 1  # [B, 5] in [-1, 1)
    angle = math.radians(30.0 * strength) * u[:, 0]
    shift_x = 0.15 * strength * width * u[:, 1]
    shift_y = 0.15 * strength * height * u[:, 2]
    low, high = 1 / (1 + 0.1 * strength), 1 / (1 - 0.25 * strength)
    scale = low + (high - low) * (u[:, 3] + 1) / 2
    shear = math.radians(15.0 * strength) * u[:, 4]
    theta = torch.stack(
        [
            torch.stack([scale * angle.cos(), -scale * (angle + shear).sin(), shift_x / (width - 1)], dim=1),
            torch.stack([scale * angle.sin(), scale * (angle + shear).cos(), shift_y / (height - 1)], dim=1),
        ],
        dim=1,
    ).to(x.device, x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=True)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def skeleton(x: Tensor, threshold: float = 0.5) -> Tensor:
    """Thin each image's strokes to one-pixel-wide lines: x > `threshold` skeletonised (Zhang & Suen 1984, "A fast
    parallel algorithm for thinning digital patterns", with scikit-image's `skeletonize`), 1 on the skeleton and 0
    elsewhere, per image and channel. The MNIST JEPA seed's "erosion". Needs scikit-image (`pip install
    "leae-hub[lab]"`); runs on the CPU, one image at a time."""
    _check_images(x)
    try:
        from skimage.morphology import skeletonize
    except ImportError as error:
        raise ImportError('the skeleton view needs scikit-image: pip install "leae-hub[lab]"') from error
    binary = (x > threshold).cpu().numpy()
    thinned = [[skeletonize(channel) for channel in image] for image in binary]
    return torch.as_tensor(np.stack(thinned), dtype=x.dtype, device=x.device)


DIGIT_RAMPS = ("all", "affine")
DIGIT_EROSIONS = ("min-pool", "skeleton")
DIGIT_AFFINES = ("lab", "seed")


def perturb_digits(
    x: Tensor,
    strength: float = 1.0,
    generator: torch.Generator | None = None,
    ramp: str = "all",
    erosion: str = "min-pool",
    affine: str = "lab",
) -> Tensor:
    """The MNIST JEPA perturbation of the second seed report, per image, at `strength` s in [0, 1]:

    a random affine map, then erosion or dilation (probability 1/3 each, else neither), inversion 1 − x
    (probability 1/2), salt-and-pepper on 0.05 of the pixels, and Gaussian noise of std 0.3, clamped to [0, 1].
    The probabilities never change; the options say what `strength` scales and how:

    - `ramp`: `all` scales every magnitude (affine ranges, salt-and-pepper amount, noise std) by s; `affine` (the
      seed's code) only the affine map's, the rest at full strength from the start;
    - `erosion`: `min-pool` (3×3 grey-level minimum) or `skeleton` (the seed's: binarise at 0.5 and skeletonise,
      `skeleton`); dilation is the 3×3 maximum in both;
    - `affine`: `lab` (`random_affine`: rotation ±30°·s, shear ±15°·s, shift ±0.15·s, scale 1 ± 0.2·s) or `seed`
      (`seed_affine`, the seed's own map and ranges).
    """
    _check_images(x)
    _check_ratio(strength, "strength")
    options = ((ramp, DIGIT_RAMPS, "ramp"), (erosion, DIGIT_EROSIONS, "erosion"), (affine, DIGIT_AFFINES, "affine"))
    for value, valid, name in options:
        if value not in valid:
            raise ValueError(f"perturb_digits {name} must be one of {valid}, got {value!r}.")
    batch = x.shape[0]
    if affine == "seed":
        x = seed_affine(x, strength, generator)
    else:
        x = random_affine(
            x,
            max_rotation_deg=30.0 * strength,
            scale=(1 - 0.2 * strength, 1 + 0.2 * strength),
            max_shear_deg=15.0 * strength,
            max_translate=0.15 * strength,
            generator=generator,
        )
    choice = _random(torch.rand, (batch, 2), generator, x.device).to(x.dtype).view(batch, 2, 1, 1, 1)
    if erosion == "skeleton":  # only the images drawn for erosion: skeletonising is slow
        eroded, rows = x.clone(), choice[:, 0].flatten() < 1 / 3
        if bool(rows.any()):
            eroded[rows] = skeleton(x[rows])
    else:
        eroded = erode(x)
    x = torch.where(choice[:, 0] < 1 / 3, eroded, torch.where(choice[:, 0] < 2 / 3, dilate(x), x))
    x = torch.where(choice[:, 1] < 0.5, invert(x), x)
    rest = strength if ramp == "all" else 1.0
    x = salt_and_pepper(x, 0.05 * rest, generator=generator)
    return additive_noise(x, std=0.3 * rest, generator=generator)


# -------------------------------------------------------------------------------------------------------- registry

View = Callable[[Tensor, torch.Generator | None], Tensor]

_RANDOM_VIEWS: dict[str, Callable[..., Tensor | tuple[Tensor, ...]]] = {
    "crop": crop_resize,
    "inpaint": inpainting_view,
    "pixel-mask": pixel_mask,
    "patch-mask": patch_mask,
    "affine": random_affine,
    "noise": additive_noise,
    "salt-and-pepper": salt_and_pepper,
    "digit-perturbation": perturb_digits,
}
_FIXED_VIEWS: dict[str, Callable[..., Tensor]] = {
    "blur": box_blur,
    "saturation-contrast": boost_saturation_contrast,
    "edges": sobel_edges,
    "high-pass": high_pass,
    "local-contrast": local_contrast_normalize,
    "invert": invert,
    "erode": erode,
    "dilate": dilate,
}
VIEW_NAMES: tuple[str, ...] = tuple(sorted(_RANDOM_VIEWS | _FIXED_VIEWS))


def build_view(name: str, **kwargs: object) -> View:
    """The view `name` with its keyword arguments fixed, as a callable `(x, generator=None) -> view of x`.

    Mask views return only the masked image. Calling the view on x and on x̂ with generators in the same state
    applies the same transform to both.
    """
    if name in _FIXED_VIEWS:
        fixed = _FIXED_VIEWS[name]
        return lambda x, generator=None: fixed(x, **kwargs)
    if name not in _RANDOM_VIEWS:
        raise ValueError(f"unknown view {name!r}; choose one of {', '.join(VIEW_NAMES)}")
    random_view = _RANDOM_VIEWS[name]

    def view(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        out = random_view(x, generator=generator, **kwargs)
        return out[0] if isinstance(out, tuple) else out

    return view
