"""Reconstruction metrics of image pairs: PSNR, SSIM (Wang et al. 2004), MS-SSIM (Wang et al. 2003), and PSNR and
SSIM inside a hole mask. Images are `[B, C, H, W]` with data range [0, 1] unless stated otherwise."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

# Wang, Simoncelli & Bovik 2003, "Multiscale structural similarity for image quality assessment", Table/eq. 7.
MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_K1, SSIM_K2 = 0.01, 0.03  # Wang et al. 2004


def _check_pair(x: Tensor, y: Tensor) -> None:
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError(f"expected two tensors, got {type(x).__name__} and {type(y).__name__}")
    if x.ndim != 4 or x.shape != y.shape:
        raise ValueError(
            f"expected two image batches [B, C, H, W] of the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )


def psnr_from_mse(mse: Tensor | float, data_range: float = 1.0) -> Tensor:
    r"""PSNR = 10 log10(L² / MSE) in dB, elementwise (float64); +inf where MSE = 0. The one PSNR formula of the
    library: `psnr`, `hole_psnr`, `inference.psnr` and the training-time evaluation use it."""
    mse = torch.as_tensor(mse, dtype=torch.float64)
    return 10.0 * torch.log10(data_range**2 / mse)  # 1 / 0 = inf: identical images give +inf, no warning


def psnr(x: Tensor, y: Tensor, data_range: float = 1.0) -> Tensor:
    r"""Peak signal-to-noise ratio of each image pair, in dB: PSNR = 10 log10(L² / MSE), MSE over C, H, W.

    Returns a float64 tensor [B]; +inf where the two images are identical (MSE = 0).
    """
    _check_pair(x, y)
    return psnr_from_mse((x.double() - y.double()).square().flatten(1).mean(dim=1), data_range)


def mean_colour_psnr(x: Tensor, data_range: float = 1.0) -> Tensor:
    """PSNR of replacing each image by its per-channel mean colour: the floor every reconstruction has to beat (the
    per-image-mean baseline of the evaluation, of `leae train`'s evaluation and of the benchmark); float64 [B]."""
    return psnr(x.mean(dim=(2, 3), keepdim=True).expand_as(x), x, data_range)


def _check_region(x: Tensor, y: Tensor, mask: Tensor, metric: str) -> Tensor:
    """Check an image pair and its region mask [B, 1, H, W] (non-empty in every image); the region's areas [B]."""
    _check_pair(x, y)
    if mask.ndim != 4 or mask.shape[0] != x.shape[0] or mask.shape[2:] != x.shape[2:] or mask.shape[1] != 1:
        raise ValueError(f"mask must have shape [B, 1, H, W] matching the images {tuple(x.shape)}, got {mask.shape}")
    area = mask.double().flatten(1).sum(dim=1)
    if (area == 0).any():
        raise ValueError(f"mask is empty for at least one image: {metric} needs a region (1) in every image")
    return area


def hole_psnr(x: Tensor, y: Tensor, mask: Tensor, data_range: float = 1.0) -> Tensor:
    """PSNR of each image pair over the pixels where `mask` is 1 (all channels), in dB; float64 [B].

    Args:
        mask: [B, 1, H, W] with 1 inside the region and 0 outside; every image needs a non-empty
            region.
    """
    values = _check_region(x, y, mask, "hole_psnr") * x.shape[1]  # hole pixels × channels
    squared = (x.double() - y.double()).square() * mask.double()
    return psnr_from_mse(squared.flatten(1).sum(dim=1) / values, data_range)


def gaussian_kernel(kernel_size: int = 11, sigma: float = 1.5) -> Tensor:
    """The normalised 1-D Gaussian window of `kernel_size` taps (odd) and standard deviation `sigma`, float64."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    offsets = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
    kernel = torch.exp(-offsets.square() / (2 * sigma**2))
    return kernel / kernel.sum()


def _window_matrix(kernel: Tensor, size: int) -> Tensor:
    """The [size, size - taps + 1] matrix M with M[j + t, j] = kernel[t]: `image @ M` slides the window along the last
    axis at every position where it fits (`F.conv2d`'s cross-correlation without padding) as one matrix product: more
    arithmetic than a depthwise convolution, but dense BLAS, about 4× faster in float64 on a CPU at 128 px
    (`training/benchmark.py --ssim`)."""
    taps = kernel.numel()
    positions = torch.arange(size - taps + 1, device=kernel.device)
    matrix = kernel.new_zeros(size, size - taps + 1)
    for tap, weight in enumerate(kernel):
        matrix[positions + tap, positions] = weight
    return matrix


def _ssim_maps(
    x: Tensor, y: Tensor, data_range: float, kernel_size: int, sigma: float, reduce: bool = True
) -> tuple[Tensor, Tensor]:
    """The SSIM map and its contrast-structure factor at every valid window position, [B, C, H', W'], or with
    `reduce` their per-channel means over those positions, [B, C]."""
    height, width = x.shape[-2:]
    if min(height, width) < kernel_size:
        raise ValueError(
            f"images of {height}×{width} px are smaller than the {kernel_size}×{kernel_size} SSIM window: "
            "use a smaller kernel_size (odd) or larger images"
        )
    kernel = gaussian_kernel(kernel_size, sigma).to(x.device)
    down, across = _window_matrix(kernel, height), _window_matrix(kernel, width)

    def blur(image: Tensor) -> Tensor:  # separable Gaussian, "valid" positions only (no padding)
        return down.T @ image @ across

    x, y = x.double(), y.double()
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x.square()
    var_y = blur(y * y) - mu_y.square()
    cov_xy = blur(x * y) - mu_x * mu_y
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    contrast_structure = (2 * cov_xy + c2) / (var_x + var_y + c2)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x.square() + mu_y.square() + c1)
    if not reduce:
        return luminance * contrast_structure, contrast_structure
    return (luminance * contrast_structure).mean(dim=(2, 3)), contrast_structure.mean(dim=(2, 3))


def ssim(x: Tensor, y: Tensor, data_range: float = 1.0, kernel_size: int = 11, sigma: float = 1.5) -> Tensor:
    r"""Structural similarity of each image pair (Wang, Bovik, Sheikh & Simoncelli 2004, IEEE TIP 13(4)); float64 [B].

        SSIM(x, y) = ((2 μx μy + C1)(2 σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2)),
        C1 = (K1 L)², C2 = (K2 L)², K1 = 0.01, K2 = 0.03, L = data_range,

    with local means, variances and covariance taken under a `kernel_size`×`kernel_size` Gaussian window of standard
    deviation `sigma` (11 and 1.5 in the paper), population (biased) moments, at every position where the window
    fits inside the image (no padding). The map is averaged over positions and channels. This matches
    `skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`.
    """
    _check_pair(x, y)
    return _ssim_maps(x, y, data_range, kernel_size, sigma)[0].mean(dim=1)


def hole_ssim(
    x: Tensor, y: Tensor, mask: Tensor, data_range: float = 1.0, kernel_size: int = 11, sigma: float = 1.5
) -> Tensor:
    """SSIM of each image pair inside a mask; float64 [B].

    The SSIM map of `ssim` (same constants and window), computed on images reflect-padded by kernel_size // 2 so
    that every pixel has a window centred on it, averaged over the pixels where `mask` is 1 and over channels.

    Args:
        mask: [B, 1, H, W] with 1 inside the region and 0 outside; every image needs a non-empty region.
    """
    area = _check_region(x, y, mask, "hole_ssim")
    pad = [kernel_size // 2] * 4
    padded_x, padded_y = F.pad(x.double(), pad, mode="reflect"), F.pad(y.double(), pad, mode="reflect")
    ssim_map = _ssim_maps(padded_x, padded_y, data_range, kernel_size, sigma, reduce=False)[0]  # [B, C, H, W]
    return (ssim_map.mean(dim=1) * mask[:, 0].double()).flatten(1).sum(dim=1) / area


@dataclass(frozen=True)
class MSSSIMSettings:
    """Window and scales of MS-SSIM for one image size (see `ms_ssim_settings`)."""

    kernel_size: int
    sigma: float
    scales: int
    weights: tuple[float, ...]


def _scales_that_fit(size: int, kernel_size: int) -> int:
    scales = 0
    while scales < len(MS_SSIM_WEIGHTS) and math.ceil(size / 2**scales) >= kernel_size:
        scales += 1
    return scales


def ms_ssim_settings(image_size: int) -> MSSSIMSettings:
    r"""The MS-SSIM window and scales used for square images of side `image_size`.

    The standard MS-SSIM (Wang et al. 2003) uses 5 scales, halving the image (2×2 average pooling) between scales,
    an 11×11 Gaussian window with σ = 1.5, and the weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333); the window must
    fit the coarsest scale, so the image needs ≥ 161 px (halving rounds up). For smaller images we keep the finest
    scales that fit and renormalise their weights to sum to 1 (the standard relative weights, coarsest scales dropped):

    - the 11×11, σ = 1.5 window (the SSIM window) with as many scales as fit (at most 5), when at least 3 fit;
    - otherwise a 7×7 window with σ = 1.0 (the 11/1.5 window scaled down), with as many scales as fit;
    - fewer than 3 scales with the 7×7 window (images under 25 px): MS-SSIM is not defined, a `ValueError`.

    Sizes in the zoo:

    ======  ===========  ======  ==========================================
    side    window       scales  weights
    ======  ===========  ======  ==========================================
    ≥ 161   11×11, 1.5   5       0.0448, 0.2856, 0.3001, 0.2363, 0.1333
    128     11×11, 1.5   4       0.0517, 0.3295, 0.3462, 0.2726 (128 → 16 px)
    64      11×11, 1.5   3       0.0711, 0.4530, 0.4760 (64 → 16 px)
    32, 28  7×7, 1.0     3       0.0711, 0.4530, 0.4760 (32 → 8 px, 28 → 7 px)
    ======  ===========  ======  ==========================================
    """
    for kernel_size, sigma in ((11, 1.5), (7, 1.0)):
        scales = _scales_that_fit(image_size, kernel_size)
        if scales == len(MS_SSIM_WEIGHTS):  # the standard MS-SSIM, weights as published
            return MSSSIMSettings(kernel_size, sigma, scales, MS_SSIM_WEIGHTS)
        if scales >= 3:
            chosen = MS_SSIM_WEIGHTS[:scales]
            total = sum(chosen)
            return MSSSIMSettings(kernel_size, sigma, scales, tuple(w / total for w in chosen))
    raise ValueError(
        f"MS-SSIM needs 3 scales of at least 7 px (images of at least 25 px), got {image_size} px: use ssim instead"
    )


def ms_ssim(
    x: Tensor,
    y: Tensor,
    data_range: float = 1.0,
    settings: MSSSIMSettings | None = None,
) -> Tensor:
    r"""Multi-scale SSIM of each image pair (Wang, Simoncelli & Bovik 2003); float64 [B].

        MS-SSIM(x, y) = [l_M(x, y)·cs_M(x, y)]^{w_M} · Π_{j<M} cs_j(x, y)^{w_j},

    where cs_j is the mean contrast-structure term at scale j (image halved j − 1 times by 2×2 average pooling) and
    l_M·cs_M the full SSIM at the coarsest scale M. Window, scales and weights come from `ms_ssim_settings` for the
    image's smaller side unless `settings` is given. As in common implementations (e.g. `pytorch_msssim`), the terms
    are computed per channel, negative ones clamped to 0 before the fractional powers, and the result averaged over
    channels. Identical images give 1.
    """
    _check_pair(x, y)
    settings = settings or ms_ssim_settings(min(x.shape[-2:]))
    factors = []
    for scale in range(settings.scales):
        if scale:
            x = F.avg_pool2d(x, kernel_size=2, stride=2, ceil_mode=True)
            y = F.avg_pool2d(y, kernel_size=2, stride=2, ceil_mode=True)
        full, contrast_structure = _ssim_maps(x, y, data_range, settings.kernel_size, settings.sigma)
        factors.append(full if scale == settings.scales - 1 else contrast_structure)  # [B, C]
    weights = torch.tensor(settings.weights, dtype=torch.float64, device=x.device)
    stacked = torch.stack(factors, dim=-1).clamp_min(0.0)  # [B, C, M]
    return stacked.pow(weights).prod(dim=-1).mean(dim=1)
