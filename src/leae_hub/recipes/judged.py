"""What the self-teaching recipes share: a judge (the model's own encoder), crops of the judged images, and SIGReg."""

from __future__ import annotations

import math

from ..judges import build_judge
from ..modeling_leae import LeaeModel
from ..regularizers import SIGReg
from .base import Recipe

NO_PIXEL_LOSS_LIMITATION = (
    "No pixel loss: images are judged through the model's own encoder, so colours, fine textures and exact positions "
    "can drift; compare with the `baseline` recipe (masked pixel MSE) for the pixel-accuracy reference."
)


class JudgedRecipe(Recipe):
    """Base of the recipes whose loss compares images through a judge J, the model's encoder: ‖J(T x) − J(T x̂)‖²
    over crops T, plus λ · SIGReg on the latents (LeJEPA, arXiv:2511.08544). A subclass declares its own options and
    ends its constructor with `**kwargs`, passed on here; its options then list these after its own.

    Args:
        crop_ratio: crop side as a fraction of the image side.
        crop_size: side in pixels the crops are resized to (default: the image size).
        sigreg_weight: λ, the weight of SIGReg on the latents.
        sigreg_slices: random directions SIGReg projects the latents on (re-drawn every step).
        judge: how the encoder judges: `step-frozen` (this step's weights as constants, gradients still flow through
            it into x̂), `live` or `ema` (see `leae_hub.judges`).
        judge_norm: the judge's batch norms: `batch` (each judged batch's own statistics, upstream) or `running`.
        ema_decay: decay of the `ema` judge.
    """

    def __init__(
        self,
        crop_ratio: float = 0.15,
        crop_size: int | None = None,
        sigreg_weight: float = 0.03,
        sigreg_slices: int = 256,
        judge: str = "step-frozen",
        judge_norm: str = "batch",
        ema_decay: float = 0.996,
        seed: int = 0,
    ):
        super().__init__(seed)
        if not 0 < crop_ratio <= 1:
            raise ValueError(
                f"crop_ratio must lie in (0, 1] (a fraction of the image side), got {crop_ratio}; e.g. 0.15."
            )
        if not (math.isfinite(sigreg_weight) and sigreg_weight >= 0):
            raise ValueError(
                f"sigreg_weight must be 0 or more (a negative weight maximises the statistic), got {sigreg_weight}; "
                "e.g. 0.03."
            )
        if not 0 <= ema_decay < 1:
            raise ValueError(f"ema_decay must lie in [0, 1), got {ema_decay}; e.g. 0.996.")
        self.crop_ratio = crop_ratio
        self.crop_size = crop_size
        self.sigreg_weight = sigreg_weight
        self.judge = build_judge(judge, judge_norm, ema_decay)
        self.sigreg = SIGReg(num_slices=sigreg_slices, seed=seed)

    @property
    def crop_output_size(self) -> tuple[int, int] | None:
        """(height, width) the crops are resized to; None: the image size."""
        return None if self.crop_size is None else (self.crop_size, self.crop_size)

    def update(self, model: LeaeModel, step: int) -> None:
        """Move an EMA judge towards the encoder (the other judges have nothing to update)."""
        self.judge.update(model.encoder)
