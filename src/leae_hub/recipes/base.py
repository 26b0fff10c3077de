"""What every recipe shares: the output type, the seeded per-step generator, and the latent loss."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..modeling_leae import LeaeModel


@dataclass
class ObjectiveOutput:
    """One training step's objective.

    Args:
        loss: the scalar to minimise.
        logs: every term of the loss (and useful diagnostics) as floats.
        images: detached image batches for sample grids, e.g. `input`, `reconstruction`, `masked_input`,
            `masked_reconstruction`.
    """

    loss: Tensor
    logs: dict[str, float] = field(default_factory=dict)
    images: dict[str, Tensor] = field(default_factory=dict)


class Recipe(nn.Module):
    """A training objective: `recipe(model, batch, step) -> ObjectiveOutput`.

    `batch` is a dict with `pixel_values` [B, C, H, W] in [0, 1] (and optional `labels`). Randomness (views, masks,
    SIGReg directions) comes from generators seeded by `(seed, step)`, so a resumed run draws exactly what an
    uninterrupted one would. State that must survive a restart (EMA weights, predictors) lives in the recipe's
    `state_dict`.
    """

    name: ClassVar[str]

    def __init__(self, seed: int = 0):
        super().__init__()
        self.seed = seed

    def generator(self, step: int, stream: int = 0) -> torch.Generator:
        """A CPU generator for `step` (and an optional sub-stream), independent of everything else."""
        return torch.Generator().manual_seed((self.seed * 1_000_003 + stream) * 2**32 + step)

    def trainable_parameters(self, model: LeaeModel) -> Iterator[nn.Parameter]:
        """The parameters the optimiser updates: by default the whole autoencoder plus the recipe's own."""
        yield from model.parameters()
        yield from self.parameters()

    def update(self, model: LeaeModel, step: int) -> None:
        """Called after each optimiser step (EMA judges and targets move here)."""


def latent_mse(a: Tensor, b: Tensor) -> Tensor:
    """‖a − b‖² averaged over every latent value (the upstream `mse_loss` on latents)."""
    return F.mse_loss(a, b)
