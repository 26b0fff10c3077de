"""The detail views: blur, saturation and contrast, edges, high-pass, local contrast normalisation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .checks import _check_images, _check_odd
from .registry import register_view


def _depthwise(x: Tensor, kernels: Tensor) -> Tensor:
    """Cross-correlate every channel with each of the [K, k, k] kernels, reflect-padded: [B, C, K, H, W]."""
    batch, channels, height, width = x.shape
    count, size = kernels.shape[0], kernels.shape[-1]
    weight = kernels.to(x).repeat(channels, 1, 1).unsqueeze(1)  # [C·K, 1, k, k]
    padded = F.pad(x, [size // 2] * 4, mode="reflect")
    return F.conv2d(padded, weight, groups=channels).view(batch, channels, count, height, width)


@register_view("blur")
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


@register_view("saturation-contrast")
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


@register_view("edges")
def sobel_edges(x: Tensor) -> Tensor:
    """Per-channel gradient magnitude sqrt(g_x² + g_y² + 1e-12) from 3×3 Sobel filters divided by 4.

    With the /4, a unit step edge has magnitude 1. The 1e-12 keeps the gradient finite on flat regions.
    """
    _check_images(x)
    sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 4
    gradients = _depthwise(x, torch.stack([sobel_x, sobel_x.T]))  # [B, C, 2, H, W]
    return (gradients.square().sum(dim=2) + 1e-12).sqrt()


@register_view("high-pass")
def high_pass(x: Tensor, kernel_size: int = 5) -> Tensor:
    """Fine detail around mid-grey: x − box_blur(x, kernel_size) + 0.5.

    Flat regions map to 0.5; values are not clamped (range [−0.5, 1.5]), so no detail is cut off.
    """
    return x - box_blur(x, kernel_size) + 0.5


@register_view("local-contrast")
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
