"""Metrics of a trained autoencoder: reconstruction, inpainting, representation, collapse, and model facts.

Pure functions on tensors, and one orchestrator, `evaluate_model`, whose JSON-able result feeds `training/evaluate.py`
and the model card (`leae_hub.hub`). Images are `[B, C, H, W]` with data range [0, 1] unless stated otherwise. The
package re-exports the names of its modules:

- `reconstruction`: PSNR, SSIM, MS-SSIM, and PSNR / SSIM inside a hole;
- `features`: k-NN and linear-probe accuracy, the collapse diagnostics;
- `holes`: the seeded hole masks, the mean-colour fill, the scores of a filled hole;
- `optional_metrics`: LPIPS and FID, only from weights on disk;
- `results`: the result's format (`Unavailable`, `split_unavailable`, `metric`, `jsonable`);
- `schema`: every metric of the result declared once (path, label, decimals, model-index entry);
- `batches`: the images an evaluation reads; `report`: `evaluate_model`; `grids`: sample grids.

Reconstruction
    `psnr` (per image, +inf for identical images), `ssim` (Wang et al. 2004), `ms_ssim` (Wang et al. 2003, with scales
    chosen by image size: see `ms_ssim_settings`), `hole_psnr` (PSNR inside a mask), `mean_colour_psnr` (the floor:
    each image replaced by its mean colour).
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

from .batches import RAW_PIXEL_MAX_SIZE
from .features import KNN_KS, RANKME_EPS, feature_std, knn_accuracy, linear_probe_accuracy, rankme, sigreg_value
from .grids import grid_array, sample_grid
from .holes import (
    HOLE_KINDS,
    RANDOM_HOLE_MAX_AREA,
    hole_kind_title,
    hole_masks,
    hole_scores,
    inpainting_masks,
    mean_fill,
)
from .optional_metrics import fid_status, lpips_status
from .reconstruction import (
    MS_SSIM_WEIGHTS,
    SSIM_K1,
    SSIM_K2,
    MSSSIMSettings,
    gaussian_kernel,
    hole_psnr,
    hole_ssim,
    mean_colour_psnr,
    ms_ssim,
    ms_ssim_settings,
    psnr,
    psnr_from_mse,
    ssim,
)
from .report import evaluate_model
from .results import Unavailable, jsonable, metric, split_unavailable

__all__ = [
    "KNN_KS",
    "RANKME_EPS",
    "RAW_PIXEL_MAX_SIZE",
    "RANDOM_HOLE_MAX_AREA",
    "SSIM_K1",
    "SSIM_K2",
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
    "mean_colour_psnr",
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
