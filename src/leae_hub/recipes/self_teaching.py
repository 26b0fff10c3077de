"""The self-teaching autoencoder: reconstruction learned with no pixel loss."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .. import views as V
from ..modeling_leae import LeaeModel
from .base import ObjectiveOutput, RecipeCard, latent_mse, register_recipe
from .judged import NO_PIXEL_LOSS_LIMITATION, JudgedRecipe

SELF_TEACHING_VIEWS = ("crop", "pixel-mask", "patch-mask", "detail", "plain")


@register_recipe
class SelfTeachingRecipe(JudgedRecipe):
    r"""L = (1/|T|) Σ_T ‖J(T(x)) − J(T(x̂))‖² + λ · SIGReg(z),   z = E(x), x̂ = D(z).

    Self-Teaching Autoencoder (Peluso 2026, the-puzzler.github.io/posts/self-teaching-autoencoder). J is the judge
    (the encoder, step-frozen by default); J(T(x)) is computed without gradient. Each view T is applied identically
    to x and x̂:

    - `crop`: `num_crops` random square crops of side `crop_ratio` resized to `crop_size` (default: full size);
    - `pixel-mask` / `patch-mask`: the same random pixels or patches dropped from both;
    - `detail`: blur, saturation/contrast boost, Sobel edges, high-pass and local contrast normalisation;
    - `plain`: T = identity, the setting where encoder and decoder can agree on a "private language".

    SIGReg (LeJEPA, arXiv:2511.08544) on z keeps the codes from collapsing. Upstream defaults: crop 0.15,
    λ = 0.03, step-frozen judge with batch statistics.

    Args:
        views: the transformations T, any of `crop`, `pixel-mask`, `patch-mask`, `detail`, `plain`.
        num_crops: random crops per image for the `crop` view.
        pixel_mask_ratio: fraction of pixels dropped by the `pixel-mask` view.
        patch_size: patch side in pixels for the `patch-mask` view.
        patch_mask_ratio: fraction of patches dropped by the `patch-mask` view.
        **kwargs: the judge, crop and SIGReg options of `JudgedRecipe` (`crop_ratio`, `crop_size`, `sigreg_weight`,
            `sigreg_slices`, `judge`, `judge_norm`, `ema_decay`).
    """

    name = "self-teaching"
    card = RecipeCard(
        summary=(
            "learned with **no pixel loss**: each reconstruction is judged only through the model's own "
            "encoder, across random views"
        ),
        description=(
            "The reconstruction x̂ = D(E(x)) is compared with the input only through a judge J (the model's "
            "encoder, step-frozen: its weights are constants for the step while gradients flow through it "
            "into x̂) applied to the same random views T of both images, by default small crops resized to "
            "full size. SIGReg keeps the latents z close to an isotropic Gaussian so that they cannot "
            "collapse."
        ),
        equation=(
            r"\mathcal{L} = \frac{1}{|\mathcal{T}|}\sum_{T \in \mathcal{T}} \big\lVert J(T(x)) - "
            r"J(T(\hat{x}))\big\rVert^2 + \lambda\,\mathrm{SIGReg}(z), \qquad z = E(x),\ \hat{x} = D(z)"
        ),
        notes=(
            "J(T(x)) is computed without gradient. SIGReg (LeJEPA) is the Epps–Pulley test of random 1-D "
            "projections of the latents against N(0, 1)."
        ),
        limitations=(NO_PIXEL_LOSS_LIMITATION,),
    )

    def __init__(
        self,
        views: Sequence[str] = ("crop",),
        num_crops: int = 1,
        pixel_mask_ratio: float = 0.5,
        patch_size: int = 4,
        patch_mask_ratio: float = 0.5,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        unknown = [view for view in views if view not in SELF_TEACHING_VIEWS]
        if unknown or not views:
            raise ValueError(f"views must be a non-empty subset of {SELF_TEACHING_VIEWS}, got {list(views)}.")
        for name, ratio in (("pixel_mask_ratio", pixel_mask_ratio), ("patch_mask_ratio", patch_mask_ratio)):
            if not 0 <= ratio < 1:
                raise ValueError(f"{name} must lie in [0, 1) (the fraction dropped), got {ratio}; e.g. 0.5.")
        self.views = tuple(views)
        self.num_crops = num_crops
        self.pixel_mask_ratio = pixel_mask_ratio
        self.patch_size = patch_size
        self.patch_mask_ratio = patch_mask_ratio
        # The mask views' options (`leae_hub.views.VIEWS`): one mask hides the same pixels of x and x̂.
        self.mask_options = {
            "pixel-mask": {"ratio": pixel_mask_ratio},
            "patch-mask": {"patch_size": patch_size, "ratio": patch_mask_ratio},
        }

    def _view_pairs(self, x: torch.Tensor, x_hat: torch.Tensor, step: int):
        """Yield (name, T(x), T(x̂)) for every configured view, with shared randomness for x and x̂."""
        generator = self.generator(step)
        for view in self.views:
            if view == "crop":
                for index in range(self.num_crops):
                    name = "crop" if self.num_crops == 1 else f"crop{index}"
                    tx, tx_hat = V.joint_view(
                        view,
                        x,
                        x_hat,
                        generator=generator,
                        side_ratio=self.crop_ratio,
                        output_size=self.crop_output_size,
                    )
                    yield name, tx, tx_hat
            elif view in self.mask_options:
                yield view, *V.joint_view(view, x, x_hat, generator=generator, **self.mask_options[view])
            elif view == "detail":
                for (name, tx), tx_hat in zip(V.detail_stack(x).items(), V.detail_stack(x_hat).values(), strict=True):
                    yield f"detail-{name}", tx, tx_hat
            else:
                yield "plain", x, x_hat

    def forward(self, model: LeaeModel, batch: dict[str, torch.Tensor], step: int) -> ObjectiveOutput:
        x = batch["pixel_values"]
        z = model.encoder(x)
        x_hat = model.decoder(z)
        names, views, view_hats = zip(*self._view_pairs(x, x_hat, step), strict=True)
        with torch.no_grad():
            targets = self.judge.many(model.encoder, views)  # J(T x) for every view
        predictions = self.judge.many(model.encoder, view_hats)  # J(T x̂), gradients into x̂
        terms = {
            f"latent_{name}": latent_mse(prediction, target)
            for name, target, prediction in zip(names, targets, predictions, strict=True)
        }
        latent = torch.stack(list(terms.values())).mean()
        sigreg = self.sigreg(z, step=step)
        loss = latent + self.sigreg_weight * sigreg
        logs = {"loss": loss.item(), "latent": latent.item(), "sigreg": sigreg.item()}
        logs.update({name: value.item() for name, value in terms.items()})
        return ObjectiveOutput(loss, logs, {"input": x.detach(), "reconstruction": x_hat.detach()})
