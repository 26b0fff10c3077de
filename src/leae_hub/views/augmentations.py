"""The JEPA augmentations: noise, inversion, grey-level morphology, salt-and-pepper, the MNIST digit perturbation."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .checks import _check_images, _check_odd, _check_ratio, _masking_dims, _random
from .geometry import random_affine, seed_affine
from .registry import register_view


@register_view("noise", shares="generator")
def additive_noise(x: Tensor, std: float = 0.1, generator: torch.Generator | None = None) -> Tensor:
    """Add i.i.d. Gaussian noise of standard deviation `std`, clamped to [0, 1]."""
    noise = _random(torch.randn, tuple(x.shape), generator, x.device).to(x.dtype)
    return (x + std * noise).clamp(0, 1)


@register_view("invert")
def invert(x: Tensor) -> Tensor:
    """Photographic negative 1 − x."""
    return 1 - x


@register_view("dilate")
def dilate(x: Tensor, kernel_size: int = 3) -> Tensor:
    """Grey-level dilation: maximum over a kernel_size × kernel_size window (size preserved)."""
    _check_images(x)
    _check_odd(kernel_size)
    return F.max_pool2d(x, kernel_size, stride=1, padding=kernel_size // 2)


@register_view("erode")
def erode(x: Tensor, kernel_size: int = 3) -> Tensor:
    """Grey-level erosion: minimum over a kernel_size × kernel_size window, i.e. −dilate(−x) (size preserved)."""
    return -dilate(-x, kernel_size)


@register_view("salt-and-pepper", shares="generator")
def salt_and_pepper(x: Tensor, amount: float = 0.05, generator: torch.Generator | None = None) -> Tensor:
    """Set a random `amount` of the pixel locations to 0 or 1 (half each), all channels together."""
    batch, height, width = _masking_dims(x, amount, "amount")
    u = _random(torch.rand, (batch, 2, height, width), generator, x.device).to(x.dtype)
    hit = u[:, :1] < amount
    return torch.where(hit, (u[:, 1:] < 0.5).to(x.dtype), x)


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


@register_view("digit-perturbation", shares="generator")
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
