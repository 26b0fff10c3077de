"""The plain reference formulation of each recipe's training step, for measuring what the shipped step gains (and of
the evaluation's SSIM: `plain_ssim`, its Gaussian window as a depthwise convolution).

Written the way a reader of the method would write it: the plain `LeaeModel` (no `leae_hub.speedups` fast path),
fp32, one encoder call per judged batch, judge crops resized back to the full image size (upstream's view), and SIGReg
straight from its formula with the full [locations, samples, slices, knots] tensor. It draws its randomness (hole,
crop boxes, SIGReg directions) from the recipe object it wraps, so with the same seed and step it computes the same
loss as the shipped recipe with `crop_size` unset (tests/test_benchmark.py checks this) and both train on the same
batches in `training/benchmark.py --time_to_psnr`. The benchmark times it through `leae train`'s own step (the
trainer's `prepare_step` and `optimizer_step`, with `PlainStep` as the forward pass), as it times the shipped step.

    from plain_reference import PlainStep
    step = PlainStep(build_recipe("self-teaching"))     # recipe options are read from the wrapped recipe
    out = step(model, {"pixel_values": x}, step_index)   # an ObjectiveOutput, as a recipe returns

Recipes without a judge (baseline, jepa, …) have no separate plain form: their step is already written plainly, so
`PlainStep` runs the recipe itself on the plain model.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from leae_hub import views as V
from leae_hub.evaluation import SSIM_K1, SSIM_K2, gaussian_kernel
from leae_hub.modeling_leae import LeaeModel
from leae_hub.recipes import ObjectiveOutput, Recipe
from leae_hub.regularizers import SIGReg

PLAIN_RECIPES = ("masked", "self-teaching")


def plain_sigreg(sigreg: SIGReg, z: Tensor, step: int) -> Tensor:
    r"""SIGReg (LeJEPA, Balestriero & LeCun 2025, arXiv:2511.08544) computed directly from its definition:

        SIGReg(z) = (1/S) Σ_s N Σ_k w_k [ (mean_n cos(t_k u_ns) − φ(t_k))² + (mean_n sin(t_k u_ns))² ],   u = z A,

    with φ(t) = exp(−t²/2), the directions A, knots t_k and weights w_k of `sigreg` at `step`. Spatial latents
    [N, C, H, W] are H·W sample sets of N samples in C dimensions, averaged over locations.
    """
    if z.ndim == 4:
        z = z.permute(2, 3, 0, 1).flatten(0, 1)  # [HW, N, C]
    directions = sigreg.directions(z.shape[-1], step).to(z.device, z.dtype)
    knots, weights = sigreg.knots.to(z.device, z.dtype), sigreg.weights.to(z.device, z.dtype)
    t_u = (z @ directions).unsqueeze(-1) * knots  # [..., N, S, K]
    cos_mean, sin_mean = t_u.cos().mean(dim=-3), t_u.sin().mean(dim=-3)  # [..., S, K]
    error = (cos_mean - torch.exp(-knots.square() / 2)).square() + sin_mean.square()
    return (z.shape[-2] * (error @ weights)).mean()


def plain_ssim(x: Tensor, y: Tensor, data_range: float = 1.0, kernel_size: int = 11, sigma: float = 1.5) -> Tensor:
    r"""SSIM of each image pair (Wang, Bovik, Sheikh & Simoncelli 2004), float64 [B], with the Gaussian window as a
    separable depthwise convolution (`F.conv2d`, groups = channels: a row pass, then a column pass):

        SSIM = ((2 μx μy + C1)(2 σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2)),

    at every position where the window fits, averaged over positions and channels; what `leae_hub.evaluation.ssim`
    computes with the window as a matrix product.
    """
    channels = x.shape[1]
    kernel = gaussian_kernel(kernel_size, sigma)
    rows = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, kernel_size)
    cols = kernel.view(1, 1, -1, 1).expand(channels, 1, kernel_size, 1)

    def blur(image: Tensor) -> Tensor:
        return F.conv2d(F.conv2d(image, rows, groups=channels), cols, groups=channels)

    x, y = x.double(), y.double()
    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y, cov_xy = blur(x * x) - mu_x.square(), blur(y * y) - mu_y.square(), blur(x * y) - mu_x * mu_y
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    ssim_map = (
        (2 * mu_x * mu_y + c1) * (2 * cov_xy + c2) / ((mu_x.square() + mu_y.square() + c1) * (var_x + var_y + c2))
    )
    return ssim_map.mean(dim=(1, 2, 3))


def judge_mse(recipe: Recipe, model: LeaeModel, prediction: Tensor, target: Tensor) -> Tensor:
    """‖J(prediction) − J(target)‖² averaged over latent values, each judged batch in its own encoder call and the
    target judged without gradient."""
    with torch.no_grad():
        judged_target = recipe.judge(model.encoder, target)
    return F.mse_loss(recipe.judge(model.encoder, prediction), judged_target)


class PlainStep(nn.Module):
    """`PlainStep(recipe)(model, batch, step)`: the recipe's objective in its plain reference formulation."""

    def __init__(self, recipe: Recipe):
        super().__init__()
        self.recipe = recipe
        self.name = recipe.name
        if self.name == "self-teaching" and recipe.views != ("crop",):
            raise ValueError(
                f"the plain self-teaching step implements the crop view only, got views={list(recipe.views)}; "
                "time the other views with the shipped recipe (variant 'same-math')."
            )

    def forward(self, model: LeaeModel, batch: dict[str, Tensor], step: int) -> ObjectiveOutput:
        if self.name == "masked":
            return self._masked(model, batch["pixel_values"], step)
        if self.name == "self-teaching":
            return self._self_teaching(model, batch["pixel_values"], step)
        return self.recipe(model, batch, step)

    def _self_teaching(self, model: LeaeModel, x: Tensor, step: int) -> ObjectiveOutput:
        """L = (1/C) Σ_c ‖J(T_c x) − J(T_c x̂)‖² + λ SIGReg(z), z = E(x), x̂ = D(z), T_c a crop resized to full size."""
        recipe = self.recipe
        generator = recipe.generator(step)
        z = model.encoder(x)
        x_hat = model.decoder(z)
        terms = []
        for _ in range(recipe.num_crops):
            crop, crop_hat = V.crop_resize(x, x_hat, side_ratio=recipe.crop_ratio, generator=generator)
            terms.append(judge_mse(recipe, model, crop_hat, crop))
        latent = torch.stack(terms).mean()
        loss = latent + recipe.sigreg_weight * plain_sigreg(recipe.sigreg, z, step)
        return ObjectiveOutput(loss, {"loss": loss.item()}, {"input": x.detach(), "reconstruction": x_hat.detach()})

    def _masked(self, model: LeaeModel, x: Tensor, step: int) -> ObjectiveOutput:
        """L = (‖J(x̂_c) − J(x̂_m)‖² + ‖J(T x) − J(T x̂_c)‖² + ‖J(T x) − J(T x̂_m)‖²) / 3 + ½ λ (SIGReg(z_c) + SIGReg(z_m)),
        x̂_c = D(E(x)), x̂_m = D(E(hole(x))), T a crop resized to full size (leAutoencoder, Peluso 2026)."""
        recipe = self.recipe
        generator = recipe.generator(step)
        x_masked, _ = V.inpainting_view(x, recipe.hole_ratio, recipe.hole_fill, generator)
        z_clean, z_masked = model.encoder(x), model.encoder(x_masked)
        clean, masked = model.decoder(z_clean), model.decoder(z_masked)
        crop, crop_clean, crop_masked = V.crop_resize(
            x, clean, masked, side_ratio=recipe.crop_ratio, generator=generator
        )
        encoder, judge = model.encoder, recipe.judge
        with torch.no_grad():
            target = judge(encoder, crop)
        branch = F.mse_loss(judge(encoder, clean), judge(encoder, masked))
        crop_clean_term = F.mse_loss(judge(encoder, crop_clean), target)
        crop_masked_term = F.mse_loss(judge(encoder, crop_masked), target)
        latent = (branch + crop_clean_term + crop_masked_term) / 3
        sigreg = plain_sigreg(recipe.sigreg, z_clean, step) + plain_sigreg(recipe.sigreg, z_masked, step)
        loss = latent + 0.5 * recipe.sigreg_weight * sigreg
        return ObjectiveOutput(loss, {"loss": loss.item()}, {"input": x.detach(), "reconstruction": clean.detach()})

    def update(self, model: LeaeModel, step: int) -> None:
        self.recipe.update(model, step)

    def trainable_parameters(self, model: LeaeModel) -> Any:
        return self.recipe.trainable_parameters(model)
