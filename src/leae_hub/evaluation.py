"""Metrics of a trained autoencoder: reconstruction, inpainting, representation, collapse, and model facts.

Pure functions on tensors, and one orchestrator, `evaluate_model`, whose JSON-able result feeds `training/evaluate.py`
and the model card (`leae_hub.hub`). Images are `[B, C, H, W]` with data range [0, 1] unless stated otherwise.

Reconstruction
    `psnr` (per image, +inf for identical images), `ssim` (Wang et al. 2004), `ms_ssim` (Wang et al. 2003, with scales
    chosen by image size: see `ms_ssim_settings`), `hole_psnr` (PSNR inside a mask).
Representation
    `knn_accuracy` (cosine k-NN, majority vote), `linear_probe_accuracy` (multinomial logistic regression, L-BFGS).
Collapse
    `rankme` (Garrido et al. 2023), `feature_std` (per-dimension standard deviation), `sigreg_value` (the SIGReg
    statistic of `leae_hub.regularizers.SIGReg` with fixed directions).

Numbers or absent. In `evaluate_model`'s result every metric is a finite number or absent; a metric that could not
be computed (LPIPS without local weights, k-NN without labels, ...) or that is not finite (the PSNR of a set of exact
reconstructions is +inf) is left out, and its reason is kept under ``"unavailable"``, keyed by the metric's dotted
path (``{"unavailable": {"reconstruction.lpips": "the lpips package is not installed ..."}}``). `metric` reads a
value or its reason back. `jsonable` (for other JSON) writes +inf / -inf / NaN as the strings ``"inf"``, ``"-inf"``
and ``"nan"``.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import math
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset, IterableDataset

from .data import UnreadableImageError
from .regularizers import SIGReg
from .views import apply_hole, centred_hole_mask, hole_mask_function

# Wang, Simoncelli & Bovik 2003, "Multiscale structural similarity for image quality assessment", Table/eq. 7.
MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_K1, SSIM_K2 = 0.01, 0.03  # Wang et al. 2004
RANKME_EPS = 1e-7  # Garrido et al. 2023
KNN_KS: tuple[int, ...] = (5, 20)
RAW_PIXEL_MAX_SIZE = 32  # the raw-pixel baseline sees images area-downsampled to at most 32×32
# The holes of the `holes` evaluation section: centred squares of 10, 25 and 35 % of the area (the demo's presets) and
# seeded random holes (`random_hole_mask`: rectangles up to RANDOM_HOLE_MAX_AREA of the area, or brush strokes).
HOLE_KINDS: tuple[str, ...] = ("centre-10", "centre-25", "centre-35", "random")
RANDOM_HOLE_MAX_AREA = 0.45


# --------------------------------------------------------------------------------------------------------------------
# Reconstruction metrics
# --------------------------------------------------------------------------------------------------------------------


def _check_pair(x: Tensor, y: Tensor) -> None:
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError(f"expected two tensors, got {type(x).__name__} and {type(y).__name__}")
    if x.ndim != 4 or x.shape != y.shape:
        raise ValueError(
            f"expected two image batches [B, C, H, W] of the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )


def psnr_from_mse(mse: Tensor | float, data_range: float = 1.0) -> Tensor:
    r"""PSNR = 10 log10(L² / MSE) in dB, elementwise (float64); +inf where MSE = 0. The one PSNR formula of the
    library: `psnr`, `hole_psnr`, `pipelines.psnr` and the training-time evaluation use it."""
    mse = torch.as_tensor(mse, dtype=torch.float64)
    return 10.0 * torch.log10(data_range**2 / mse)  # 1 / 0 = inf: identical images give +inf, no warning


def psnr(x: Tensor, y: Tensor, data_range: float = 1.0) -> Tensor:
    r"""Peak signal-to-noise ratio of each image pair, in dB: PSNR = 10 log10(L² / MSE), MSE over C, H, W.

    Returns a float64 tensor [B]; +inf where the two images are identical (MSE = 0).
    """
    _check_pair(x, y)
    return psnr_from_mse((x.double() - y.double()).square().flatten(1).mean(dim=1), data_range)


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


def _ssim_maps(
    x: Tensor, y: Tensor, data_range: float, kernel_size: int, sigma: float, reduce: bool = True
) -> tuple[Tensor, Tensor]:
    """The SSIM map and its contrast-structure factor at every valid window position, [B, C, H', W'], or with
    `reduce` their per-channel means over those positions, [B, C]."""
    channels, height, width = x.shape[1:]
    if min(height, width) < kernel_size:
        raise ValueError(
            f"images of {height}×{width} px are smaller than the {kernel_size}×{kernel_size} SSIM window: "
            "use a smaller kernel_size (odd) or larger images"
        )
    kernel = gaussian_kernel(kernel_size, sigma).to(x.device)
    rows = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, kernel_size)
    cols = kernel.view(1, 1, -1, 1).expand(channels, 1, kernel_size, 1)

    def blur(image: Tensor) -> Tensor:  # separable Gaussian, "valid" positions only (no padding)
        return F.conv2d(F.conv2d(image, rows, groups=channels), cols, groups=channels)

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


# --------------------------------------------------------------------------------------------------------------------
# Representation metrics
# --------------------------------------------------------------------------------------------------------------------


def _check_features(features: Tensor, labels: Tensor, name: str) -> None:
    if features.ndim != 2:
        raise ValueError(f"{name}_features must be [N, D], got shape {tuple(features.shape)}; flatten them first")
    if labels.ndim != 1 or labels.shape[0] != features.shape[0]:
        raise ValueError(f"{name}_labels must be [N] with N = {features.shape[0]}, got shape {tuple(labels.shape)}")
    if features.shape[0] == 0:
        raise ValueError(f"{name}_features is empty")
    if (labels < 0).any():
        raise ValueError(f"{name}_labels has negative (unknown) labels: keep only labelled samples")


@torch.no_grad()
def knn_accuracy(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    k: int | Sequence[int] = KNN_KS,
    batch_size: int = 1024,
) -> dict[int, float]:
    """Top-1 accuracy of a cosine-similarity k-nearest-neighbour classifier, for each k.

    Each test sample takes the class that most of its k most similar training samples (cosine similarity of the
    features) belong to; ties between classes are broken by the larger summed similarity. Test samples are handled
    `batch_size` at a time, so memory stays at batch_size × N_train similarities.

    Returns:
        {k: accuracy in [0, 1]} for each requested k.
    """
    _check_features(train_features, train_labels, "train")
    _check_features(test_features, test_labels, "test")
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(f"feature sizes differ: train {train_features.shape[1]}, test {test_features.shape[1]}")
    ks = [k] if isinstance(k, int) else list(k)
    if not ks or min(ks) < 1 or max(ks) > train_features.shape[0]:
        raise ValueError(f"every k must lie in [1, {train_features.shape[0]}] (the training set size), got {ks}")
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    train = F.normalize(train_features.float(), dim=1)
    train_labels = train_labels.to(train.device)
    correct = dict.fromkeys(ks, 0)
    for start in range(0, test_features.shape[0], batch_size):
        test = F.normalize(test_features[start : start + batch_size].float().to(train.device), dim=1)
        truth = test_labels[start : start + batch_size].to(train.device)
        similarity, index = (test @ train.T).topk(max(ks), dim=1)  # [b, k_max], most similar first
        neighbour_labels = train_labels[index]
        for kk in ks:
            votes = torch.zeros(test.shape[0], num_classes, dtype=torch.float64, device=train.device)
            votes.scatter_add_(1, neighbour_labels[:, :kk], torch.ones_like(similarity[:, :kk], dtype=torch.float64))
            summed = torch.zeros_like(votes).scatter_add_(1, neighbour_labels[:, :kk], similarity[:, :kk].double())
            # Counts decide; the summed similarity, mapped into [0, 1), only breaks ties between equal counts.
            score = votes + (summed + kk) / (2 * kk + 1)
            correct[kk] += int((score.argmax(dim=1) == truth).sum())
    return {kk: correct[kk] / test_features.shape[0] for kk in ks}


@contextlib.contextmanager
def _threads(count: int | None) -> Iterator[None]:
    """Run the block with `count` intra-op CPU threads (None: unchanged), restoring the setting afterwards."""
    previous = torch.get_num_threads()
    if count is not None and count != previous:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def linear_probe_accuracy(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    epochs: int = 100,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> float:
    r"""Test accuracy of a linear classifier trained on frozen features: multinomial logistic regression.

    Features are standardised with the training set's per-dimension mean and standard deviation (+1e-6). The
    classifier minimises the mean cross-entropy + `weight_decay` · ‖W‖² (bias not penalised), full batch, with
    L-BFGS (strong-Wolfe line search) for at most `epochs` iterations, in float32 on the features' device. The
    problem is convex and starts from zero weights, so the result is deterministic; `seed` fixes torch's global
    random state inside the call all the same (restored afterwards). On the CPU, problems up to 2^24 feature values
    run on one thread (L-BFGS is many tiny operations, which thread synchronisation slows down, badly so on a busy
    machine): about 1 s for 10k × 512 features.
    """
    _check_features(train_features, train_labels, "train")
    _check_features(test_features, test_labels, "test")
    small = train_features.device.type == "cpu" and train_features.numel() <= 2**24
    # Callers may hold inference tensors (made under torch.inference_mode): train on plain copies, with autograd on.
    with (
        _threads(1 if small else None),
        torch.random.fork_rng(devices=[]),
        torch.inference_mode(False),
        torch.enable_grad(),
    ):
        torch.manual_seed(seed)
        train = train_features.detach().float().clone()
        mean, std = train.mean(dim=0), train.std(dim=0, correction=0) + 1e-6
        train = (train - mean) / std
        test = (test_features.detach().float().to(train.device).clone() - mean) / std
        train_labels = train_labels.detach().clone()
        train_labels = train_labels.to(train.device)
        num_classes = int(max(train_labels.max(), test_labels.max())) + 1
        weight = torch.zeros(train.shape[1], num_classes, device=train.device, requires_grad=True)
        bias = torch.zeros(num_classes, device=train.device, requires_grad=True)
        optimizer = torch.optim.LBFGS(
            [weight, bias], lr=1.0, max_iter=epochs, history_size=10, line_search_fn="strong_wolfe"
        )

        def closure() -> Tensor:
            optimizer.zero_grad()
            loss = F.cross_entropy(train @ weight + bias, train_labels) + weight_decay * weight.square().sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        with torch.no_grad():
            predictions = (test @ weight + bias).argmax(dim=1).cpu()
    return int((predictions == test_labels.cpu()).sum()) / test_labels.shape[0]


# --------------------------------------------------------------------------------------------------------------------
# Collapse diagnostics
# --------------------------------------------------------------------------------------------------------------------


def _flatten(features: Tensor) -> Tensor:
    if features.ndim < 2:
        raise ValueError(f"features must be [N, ...] with at least 2 dimensions, got shape {tuple(features.shape)}")
    return features.flatten(1)


def rankme(features: Tensor, eps: float = RANKME_EPS) -> float:
    r"""RankMe, the effective rank of a set of embeddings (Garrido et al. 2023, arXiv:2210.02885, eq. 1).

        p_k = σ_k / ‖σ‖₁ + ε,   RankMe(Z) = exp(−Σ_k p_k log p_k),   ε = 1e-7,

    with σ the singular values of Z ∈ R^{N×D} (uncentred, as in the paper). It lies in [1, min(N, D)]: ≈ D for an
    isotropic Gaussian cloud with N ≫ D, ≈ 1 for a rank-1 set. `features` [N, ...] are flattened to [N, D].
    """
    z = _flatten(features).double()
    singular = torch.linalg.svdvals(z)
    p = singular / singular.sum() + eps
    return float(torch.exp(-(p * p.log()).sum()))


def feature_std(features: Tensor) -> dict[str, float]:
    """Minimum, mean and maximum over dimensions of the per-dimension standard deviation (unbiased) of [N, ...]."""
    z = _flatten(features).double()
    if z.shape[0] < 2:
        raise ValueError("feature_std needs at least 2 samples")
    std = z.std(dim=0)
    return {"std_min": float(std.min()), "std_mean": float(std.mean()), "std_max": float(std.max())}


def sigreg_value(latents: Tensor, batch_size: int = 128, num_slices: int = 256, seed: int = 0) -> float:
    """The SIGReg statistic (`leae_hub.regularizers.SIGReg`) of the latents, as a training batch would see it.

    The latents ([N, D] pooled or [N, C, H, W] spatial) are cut into consecutive batches of `batch_size` (the last,
    shorter one dropped unless it is the only one) and the statistic of each is averaged. The directions are fixed
    (`seed`, step 0), so the value is reproducible. The statistic scales with the batch size for non-Gaussian latents
    (it is N times a distance), hence the fixed batch size: ≈ 1.05 for N(0, I) latents, ≈ 0.40 · batch_size for
    latents collapsed to the origin. Spatial latents are processed a few locations at a time to bound memory.
    """
    if latents.ndim not in (2, 4):
        raise ValueError(f"latents must be [N, D] or [N, C, H, W], got shape {tuple(latents.shape)}")
    regulariser = SIGReg(num_slices=num_slices, seed=seed, distributed=False)  # evaluation may run on one rank only
    n = latents.shape[0]
    starts = list(range(0, n - batch_size + 1, batch_size)) or [0]
    values = []
    for start in starts:
        batch = latents[start : start + batch_size].float()
        if batch.ndim == 2:
            values.append(regulariser(batch, step=0).item())
            continue
        # SIGReg averages over locations; do it in chunks of locations (each [N, C, h, w] slice is independent).
        locations = batch.flatten(2)  # [N, C, L]
        chunk = max(1, int(3e7 // (batch.shape[0] * num_slices * regulariser.knots.numel())))
        total = 0.0
        for first in range(0, locations.shape[2], chunk):
            part = locations[:, :, first : first + chunk]
            total += regulariser(part.unsqueeze(-1), step=0).item() * part.shape[2]
        values.append(total / locations.shape[2])
    return float(np.mean(values))


# --------------------------------------------------------------------------------------------------------------------
# LPIPS and FID: only with weights already on disk
# --------------------------------------------------------------------------------------------------------------------

_FID_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's Inception (used by torchmetrics)


def _torch_hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def lpips_status() -> str | None:
    """None when LPIPS (AlexNet) can run from local files; otherwise the reason it cannot. Never downloads."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        return "the lpips package is not installed (pip install lpips)"
    linear = Path(next(iter(spec.submodule_search_locations))) / "weights" / "v0.1" / "alex.pth"
    if not linear.is_file():
        return f"the LPIPS linear-layer weights are missing ({linear})"
    checkpoints = _torch_hub_checkpoints()
    if not any(checkpoints.glob("alexnet-owt-*.pth")):
        return (
            f"the torchvision AlexNet weights are not in {checkpoints} (nothing is downloaded unasked; "
            "fetch them once with torchvision.models.alexnet(weights='DEFAULT'))"
        )
    return None


