"""What the views share: argument checks and random draws on the generator's device."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


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
