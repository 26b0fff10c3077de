"""Views that move pixels: crop-resize, the lab's random affine map and the MNIST seed's own."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .checks import _check_images, _check_ratio, _random
from .registry import register_view


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


@register_view("crop", shares="images")
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


@register_view("affine", shares="generator")
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