def fid_status() -> str | None:
    """None when FID (torchmetrics, Inception weights of torch-fidelity) can run from local files; else the reason."""
    missing = [name for name in ("torchmetrics", "torch_fidelity") if importlib.util.find_spec(name) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (pip install torchmetrics[image])"
    weights = _torch_hub_checkpoints() / _FID_WEIGHTS
    if not weights.is_file():
        return f"the FID Inception weights are not at {weights} (nothing is downloaded unasked)"
    return None


class _LPIPS:
    """Mean LPIPS (AlexNet, v0.1) between targets and reconstructions, from local weights only."""

    def __init__(self, device: torch.device) -> None:
        import lpips

        self.net = lpips.LPIPS(net="alex", verbose=False).to(device).eval()
        self.values: list[Tensor] = []

    def update(self, target: Tensor, prediction: Tensor) -> None:
        if target.shape[1] == 1:
            target, prediction = target.expand(-1, 3, -1, -1), prediction.expand(-1, 3, -1, -1)
        self.values.append(self.net(prediction * 2 - 1, target * 2 - 1).flatten().double().cpu())

    def compute(self) -> float:
        return float(torch.cat(self.values).mean())


class _FID:
    """FID between the targets and the reconstructions (torchmetrics, 2048-d Inception pool features)."""

    def __init__(self, device: torch.device) -> None:
        from torchmetrics.image.fid import FrechetInceptionDistance

        self.metric = FrechetInceptionDistance(feature=2048, normalize=True).to(device)

    def update(self, target: Tensor, prediction: Tensor) -> None:
        if target.shape[1] == 1:
            target, prediction = target.expand(-1, 3, -1, -1), prediction.expand(-1, 3, -1, -1)
        self.metric.update(target.float(), real=True)
        self.metric.update(prediction.float(), real=False)

    def compute(self) -> float:
        return float(self.metric.compute())


def _optional_metric(status: str | None, factory: Any, device: torch.device) -> tuple[Any, str | None]:
    if status is not None:
        return None, status
    try:
        return factory(device), None
    except Exception as error:  # a broken install must not stop the evaluation; the JSON says why
        return None, f"failed to load ({type(error).__name__}: {error})"


# --------------------------------------------------------------------------------------------------------------------
# The orchestrator
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unavailable:
    """A metric that could not be computed, with the reason; `split_unavailable` moves it out of a result."""

    reason: str

    def __str__(self) -> str:
        return f"unavailable: {self.reason}"


def split_unavailable(result: dict[str, Any]) -> dict[str, Any]:
    """`result` without its `Unavailable` values and non-finite numbers, their reasons under `"unavailable"`.

    The reasons are keyed by the dotted path of the value (`"representation.knn_top1.20"`); a result that lacks
    nothing has no `"unavailable"` key.
    """
    reasons: dict[str, str] = {}

    def walk(value: dict[str, Any], prefix: str) -> dict[str, Any]:
        kept = {}
        for key, item in value.items():
            path = f"{prefix}{key}"
            if isinstance(item, Tensor) and item.numel() == 1:
                item = item.item()
            if isinstance(item, Unavailable):
                reasons[path] = item.reason
            elif isinstance(item, float) and not math.isfinite(item):
                reasons[path] = f"{item} is not a finite number"
            elif isinstance(item, dict):
                kept[key] = walk(item, f"{path}.")
            else:
                kept[key] = item
        return kept

    kept = walk(result, "")
    return {**kept, "unavailable": reasons} if reasons else kept


def metric(result: dict[str, Any], path: str | Sequence[str]) -> Any:
    """The value at `path` (dotted, or a sequence of keys) of a `split_unavailable` result: a number or section,
    `Unavailable(reason)` when the result says why it is missing, or None when it has neither."""
    keys = path.split(".") if isinstance(path, str) else list(path)
    value: Any = result
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            reason = (result.get("unavailable") or {}).get(".".join(keys))
            return Unavailable(reason) if reason is not None else None
        value = value[key]
    return value


def jsonable(value: Any) -> Any:
    """A copy of `value` that `json.dumps(..., allow_nan=False)` accepts: tensors and numpy scalars become Python
    numbers, tuples become lists, keys become strings, and +inf / -inf / NaN become "inf" / "-inf" / "nan"."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, Tensor):
        return jsonable(value.item() if value.numel() == 1 else value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def _subset_indices(length: int, limit: int | None, seed: int) -> list[int]:
    """All indices, or a seeded random subset of `limit` of them in increasing order (class-sorted sources stay
    balanced)."""
    if limit is None or limit >= length:
        return list(range(length))
    if limit <= 0:
        raise ValueError(f"the number of images must be positive, got {limit}")
    generator = torch.Generator().manual_seed(seed)
    return sorted(torch.randperm(length, generator=generator)[:limit].tolist())


def _batches(
    dataset: Dataset | IterableDataset,
    batch_size: int,
    limit: int | None,
    seed: int,
    skipped: list[str] | None = None,
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield (pixel_values [b, C, H, W], labels [b]) from a map-style (subset: see `_subset_indices`) or iterable
    dataset (its first `limit` items). An unreadable image of a map-style dataset (`UnreadableImageError`) is left
    out, never replaced, and its message appended to `skipped`."""
    if isinstance(dataset, IterableDataset) or not hasattr(dataset, "__len__"):
        items: Iterable[dict[str, Tensor]] = dataset
        if limit is not None:
            items = (item for _, item in zip(range(limit), dataset, strict=False))
    else:
        items = _readable(dataset, _subset_indices(len(dataset), limit, seed), [] if skipped is None else skipped)
    batch: list[dict[str, Tensor]] = []
    for item in items:
        if "pixel_values" not in item:
            raise ValueError(f"dataset items need 'pixel_values' (images), got keys {sorted(item)}")
        batch.append(item)
        if len(batch) == batch_size:
            yield _collate(batch)
            batch = []
    if batch:
        yield _collate(batch)


def _readable(dataset: Dataset, indices: Iterable[int], skipped: list[str]) -> Iterator[dict[str, Tensor]]:
    for index in indices:
        try:
            yield dataset[index]
        except UnreadableImageError as error:
            skipped.append(str(error))
            if len(skipped) & (len(skipped) - 1) == 0:  # 1, 2, 4, 8, ...: one warning per doubling
                message = f"evaluation skipped {len(skipped)} unreadable image(s) so far: {error}"
                warnings.warn(message, RuntimeWarning, stacklevel=2)


def _collate(batch: list[dict[str, Tensor]]) -> tuple[Tensor, Tensor]:
    pixel_values = torch.stack([item["pixel_values"] for item in batch]).float()
    labels = torch.stack([torch.as_tensor(item.get("labels", -1), dtype=torch.int64) for item in batch])
    return pixel_values, labels


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


def _raw_pixels(pixel_values: Tensor) -> Tensor:
    size = pixel_values.shape[-1]
    if size > RAW_PIXEL_MAX_SIZE:
        pixel_values = F.adaptive_avg_pool2d(pixel_values, RAW_PIXEL_MAX_SIZE)
    return pixel_values.flatten(1)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _probe(
    train: Tensor, train_labels: Tensor, test: Tensor, test_labels: Tensor, ks: Sequence[int], seed: int
) -> dict[str, Any]:
    usable = [k for k in ks if k <= train.shape[0]]
    knn = knn_accuracy(train, train_labels, test, test_labels, k=usable) if usable else {}
    knn_table: dict[str, Any] = {
        str(k): knn[k] if k in knn else Unavailable(f"only {train.shape[0]} training samples") for k in ks
    }
    return {
        "knn_top1": knn_table,
        "linear_probe": linear_probe_accuracy(train, train_labels, test, test_labels, seed=seed),
    }


@torch.inference_mode()
def _encode_set(
    models: dict[str, torch.nn.Module],
    dataset: Dataset | IterableDataset,
    batch_size: int,
    limit: int | None,
    seed: int,
    device: torch.device,
    progress: bool = False,
) -> tuple[dict[str, Tensor], Tensor]:
    """Flattened latents of every model in `models` (plus "raw_pixels"), and the labels, for a dataset."""
    features: dict[str, list[Tensor]] = {name: [] for name in (*models, "raw_pixels")}
    labels = []
    batches = _batches(dataset, batch_size, limit, seed)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="encode the train split (k-NN bank, probe)", unit="batch")
    for pixel_values, batch_labels in batches:
        x = pixel_values.to(device)
        for name, model in models.items():
            features[name].append(model.encode(x).latents.flatten(1).float().cpu())
        features["raw_pixels"].append(_raw_pixels(pixel_values))
        labels.append(batch_labels)
    return {name: torch.cat(parts) for name, parts in features.items()}, torch.cat(labels)


