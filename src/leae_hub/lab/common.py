"""What the lab's experiments share: the coefficient of determination (the EMA update is `leae_hub.judges`')."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def r2_score(target: Tensor, predicted: Tensor, pooled: bool = False) -> Tensor:
    """R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)² of `predicted` against `target` ([N, K]).

    Per column by default ([K]; NaN for a column without variance); with `pooled`, one value over all columns, in
    float64 (the noisy-TV script's `r2_score`).
    """
    if pooled:
        target, predicted = target.double(), predicted.double()
        return 1 - (target - predicted).pow(2).sum() / (target - target.mean(dim=0)).pow(2).sum()
    residual = (target - predicted).square().sum(dim=0)
    total = (target - target.mean(dim=0)).square().sum(dim=0)
    return torch.where(total > 1e-12, 1 - residual / total.clamp_min(1e-12), torch.full_like(total, math.nan))
