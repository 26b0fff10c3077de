"""What the lab's experiments share: the EMA target update and the coefficient of determination."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, decay: float) -> None:
    """θ' ← decay·θ' + (1 − decay)·θ over the parameters (BYOL, Grill et al. 2020, arXiv:2006.07733, eq. 1); buffers
    are left as they are, as the seeds' scripts do."""
    for p_target, p_online in zip(target.parameters(), online.parameters(), strict=True):
        p_target.mul_(decay).add_(p_online, alpha=1 - decay)


def r2_score(target: Tensor, predicted: Tensor, pooled: bool = False) -> Tensor:
    """R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)² of `predicted` against `target` ([N, K]).

    Per column by default ([K]; NaN for a column without variance); with `pooled`, one value over all columns, in
    float64 (the noisy-TV seed's `r2_score`).
    """
    if pooled:
        target, predicted = target.double(), predicted.double()
        return 1 - (target - predicted).pow(2).sum() / (target - target.mean(dim=0)).pow(2).sum()
    residual = (target - predicted).square().sum(dim=0)
    total = (target - target.mean(dim=0)).square().sum(dim=0)
    return torch.where(total > 1e-12, 1 - residual / total.clamp_min(1e-12), torch.full_like(total, math.nan))
