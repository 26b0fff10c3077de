"""Decoder probe: give a frozen encoder (e.g. a JEPA encoder) a decoder trained with pixel MSE."""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..modeling_leae import LeaeModel
from ..views import DIGIT_AFFINES, DIGIT_EROSIONS, perturb_digits
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
        digit_erosion: the erosion of `digit-perturbation`: `min-pool` (3×3 minimum) or `skeleton` (the seed's
            skeletonisation; needs scikit-image), as the `jepa` option of that name.
        digit_affine: the affine map of `digit-perturbation`: `lab` (scale 1 ± 0.2) or `seed` (the seed's own map,
            `views.seed_affine`), as the `jepa` option of that name.
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

    def __init__(
        self,
        input_view: str = "clean",
        perturbation_strength: float = 1.0,
        digit_erosion: str = "min-pool",
        digit_affine: str = "lab",
        seed: int = 0,
    ):
        super().__init__(seed)
        for value, valid, field in (
            (input_view, DECODER_PROBE_INPUTS, "input_view"),
            (digit_erosion, DIGIT_EROSIONS, "digit_erosion"),
            (digit_affine, DIGIT_AFFINES, "digit_affine"),
        ):
            if value not in valid:
                raise ValueError(f"decoder-probe {field} must be one of {valid}, got {value!r}.")
        if not 0.0 <= perturbation_strength <= 1.0:
            raise ValueError(f"perturbation_strength must lie in [0, 1], got {perturbation_strength}.")
        self.input_view = input_view
        self.perturbation_strength = perturbation_strength
        self.digit_options = {"erosion": digit_erosion, "affine": digit_affine}

    def trainable_parameters(self, model: LeaeModel) -> Iterator[nn.Parameter]:
        yield from model.decoder.parameters()

    def forward(self, model: LeaeModel, batch: dict[str, torch.Tensor], step: int) -> ObjectiveOutput:
        x = batch["pixel_values"]
        view = x
        if self.input_view == "digit-perturbation":
            view = perturb_digits(x, self.perturbation_strength, self.generator(step), **self.digit_options)
        model.encoder.eval()  # frozen: running statistics, no updates
        with torch.no_grad():
            z = model.encoder(view)
        reconstruction = model.decoder(z)
        loss = F.mse_loss(reconstruction, x)
        images = {"input": x, "reconstruction": reconstruction.detach()}
        if view is not x:
            images["context_view"] = view  # what the encoder saw
        return ObjectiveOutput(loss, {"loss": loss.item()}, images)
