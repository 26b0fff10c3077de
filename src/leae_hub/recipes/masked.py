"""leAutoencoder: masked autoencoding judged by the model's own encoder."""

from __future__ import annotations

from typing import Any

import torch

from .. import views as V
from ..modeling_leae import LeaeModel
from ..speedups import encode_groups
from .base import ObjectiveOutput, RecipeCard, latent_mse, register_recipe
from .judged import NO_PIXEL_LOSS_LIMITATION, JudgedRecipe


@register_recipe
class MaskedRecipe(JudgedRecipe):
    r"""The masked self-teaching objective (leAutoencoder, Peluso 2026, github.com/the-puzzler/leautoencoder).

    A clean branch x̂_c = D(E(x)) and a masked branch x̂_m = D(E(hole(x))), compared to each other and to crops of the
    clean image through the judge J:

        L = (‖J(x̂_c) − J(x̂_m)‖² + ‖J(T x) − J(T x̂_c)‖² + ‖J(T x) − J(T x̂_m)‖²) / 3
            + ½ λ (SIGReg(z_c) + SIGReg(z_m)),

    with J(T x) computed without gradient and the same crop T for all three images. Upstream defaults: hole area 0.35
    filled with the image mean, crop 0.15, λ = 0.03, step-frozen judge with batch statistics.

    Args:
        hole_ratio: area of the square inpainting hole as a fraction of the image (with `hole_shape=random`, the
            largest rectangle's area).
        hole_fill: what fills the hole (see `leae_hub.views.inpainting_view`), e.g. `image-mean`.
        hole_shape: `square` (upstream: one square of area `hole_ratio` at a random position) or `random`
            (rectangles of random size and aspect, or brush strokes: `leae_hub.views.random_hole_mask`).
        sigreg_weight: λ, the weight of SIGReg (halved over the two branches).
        **kwargs: the other judge, crop and SIGReg options of `JudgedRecipe` (`crop_ratio`, `crop_size`,
            `sigreg_slices`, `judge`, `judge_norm`, `ema_decay`).
    """

    name = "masked"
    card = RecipeCard(
        summary=(
            "a masked autoencoder (leAutoencoder) learned with **no pixel loss**: clean and masked "
            "reconstructions are judged through the model's own encoder"
        ),
        description=(
            "A clean branch x̂_c = D(E(x)) and a masked branch x̂_m = D(E(m ⊙ x)) (a square hole, filled "
            "with the image mean) are compared with each other and with crops T of the clean image through "
            "the judge J, the step-frozen encoder. SIGReg on both codes keeps them from collapsing."
        ),
        equation=(
            r"\mathcal{L} = \tfrac{1}{3}\Big(\lVert J(\hat{x}_c) - J(\hat{x}_m)\rVert^2 + \lVert J(Tx) - "
            r"J(T\hat{x}_c)\rVert^2 + \lVert J(Tx) - J(T\hat{x}_m)\rVert^2\Big) + "
            r"\tfrac{\lambda}{2}\big(\mathrm{SIGReg}(z_c) + \mathrm{SIGReg}(z_m)\big)"
        ),
        notes="J(Tx) is computed without gradient; the same crop T is used for the three images.",
        limitations=(NO_PIXEL_LOSS_LIMITATION,),
    )

    def __init__(
        self,
        hole_ratio: float = 0.35,
        hole_fill: str = "image-mean",
        hole_shape: str = "square",
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.hole_ratio = hole_ratio
        self.hole_fill = hole_fill
        self.hole_shape = hole_shape
        V.check_hole_options(hole_ratio, hole_fill, hole_shape)

    def forward(self, model: LeaeModel, batch: dict[str, torch.Tensor], step: int) -> ObjectiveOutput:
        x = batch["pixel_values"]
        generator = self.generator(step)
        x_masked, _ = V.inpainting_view(x, self.hole_ratio, self.hole_fill, generator, self.hole_shape)
        # Each branch normalised with its own batch statistics (one grouped call with the fast path on).
        z_clean, z_masked = encode_groups(model.encoder, torch.cat([x, x_masked]), groups=2).chunk(2)
        clean, masked = model.decoder(torch.cat([z_clean, z_masked])).chunk(2)  # x̂_c, x̂_m
        crop, crop_clean, crop_masked = V.crop_resize(
            x, clean, masked, side_ratio=self.crop_ratio, output_size=self.crop_output_size, generator=generator
        )
        encoder, judge = model.encoder, self.judge
        with torch.no_grad():
            target = judge(encoder, crop)  # J(T x)
        j_clean, j_masked, j_crop_clean, j_crop_masked = judge.many(encoder, [clean, masked, crop_clean, crop_masked])
        branch = latent_mse(j_clean, j_masked)
        crop_clean_term = latent_mse(j_crop_clean, target)
        crop_masked_term = latent_mse(j_crop_masked, target)
        latent = (branch + crop_clean_term + crop_masked_term) / 3
        sigreg_clean = self.sigreg(z_clean, step=step)
        sigreg_masked = self.sigreg(z_masked, step=step)
        loss = latent + 0.5 * self.sigreg_weight * (sigreg_clean + sigreg_masked)
        logs = {
            "loss": loss.item(),
            "latent": latent.item(),
            "latent_branch": branch.item(),
            "latent_crop_clean": crop_clean_term.item(),
            "latent_crop_masked": crop_masked_term.item(),
            "sigreg_clean": sigreg_clean.item(),
            "sigreg_masked": sigreg_masked.item(),
        }
        images = {
            "input": x.detach(),
            "reconstruction": clean.detach(),
            "masked_input": x_masked.detach(),
            "masked_reconstruction": masked.detach(),
        }
        return ObjectiveOutput(loss, logs, images)
