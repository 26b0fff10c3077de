"""Decoder probe: give a frozen encoder (e.g. a JEPA encoder) a decoder trained with pixel MSE."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..modeling_leae import LeaeModel
from ..views import perturb_digits
from .base import ObjectiveOutput, Recipe, RecipeCard, register_recipe

DECODER_PROBE_INPUTS = ("clean", "digit-perturbation")


@register_recipe
class DecoderProbeRecipe(Recipe):
    r"""L = ‖D(sg(E(v))) − x‖², mean over pixels, with E frozen (no gradient, batch norms in eval mode); v = x.

    Only the decoder trains, so every recipe's encoder can be compared on reconstruction, the way a linear probe
    compares representations. With `input_view="digit-perturbation"`, v is `views.perturb_digits(x)` and the decoder
    learns to restore the clean digit from the embedding of a perturbed one (phase 2 of the second seed report's
    MNIST JEPA run).

    Args:
        input_view: what the frozen encoder sees: `clean` (x itself) or `digit-perturbation` (a perturbed x).
        perturbation_strength: the strength of `digit-perturbation`, in [0, 1].
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

    def __init__(self, input_view: str = "clean", perturbation_strength: float = 1.0, seed: int = 0):
        super().__init__(seed)
        if input_view not in DECODER_PROBE_INPUTS:
            raise ValueError(f"decoder-probe input_view must be one of {DECODER_PROBE_INPUTS}, got {input_view!r}.")
        if not 0.0 <= perturbation_strength <= 1.0:
            raise ValueError(f"perturbation_strength must lie in [0, 1], got {perturbation_strength}.")
        self.input_view = input_view
        self.perturbation_strength = perturbation_strength

    def trainable_parameters(self, model: LeaeModel) -> Iterator[nn.Parameter]:
        yield from model.decoder.parameters()

    def forward(self, model: LeaeModel, batch: dict[str, torch.Tensor], step: int) -> ObjectiveOutput:
        x = batch["pixel_values"]
        view = x
        if self.input_view == "digit-perturbation":
            view = perturb_digits(x, self.perturbation_strength, generator=self.generator(step))
        model.encoder.eval()  # frozen: running statistics, no updates
        with torch.no_grad():
            z = model.encoder(view)
        reconstruction = model.decoder(z)
        loss = F.mse_loss(reconstruction, x)
        images = {"input": x, "reconstruction": reconstruction.detach()}
        if view is not x:
            images["context_view"] = view  # what the encoder saw
        return ObjectiveOutput(loss, {"loss": loss.item()}, images)
