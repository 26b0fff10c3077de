"""JEPA: predict the target encoder's embedding of one view from another view, with an anti-collapse term."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import views as V
from ..judges import EMAJudge
from ..modeling_leae import LeaeModel
from ..regularizers import SIGReg, coding_rate, vicreg_covariance, vicreg_variance
from .base import ObjectiveOutput, Recipe, RecipeCard, Stage, register_recipe

# The views JEPA augments with (`leae_hub.views.VIEWS`), each with its keyword arguments at strength s in [0, 1].
_AUGMENTATION_SETTINGS: dict[str, Callable[[float], dict[str, Any]]] = {
    "affine": lambda s: {
        "max_rotation_deg": 15.0 * s,
        "scale": (1 - 0.1 * s, 1 + 0.1 * s),
        "max_shear_deg": 10.0 * s,
        "max_translate": 0.1 * s,
    },
    "noise": lambda s: {"std": 0.1 * s},
    "invert": lambda s: {},
    "erode": lambda s: {},
    "dilate": lambda s: {},
    "crop": lambda s: {"side_ratio": 0.6},
    "inpaint": lambda s: {"area_ratio": 0.25},
    "salt-and-pepper": lambda s: {"amount": 0.05 * s},
    "digit-perturbation": lambda s: {"strength": s},
}
JEPA_AUGMENTATIONS = tuple(_AUGMENTATION_SETTINGS)
JEPA_TARGETS = ("ema", "stop-grad")
JEPA_TARGET_VIEWS = ("augmented", "clean")
JEPA_EMA_SCHEDULES = ("cosine", "constant")
JEPA_REGULARIZERS = ("sigreg", "coding-rate", "vicreg", "none")


def _augment(
    x: Tensor,
    augmentations: Sequence[str],
    generator: torch.Generator,
    probability: float,
    strength: float = 1.0,
    digit_options: dict[str, str] | None = None,
) -> Tensor:
    """Apply each augmentation to each image independently with `probability` (per-image draws from `generator`).

    `strength` in [0, 1] scales the random magnitudes (affine ranges, noise std, salt-and-pepper amount, the digit
    perturbation's strength); 1 gives each augmentation's default. `digit_options` are the keyword options of
    `views.perturb_digits` (`ramp`, `erosion`, `affine`).

    Per-image draws matter: one draw per batch would, e.g., invert whole batches, a change the latent batch norm
    removes on its own, so the two views would differ far less than intended.
    """
    view_options = {"digit-perturbation": digit_options or {}}
    for name in augmentations:
        apply = torch.rand(x.shape[0], generator=generator) < probability
        if not bool(apply.any()):
            continue
        options = {**_AUGMENTATION_SETTINGS[name](strength), **view_options.get(name, {})}
        changed = V.build_view(name, **options)(x, generator)
        x = torch.where(apply.to(x.device).view(-1, 1, 1, 1), changed, x)
    return x


@register_recipe
class JEPARecipe(Recipe):
    r"""L = ℓ(P(E(v₁)), sg(Ē(v₂))) + λ · R(E(v₁)),  v₁, v₂ = two random views of x (or v₂ = x, `target_view="clean"`).

    Joint-embedding predictive architecture (LeCun 2022, openreview BZ5a1r-kVsf; I-JEPA, Assran et al. 2023,
    arXiv:2301.08243). P is the predictor (an MLP on the flattened latent, or a 3×3 conv net on a spatial one).
    The target encoder Ē is either an EMA of E (BYOL, arXiv:2006.07733) whose decay rises from `ema_decay` to 1 on a
    cosine over `total_steps` (or stays at `ema_decay`), or E itself under stop-gradient (teacherless). With
    `target_view="clean"` the prediction is one-sided, perturbed view → clean image (the second seed report's MNIST
    run). The augmentation strength s ramps linearly with progress, s = s₀ + (1 − s₀)·step/total_steps.
    ℓ is 1 − cos (default) or the MSE.
    The anti-collapse term R is SIGReg (LeJEPA, arXiv:2511.08544), −R(Z) the coding rate log det(I + αZᵀZ/B)
    (MCR², arXiv:2006.08558; SimDINO, arXiv:2502.10385), VICReg variance + covariance (arXiv:2105.04906), or none.
    Only the encoder and the predictor train; `decoder-probe` gives the encoder a decoder afterwards: with
    `decoder_probe_steps`, in the same run (see `stages`).

    Args:
        augmentations: the view augmentations, any of `affine`, `noise`, `invert`, `erode`, `dilate`, `crop`,
            `inpaint`, `salt-and-pepper`, `digit-perturbation` (the seed's whole MNIST perturbation, see
            `views.perturb_digits`), each applied per image with `augment_probability`.
        augment_probability: the chance that each augmentation is applied to an image.
        augment_strength_start: s₀, the augmentation strength at the first step, in [0, 1]; it ramps linearly to 1
            at the last step (1: constant strength).
        digit_ramp: what the strength scales in `digit-perturbation`: `all` its magnitudes, or `affine` only the
            affine map's (the seed's code: noise, salt-and-pepper and morphology at full strength from the start).
        digit_erosion: the erosion of `digit-perturbation`: `min-pool` (3×3 minimum) or `skeleton` (the seed's
            skeletonisation; needs scikit-image).
        digit_affine: the affine map of `digit-perturbation`: `lab` (scale 1 ± 0.2) or `seed` (the seed's own map,
            `views.seed_affine`: scale 1 − 0.25 to 1 + 0.1, half the shift).
        target_view: `augmented` (the target encoder sees a second random view) or `clean` (the image itself).
        predictor: `mlp` (on the flattened latent) or `conv` (3×3 convolutions on a spatial latent).
        predictor_hidden: the predictor's hidden width (features or channels).
        predictor_norm: the MLP predictor's hidden norm: `layernorm` or `none` (the MNIST seed's).
        predictor_activation: the MLP predictor's activation: `gelu` or `silu` (the MNIST seed's).
        target: `ema` (an EMA teacher) or `stop-grad` (the encoder itself, teacherless).
        ema_decay: the EMA teacher's decay (its starting value with the cosine schedule).
        ema_schedule: `cosine` (the decay rises to 1 over the run) or `constant`.
        regularizer: the anti-collapse term: `sigreg`, `coding-rate`, `vicreg` or `none`.
        regularizer_weight: λ, its weight.
        coding_rate_alpha: α of the coding rate.
        coding_rate_center: subtract the batch mean of the codes before the rate (the seed author's convention, as
            the teacherless lab's default); false: the raw codes.
        coding_rate_eps: ε added to the identity in the rate (the seed author's 1e-4).
        prediction_loss: `cosine` (1 − cos) or `mse`.
        sigreg_slices: random directions SIGReg projects the latents on (re-drawn every step).
        decoder_probe_steps: after the encoder, train a decoder probe on it for this many steps (0: none).
    """

    name = "jepa"
    card = RecipeCard(
        summary=(
            "a **JEPA** encoder (joint-embedding predictive architecture) with a decoder probe trained on "
            "its frozen latents"
        ),
        description=(
            "The encoder learns to predict, from one view v₁, the target encoder's embedding of another view "
            "v₂ (EMA teacher or stop-gradient), with an anti-collapse term R (SIGReg, coding rate or "
            "VICReg). A decoder is then trained with the pixel MSE on the frozen encoder, so that the "
            "encoder can be compared on reconstruction."
        ),
        equation=(
            r"\mathcal{L}_{\mathrm{JEPA}} = \ell\big(P(E(v_1)),\ \mathrm{sg}(\bar{E}(v_2))\big) + "
            r"\lambda\,R(E(v_1)), \qquad \mathcal{L}_{\mathrm{probe}} = \big\lVert D(\mathrm{sg}(E(x))) - "
            r"x\big\rVert^2"
        ),
        notes="P is the predictor, Ē the target encoder, sg the stop-gradient, ℓ = 1 − cos by default.",
    )

    def __init__(
        self,
        augmentations: Sequence[str] = ("affine", "noise", "invert", "erode", "dilate"),
        augment_probability: float = 0.5,
        augment_strength_start: float = 1.0,
        digit_ramp: str = "all",
        digit_erosion: str = "min-pool",
        digit_affine: str = "lab",
        target_view: str = "augmented",
        predictor: str = "mlp",
        predictor_hidden: int = 512,
        predictor_norm: str = "layernorm",
        predictor_activation: str = "gelu",
        target: str = "ema",
        ema_decay: float = 0.996,
        ema_schedule: str = "cosine",
        total_steps: int = 0,
        regularizer: str = "sigreg",
        regularizer_weight: float = 0.03,
        coding_rate_alpha: float = 1.0,
        coding_rate_center: bool = True,
        coding_rate_eps: float = 1e-4,
        prediction_loss: str = "cosine",
        sigreg_slices: int = 256,
        decoder_probe_steps: int = 0,
        seed: int = 0,
    ):
        super().__init__(seed)
        if coding_rate_alpha < 0 or coding_rate_eps < 0:
            raise ValueError(
                f"coding_rate_alpha ({coding_rate_alpha}) and coding_rate_eps ({coding_rate_eps}) must be 0 or more; "
                "e.g. 1.0 and 1e-4 (the seed author's)."
            )
        if decoder_probe_steps < 0:
            raise ValueError(f"decoder_probe_steps must be 0 (no probe) or positive, got {decoder_probe_steps}.")
        if not (math.isfinite(regularizer_weight) and regularizer_weight >= 0):
            raise ValueError(f"regularizer_weight must be 0 or more, got {regularizer_weight}; e.g. 0.03.")
        if not 0.0 <= augment_strength_start <= 1.0:
            raise ValueError(f"augment_strength_start must lie in [0, 1], got {augment_strength_start}.")
        for value, valid, field in (
            (target, JEPA_TARGETS, "target"),
            (target_view, JEPA_TARGET_VIEWS, "target_view"),
            (ema_schedule, JEPA_EMA_SCHEDULES, "ema_schedule"),
            (regularizer, JEPA_REGULARIZERS, "regularizer"),
            (predictor, ("mlp", "conv"), "predictor"),
            (predictor_norm, ("layernorm", "none"), "predictor_norm"),
            (predictor_activation, ("gelu", "silu"), "predictor_activation"),
            (digit_ramp, V.DIGIT_RAMPS, "digit_ramp"),
            (digit_erosion, V.DIGIT_EROSIONS, "digit_erosion"),
            (digit_affine, V.DIGIT_AFFINES, "digit_affine"),
            (prediction_loss, ("cosine", "mse"), "prediction_loss"),
        ):
            if value not in valid:
                raise ValueError(f"jepa {field} must be one of {valid}, got {value!r}.")
        unknown = [name for name in augmentations if name not in JEPA_AUGMENTATIONS]
        if unknown:
            raise ValueError(f"unknown jepa augmentations {unknown}; choose from {JEPA_AUGMENTATIONS}.")
        self.augmentations = tuple(augmentations)
        self.augment_probability = augment_probability
        self.augment_strength_start = augment_strength_start
        self.digit_options = {"ramp": digit_ramp, "erosion": digit_erosion, "affine": digit_affine}
        self.target_view = target_view
        self.ema_schedule = ema_schedule
        self.predictor_kind = predictor
        self.predictor_hidden = predictor_hidden
        self.predictor_norm = predictor_norm
        self.predictor_activation = predictor_activation
        self.target = target
        self.ema_decay = ema_decay
        self.total_steps = total_steps
        self.regularizer = regularizer
        self.regularizer_weight = regularizer_weight
        self.coding_rate_alpha = coding_rate_alpha
        self.coding_rate_center = coding_rate_center
        self.coding_rate_eps = coding_rate_eps
        self.prediction_loss = prediction_loss
        self.decoder_probe_steps = decoder_probe_steps
        self.sigreg = SIGReg(num_slices=sigreg_slices, seed=seed)
        self.teacher = EMAJudge(ema_decay) if target == "ema" else None
        self.predictor: nn.Module | None = None

    @classmethod
    def stages(cls, options: dict[str, Any]) -> list[Stage]:
        """With `decoder_probe_steps`: the encoder in `jepa/`, then a decoder probe on it in the run's own folder."""
        probe_steps = options.get("decoder_probe_steps", 0)
        if not probe_steps:
            return super().stages(options)
        return [
            Stage(cls.name, {**options, "decoder_probe_steps": 0}, output_subdir="jepa"),
            Stage("decoder-probe", max_steps=probe_steps, init_from_previous=True),
        ]

    def build_predictor(self, model: LeaeModel) -> nn.Module:
        """Create the predictor for `model`'s latent shape (called once, before the optimiser is built)."""
        if self.predictor is None:
            channels = model.latent_shape[0]
            if self.predictor_kind == "conv" and len(model.latent_shape) == 3:
                self.predictor = nn.Sequential(
                    nn.Conv2d(channels, self.predictor_hidden, 3, padding=1),
                    nn.GELU(),
                    nn.Conv2d(self.predictor_hidden, channels, 3, padding=1),
                )
            else:
                dim = math.prod(model.latent_shape)
                norm = nn.LayerNorm(self.predictor_hidden) if self.predictor_norm == "layernorm" else nn.Identity()
                self.predictor = nn.Sequential(
                    nn.Flatten(),
                    nn.Linear(dim, self.predictor_hidden),
                    norm,
                    nn.GELU() if self.predictor_activation == "gelu" else nn.SiLU(),
                    nn.Linear(self.predictor_hidden, dim),
                    nn.Unflatten(1, model.latent_shape),
                )
            self.predictor.to(next(model.parameters()).device)
        return self.predictor

    def trainable_parameters(self, model: LeaeModel) -> Iterator[nn.Parameter]:
        yield from model.encoder.parameters()
        yield from self.build_predictor(model).parameters()

    def augment_strength(self, step: int) -> float:
        """s = s₀ + (1 − s₀)·min(step / total_steps, 1); s₀ when the run length is unknown (total_steps = 0)."""
        progress = min(step / self.total_steps, 1.0) if self.total_steps > 0 else 0.0
        return self.augment_strength_start + (1.0 - self.augment_strength_start) * progress

    def _regularize(self, z: Tensor, step: int) -> Tensor:
        flat = z.flatten(1)
        if self.regularizer == "sigreg":
            return self.sigreg(z, step=step)
        if self.regularizer == "coding-rate":
            return -coding_rate(flat, self.coding_rate_alpha, center=self.coding_rate_center, eps=self.coding_rate_eps)
        if self.regularizer == "vicreg":
            return vicreg_variance(flat) + vicreg_covariance(flat)
        return z.new_zeros(())

    def forward(self, model: LeaeModel, batch: dict[str, Tensor], step: int) -> ObjectiveOutput:
        x = batch["pixel_values"]
        generator = self.generator(step)
        strength = self.augment_strength(step)
        augment = (self.augmentations, generator, self.augment_probability, strength, self.digit_options)
        context = _augment(x, *augment)
        target_view = x if self.target_view == "clean" else _augment(x, *augment)
        z = model.encoder(context)
        prediction = self.build_predictor(model)(z)
        with torch.no_grad():
            target = self.teacher(model.encoder, target_view) if self.teacher else model.encoder(target_view)
        if self.prediction_loss == "cosine":
            predict = 1 - F.cosine_similarity(prediction.flatten(1), target.flatten(1), dim=1).mean()
        else:
            predict = F.mse_loss(prediction, target)
        regularizer = self._regularize(z, step)
        loss = predict + self.regularizer_weight * regularizer
        logs = {"loss": loss.item(), "prediction": predict.item(), self.regularizer: regularizer.item()}
        logs["augment_strength"] = strength
        images = {"input": x.detach(), "context_view": context.detach(), "target_view": target_view.detach()}
        return ObjectiveOutput(loss, logs, images)

    def update(self, model: LeaeModel, step: int) -> None:
        if self.teacher is not None:
            if self.ema_schedule == "cosine" and self.total_steps > 0:  # cosine schedule of the decay towards 1 (BYOL)
                progress = min(step / self.total_steps, 1.0)
                self.teacher.decay = 1 - (1 - self.ema_decay) * (math.cos(math.pi * progress) + 1) / 2
            self.teacher.update(model.encoder)
