"""The masked-MSE baseline every result is compared with."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import views as V
from ..modeling_leae import LeaeModel
from .base import ObjectiveOutput, Recipe, RecipeCard, register_recipe


@register_recipe
class BaselineRecipe(Recipe):
    r"""L = ‖D(E(hole(x))) − x‖² (+ ‖D(E(x)) − x‖² with `clean_inputs=True`), mean over pixels.

    Direct masked-image reconstruction in pixels (upstream `main_regular.py`): no judge, no latent consistency, no
    SIGReg. Upstream hole area is 0.5; set `hole_ratio=0.35` to compare with `masked` at equal hole ratios. Its
    encoder only ever sees masked inputs unless `clean_inputs=True` adds the clean reconstruction term, which makes
    the comparison on clean images fair.

    Args:
        hole_ratio: area of the square hole as a fraction of the image (0: a plain pixel-MSE autoencoder; with
            `hole_shape=random`, the largest rectangle's area).
        hole_fill: what fills the hole (see `leae_hub.views.inpainting_view`), e.g. `image-mean`.
        hole_shape: `square` (upstream) or `random` (rectangles of random size and aspect, or brush strokes).
        clean_inputs: also reconstruct the clean image (the loss averages the two terms).
    """

    name = "baseline"
    card = RecipeCard(
        summary="the masked-MSE **baseline**: a masked autoencoder trained with a pixel loss",
        description=(
            "The direct reference every self-taught result is compared with: the decoder reconstructs the "
            "full image from the encoding of the image with a square hole, with the mean squared error in "
            "pixels."
        ),
        equation=r"\mathcal{L} = \big\lVert D(E(m \odot x)) - x \big\rVert^2",
        notes="No judge and no latent regulariser.",
    )

    def __init__(
        self,
        hole_ratio: float = 0.5,
        hole_fill: str = "image-mean",
        hole_shape: str = "square",
        clean_inputs: bool = False,
        seed: int = 0,
    ):
        super().__init__(seed)
        self.hole_ratio = hole_ratio
        self.hole_fill = hole_fill
        self.hole_shape = hole_shape
        V.check_hole_options(hole_ratio, hole_fill, hole_shape)
        self.clean_inputs = clean_inputs

    def forward(self, model: LeaeModel, batch: dict[str, torch.Tensor], step: int) -> ObjectiveOutput:
        x = batch["pixel_values"]
        x_masked, _ = V.inpainting_view(x, self.hole_ratio, self.hole_fill, self.generator(step), self.hole_shape)
        masked = model.decoder(model.encoder(x_masked))
        masked_mse = F.mse_loss(masked, x)
        logs = {"mse_masked": masked_mse.item()}
        images = {"input": x.detach(), "masked_input": x_masked.detach(), "masked_reconstruction": masked.detach()}
        loss = masked_mse
        if self.clean_inputs:
            clean = model.decoder(model.encoder(x))
            clean_mse = F.mse_loss(clean, x)
            loss = (masked_mse + clean_mse) / 2
            logs["mse_clean"] = clean_mse.item()
            images["reconstruction"] = clean.detach()
        logs["loss"] = loss.item()
        return ObjectiveOutput(loss, logs, images)