def _mean(parts: list[Tensor]) -> float:
    return float(torch.cat(parts).mean())


@torch.inference_mode()
def evaluate_model(
    model: torch.nn.Module,
    dataset_test: Dataset | IterableDataset,
    dataset_train: Dataset | IterableDataset | None = None,
    *,
    batch_size: int = 256,
    max_images: int | None = None,
    max_train_images: int | None = None,
    hole_ratio: float = 0.35,
    hole_kinds: Sequence[str] = HOLE_KINDS,
    seed: int = 0,
    representation: bool = True,
    data_spec: str | None = None,
    split: str | None = None,
    train_split: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Evaluate a `LeaeModel` on a test set (and a train set for the representation metrics); a JSON-able dict.

    The model runs in eval mode (running batch-norm statistics) under `torch.inference_mode()`, on its own device.
    `max_images` / `max_train_images` take a seeded random subset (in index order) of a map-style dataset, or the
    first items of a stream. Sections of the result (a metric that cannot be computed, or is not finite, is absent and
    its reason is under `unavailable`, keyed by its dotted path: see `split_unavailable` and `metric`):

    - `reconstruction`: mean over images of `psnr` (dB), `ssim`, `ms_ssim` (settings in `ms_ssim_settings`, given
      under `ms_ssim_settings`), `mse`, `mean_error` (per channel, the signed mean of x̂ − x over every test pixel: a
      colour or brightness shift shared by all images), `per_image_mean_baseline_psnr` (predicting every pixel as the
      image's own mean colour: the trivial baseline), `lpips` and `fid` (only from local weights; see `lpips_status`,
      `fid_status`).
    - `inpainting`: `model.inpaint` on one square hole per image (`square_hole_mask`, area `hole_ratio`, placed by
      `seed` and the image's position in the evaluated sequence: `inpainting_masks`): `psnr_hole` (inside the hole)
      and `psnr_total` (over the whole image, known pixels pasted back).
    - `holes`: for each of `hole_kinds` (`HOLE_KINDS`: centred squares of 10, 25 and 35 % of the area, seeded random
      holes; masks from `hole_masks`), `model` and `mean_fill` (the hole filled with the visible pixels' mean colour,
      `mean_fill`: the floor), each with `psnr_hole`, `ssim_hole`, `psnr_total`, `ssim_total` (`hole_scores`).
    - `representation` (labels ≥ 0 of at least two classes in both splits, and a train set given; otherwise absent,
      with the reason; `labels` says what the labels are, e.g. UTKFace's gender): cosine
      `knn_top1` for k = 5 and 20 and a
      `linear_probe` on the flattened latents of the train set, and the same for two `baselines`: `raw_pixels`
      (images area-downsampled to at most 32×32) and `random_init_encoder` (`type(model)(model.config)` built under
      `torch.manual_seed(seed)`).
    - `collapse` (latents of the test set, flattened to [N, D]): `rankme` (≤ min(N, D)), `latent_dim`, `std_min`,
      `std_mean`, `std_max` (per-dimension standard deviations), `sigreg` (`sigreg_value`, batches of 128).
    - `model`: `parameters`, `compression_ratio` (input values / latent values), `latent_shape`, `image_size`,
      `in_channels`, `eval_images_per_s` (model forward passes only, at `batch_size`, on `device`).
    - `data`: `spec`, `split`, `num_images`, `train_split`, `num_train_images`; `evaluation`: the settings.
    """
    if not 0.0 < hole_ratio < 1.0:
        raise ValueError(f"hole_ratio must lie in (0, 1), got {hole_ratio}")
    unknown = [kind for kind in hole_kinds if kind not in HOLE_KINDS]
    if unknown:
        raise ValueError(f"hole_kinds must be among {list(HOLE_KINDS)}, got {unknown}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    config = model.config
    image_size = int(config.image_size)
    try:
        ms_settings: MSSSIMSettings | None = ms_ssim_settings(image_size)
        ms_reason = None
    except ValueError as error:
        ms_settings, ms_reason = None, Unavailable(str(error))
    lpips_metric, lpips_reason = _optional_metric(lpips_status(), _LPIPS, device)
    fid_metric, fid_reason = _optional_metric(fid_status(), _FID, device)

    random_model = None
    if representation and dataset_train is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            random_model = type(model)(config).to(device).eval()

    names = ("psnr", "ssim", "ms_ssim", "mse", "error", "baseline", "hole", "all")
    sums: dict[str, list[Tensor]] = {name: [] for name in names}
    holes: dict[str, dict[str, dict[str, list[Tensor]]]] = {kind: {"model": {}, "mean_fill": {}} for kind in hole_kinds}
    latents, random_latents, raw, labels = [], [], [], []
    forward_seconds = 0.0
    num_images = 0
    skipped: list[str] = []
    batches = _batches(dataset_test, batch_size, max_images, seed, skipped)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="evaluate", unit="batch")
    for pixel_values, batch_labels in batches:
        x = pixel_values.to(device)
        if num_images == 0:
            model(x)  # warm-up, not timed
        _sync(device)
        start = time.perf_counter()
        output = model(x)
        _sync(device)
        forward_seconds += time.perf_counter() - start
        reconstruction = output.reconstruction.float()
        sums["psnr"].append(psnr(reconstruction, x).cpu())
        sums["ssim"].append(ssim(reconstruction, x).cpu())
        if ms_settings is not None:
            sums["ms_ssim"].append(ms_ssim(reconstruction, x, settings=ms_settings).cpu())
        sums["mse"].append((reconstruction - x).double().square().flatten(1).mean(dim=1).cpu())
        sums["error"].append((reconstruction - x).double().mean(dim=(2, 3)).cpu())  # [B, C]
        sums["baseline"].append(psnr(x.mean(dim=(2, 3), keepdim=True).expand_as(x), x).cpu())
        if lpips_metric is not None:
            lpips_metric.update(x, reconstruction)
        if fid_metric is not None:
            fid_metric.update(x, reconstruction)

        indices = range(num_images, num_images + x.shape[0])
        mask = inpainting_masks(indices, x.shape[2], x.shape[3], hole_ratio, seed).to(device, x.dtype)
        filled = model.inpaint(x, mask).float()
        sums["hole"].append(hole_psnr(filled, x, mask).cpu())
        sums["all"].append(psnr(filled, x).cpu())
        for kind, fills in holes.items():
            mask = hole_masks(kind, indices, x.shape[2], x.shape[3], seed).to(device, x.dtype)
            for name, filled in (("model", model.inpaint(x, mask).float()), ("mean_fill", mean_fill(x, mask))):
                for score, values in hole_scores(filled, x, mask).items():
                    fills[name].setdefault(score, []).append(values.cpu())

        latents.append(output.latents.float().cpu())
        labels.append(batch_labels)
        if random_model is not None:
            random_latents.append(random_model.encode(x).latents.flatten(1).float().cpu())
            raw.append(_raw_pixels(pixel_values))
        num_images += x.shape[0]
    if num_images == 0:
        raise ValueError("the test dataset gave no images")

    reconstruction_section: dict[str, Any] = {
        "psnr": _mean(sums["psnr"]),
        "ssim": _mean(sums["ssim"]),
        "ms_ssim": _mean(sums["ms_ssim"]) if ms_settings is not None else ms_reason,
        "mse": _mean(sums["mse"]),
        "mean_error": torch.cat(sums["error"]).mean(dim=0).tolist(),
        "per_image_mean_baseline_psnr": _mean(sums["baseline"]),
        "lpips": _compute_optional(lpips_metric, lpips_reason),
        "fid": _compute_optional(fid_metric, fid_reason),
    }
    if ms_settings is not None:
        reconstruction_section["ms_ssim_settings"] = asdict(ms_settings)
    inpainting_section = {
        "hole_ratio": hole_ratio,
        "psnr_hole": _mean(sums["hole"]),
        "psnr_total": _mean(sums["all"]),
        "seed": seed,
        "mask": "one square hole per image (leae_hub.views.square_hole_mask), seeded by (seed, position of the image)",
    }
    holes_section: dict[str, Any] = {
        kind: {name: {score: _mean(values) for score, values in scores.items()} for name, scores in fills.items()}
        for kind, fills in holes.items()
    }
    holes_section["random_max_area"] = RANDOM_HOLE_MAX_AREA

    test_latents = torch.cat(latents)  # [N, ...] as the model gives them
    flat = test_latents.flatten(1)
    test_labels = torch.cat(labels)
    collapse: dict[str, Any] = {
        "rankme": rankme(flat),
        "rankme_max": min(flat.shape),
        "latent_dim": flat.shape[1],
        "num_samples": flat.shape[0],
    }
    one_sample = Unavailable("one test image: no standard deviation")
    collapse.update(
        feature_std(flat) if flat.shape[0] > 1 else dict.fromkeys(("std_min", "std_mean", "std_max"), one_sample)
    )
    collapse["sigreg"] = sigreg_value(test_latents, batch_size=128, seed=seed)
    collapse["sigreg_batch_size"] = min(128, flat.shape[0])

    representation_section, num_train = _representation(
        model,
        random_model,
        dataset_train,
        representation,
        flat,
        torch.cat(random_latents) if random_latents else None,
        torch.cat(raw) if raw else None,
        test_labels,
        batch_size,
        max_train_images,
        seed,
        device,
        progress,
    )

    model.train(was_training)
    result = {
        "reconstruction": reconstruction_section,
        "inpainting": inpainting_section,
        "holes": holes_section,
        "representation": representation_section,
        "collapse": collapse,
        "model": {
            "name_or_path": getattr(model, "name_or_path", "") or "",
            "parameters": sum(p.numel() for p in model.parameters()),
            "compression_ratio": float(model.compression_ratio),
            "latent_shape": list(model.latent_shape),
            "image_size": image_size,
            "in_channels": int(config.in_channels),
            "eval_images_per_s": num_images / forward_seconds if forward_seconds > 0 else Unavailable("no timing"),
            "eval_device": str(device),
        },
        "data": {
            "spec": data_spec if data_spec is not None else getattr(dataset_test, "spec", type(dataset_test).__name__),
            "split": split if split is not None else getattr(dataset_test, "split", None),
            "num_images": num_images,
            "num_unreadable_skipped": len(skipped),
            "train_split": train_split if train_split is not None else getattr(dataset_train, "split", None),
            "num_train_images": num_train,
        },
        "evaluation": {
            "seed": seed,
            "batch_size": batch_size,
            "leae_hub_version": _version(),
            "torch_version": torch.__version__,
        },
    }
    return jsonable(split_unavailable(result))


def _compute_optional(optional: Any, reason: str | None) -> float | Unavailable:
    if optional is None:
        return Unavailable(reason or "not computed")
    try:
        return optional.compute()
    except Exception as error:  # reported, never silently dropped
        return Unavailable(f"failed ({type(error).__name__}: {error})")


def _representation(
    model: torch.nn.Module,
    random_model: torch.nn.Module | None,
    dataset_train: Dataset | IterableDataset | None,
    enabled: bool,
    test_latents: Tensor,
    test_random: Tensor | None,
    test_raw: Tensor | None,
    test_labels: Tensor,
    batch_size: int,
    max_train_images: int | None,
    seed: int,
    device: torch.device,
    progress: bool = False,
) -> tuple[dict[str, Any] | Unavailable, int | None]:
    if not enabled:
        return Unavailable("disabled (representation=False / --no_representation)"), None
    if dataset_train is None or random_model is None or test_random is None or test_raw is None:
        return Unavailable("no train split given (pass dataset_train / --train_split)"), None
    test_known = test_labels >= 0
    if not test_known.any():
        return Unavailable("no labels in the test split"), None
    if test_labels[test_known].unique().numel() < 2:
        only = int(test_labels[test_known][0])
        return Unavailable(f"no labels (every test image has label {only}: one class, nothing to classify)"), None
    train, train_labels = _encode_set(
        {"model": model, "random_init_encoder": random_model},
        dataset_train,
        batch_size,
        max_train_images,
        seed,
        device,
        progress,
    )
    train_known = train_labels >= 0
    num_train = int(train_labels.shape[0])
    if train_labels[train_known].unique().numel() < 2:
        return Unavailable("no labels in the train split (none, or a single class)"), num_train
    train_labels, test_labels_known = train_labels[train_known], test_labels[test_known]
    test_sets = {"model": test_latents, "random_init_encoder": test_random, "raw_pixels": test_raw}
    results = {
        name: _probe(
            train[name][train_known], train_labels, test_sets[name][test_known], test_labels_known, KNN_KS, seed
        )
        for name in test_sets
    }
    section = {
        "features": "flattened encoder latents (eval-mode batch norm)",
        "labels": getattr(dataset_train, "label_description", "the data source's labels"),
        "num_train": int(train_known.sum()),
        "num_test": int(test_known.sum()),
        "num_classes": int(max(train_labels.max(), test_labels_known.max())) + 1,
        **results["model"],
        "baselines": {
            "raw_pixels": {**results["raw_pixels"], "feature_dim": int(test_raw.shape[1])},
            "random_init_encoder": results["random_init_encoder"],
        },
    }
    return section, num_train


def _version() -> str:
    try:
        return importlib.metadata.version("leae-hub")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# --------------------------------------------------------------------------------------------------------------------
# Sample grid for the model card
# --------------------------------------------------------------------------------------------------------------------


@torch.inference_mode()
def sample_grid(model: torch.nn.Module, pixel_values: Tensor, hole_ratio: float = 0.35, seed: int = 0) -> Any:
    """A PIL image of four rows: inputs, reconstructions, inputs with the evaluation hole (grey), inpaintings.

    Uses the same masks as the `inpainting` evaluation (`inpainting_masks` of image indices 0..B-1).
    """
    from PIL import Image

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = pixel_values.float().to(device)
    mask = inpainting_masks(range(x.shape[0]), x.shape[2], x.shape[3], hole_ratio, seed).to(device)
    rows = [x, model(x).reconstruction.float(), x * (1 - mask) + 0.5 * mask, model.inpaint(x, mask).float()]
    model.train(was_training)
    return Image.fromarray(grid_array(rows))


def grid_array(rows: Sequence[Tensor], pad: int = 2) -> np.ndarray:
    """The one grid layout of the library: image batches `[B, C, H, W]` in [0, 1] as rows (grey repeated to RGB) on a
    white background with `pad` pixels between images; uint8 `[rows·(H + pad) + pad, B·(W + pad) + pad, 3]`."""
    rows = [row.detach().float().cpu().clamp(0, 1) for row in rows]
    rows = [row.expand(-1, 3, -1, -1) if row.shape[1] == 1 else row for row in rows]
    batch, _, height, width = rows[0].shape
    canvas = torch.ones(3, len(rows) * (height + pad) + pad, batch * (width + pad) + pad)
    for r, row in enumerate(rows):
        for c in range(row.shape[0]):
            top, left = pad + r * (height + pad), pad + c * (width + pad)
            canvas[:, top : top + height, left : left + width] = row[c]
    return (canvas.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()


__all__ = [
    "KNN_KS",
    "grid_array",
    "psnr_from_mse",
    "MS_SSIM_WEIGHTS",
    "MSSSIMSettings",
    "Unavailable",
    "evaluate_model",
    "feature_std",
    "fid_status",
    "gaussian_kernel",
    "HOLE_KINDS",
    "hole_kind_title",
    "hole_masks",
    "hole_psnr",
    "hole_scores",
    "hole_ssim",
    "inpainting_masks",
    "mean_fill",
    "jsonable",
    "knn_accuracy",
    "linear_probe_accuracy",
    "lpips_status",
    "ms_ssim",
    "metric",
    "ms_ssim_settings",
    "psnr",
    "rankme",
    "sample_grid",
    "sigreg_value",
    "split_unavailable",
    "ssim",
]
