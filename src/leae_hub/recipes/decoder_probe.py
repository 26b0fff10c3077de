"""Decoder probe: give a frozen encoder (e.g. a JEPA encoder) a decoder trained with pixel MSE."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..modeling_leae import LeaeModel
from .base import ObjectiveOutput, Recipe, RecipeCard, register_recipe


@register_recipe
class DecoderProbeRecipe(Recipe):
    r"""L = ‖D(sg(E(x))) − x‖², mean over pixels, with E frozen (no gradient, batch norms in eval mode).

    Only the decoder trains, so every recipe's encoder can be compared on reconstruction, the way a linear probe
    compares representations.
    """

    name = "decoder-probe"
    card = RecipeCard(
        summary="a decoder probe: a decoder trained with the pixel MSE on a frozen encoder",
        description=(
            "Only the decoder trains; the encoder (for example a JEPA encoder) is frozen, with its batch "
            "norms in eval mode."
        ),
        equation=r"\mathcal{L} = \big\lVert D(\mathrm{sg}(E(x))) - x\big\rVert^2",
        notes="sg is the stop-gradient.",
    )

    def trainable_parameters(self, model: LeaeModel) -> Iterator[nn.Parameter]:
        yield from model.decoder.parameters()

    def forward(self, model: LeaeModel, batch: dict[str, torch.Tensor], step: int) -> ObjectiveOutput:
        x = batch["pixel_values"]
        model.encoder.eval()  # frozen: running statistics, no updates
        with torch.no_grad():
            z = model.encoder(x)
        reconstruction = model.decoder(z)
        loss = F.mse_loss(reconstruction, x)
        return ObjectiveOutput(loss, {"loss": loss.item()}, {"input": x, "reconstruction": reconstruction.detach()})
