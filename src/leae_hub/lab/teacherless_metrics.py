"""Invariance, equivariance and subspace metrics of the teacherless seq-JEPA lab (docs/teacherless.md).

Pure functions of embeddings first (each checked in tests/test_teacherless.py on a representation with a known
answer), then `evaluate`, which draws the views with known parameters and returns every number as a JSON-able dict:

- class linear-probe accuracy from `z_inv` (multinomial logistic regression, `leae_hub.evaluation`);
- equivariance R²: an MLP probe predicts the action from the identity view 0 to view j (sin θ, cos θ, t_x, t_y,
  log s, …) from the pair [z_0; z_j] of per-view codes (an MLP, because a code that turns with the image carries the
  relative angle bilinearly: sin(θ_j − θ_0) = sin θ_j cos θ_0 − cos θ_j sin θ_0);
- group probes: the same with only one factor varied between the two views, one probe per factor;
- invariance error: ‖z_inv(S) − z_inv(S′)‖² for two sequences S, S′ of the same image over the same for different
  images (0: fully invariant; ≈ 1: the transforms move z_inv as much as a change of image);
- subspace metrics: for each factor, Δz = z_eq(view with only that factor) − z_eq(identity view); the share of the
  variance of Δz in its top-k principal components (k = 2 for rotation, 1 otherwise) and the principal angles between
  the factors' top-k subspaces;
- effective rank (RankMe) of `z_eq` and `z_inv`; class leakage into `z_eq` (linear-probe accuracy from one view's code).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
from torch import Tensor, nn

from ..evaluation import linear_probe_accuracy, rankme
from .common import r2_score
from .teacherless import SeqJepa
from .teacherless_data import RotationFamily, TransformFamily, make_sequences

ACTION_NAMES = ("sin", "cos", "shift_x", "shift_y", "log_scale", "brightness", "contrast", "saturation")
FACTOR_ACTIONS = {"rotation": (0, 1), "shift_x": (2,), "shift_y": (3,), "scale": (4,)}


def mlp_probe_r2(
    train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, steps: int = 400, seed: int = 0
) -> Tensor:
    """Test R² per target column of a 2-layer MLP (256 hidden, GELU) fitted by Adam (lr 1e-3, batches of 256) with
    the squared error on standardised inputs and targets. Seeded: the same inputs give the same answer."""
    x_mean, x_std = train_x.mean(0), train_x.std(0) + 1e-6
    y_mean, y_std = train_y.mean(0), train_y.std(0) + 1e-6
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(seed)
        probe = nn.Sequential(nn.Linear(train_x.shape[1], 256), nn.GELU(), nn.Linear(256, train_y.shape[1]))
        optimizer = torch.optim.Adam(probe.parameters(), lr=1e-3)
        x, y = (train_x - x_mean) / x_std, (train_y - y_mean) / y_std
        for _ in range(steps):
            batch = torch.randint(0, x.shape[0], (min(256, x.shape[0]),), generator=generator)
            loss = (probe(x[batch]) - y[batch]).square().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        predicted = probe((test_x - x_mean) / x_std) * y_std + y_mean
    return r2_score(test_y, predicted)


def invariance_error(first: Tensor, second: Tensor) -> float:
    """mean_i ‖a_i − b_i‖² / mean_i ‖a_i − b_{i+1}‖² for codes a = `first`, b = `second` [N, D] of the same N
    images under two different transform sequences (index i+1 taken cyclically: a different image)."""
    if first.shape != second.shape or first.shape[0] < 2:
        raise ValueError(f"invariance_error needs two [N, D] sets with N ≥ 2, got {first.shape} and {second.shape}")
    same = (first - second).square().sum(1).mean()
    other = (first - second.roll(1, dims=0)).square().sum(1).mean()
    return float(same / other.clamp_min(1e-12))


def principal_directions(delta: Tensor, k: int) -> tuple[float, Tensor]:
    """Share of the (centred) variance of `delta` [N, D] in its top-`k` principal components, and those components
    as orthonormal columns [D, k]."""
    centred = delta - delta.mean(dim=0)
    _, singular, right = torch.linalg.svd(centred.double(), full_matrices=False)
    variance = singular.square()
    return float(variance[:k].sum() / variance.sum().clamp_min(1e-30)), right[:k].T.to(delta.dtype)


def principal_angles(first: Tensor, second: Tensor) -> Tensor:
    """Principal angles in degrees, ascending, between the spans of orthonormal columns `first` [D, p] and `second`
    [D, q] (Björck & Golub 1973: the arccos of the singular values of firstᵀ·second)."""
    cosines = torch.linalg.svdvals(first.double().T @ second.double()).clamp(-1, 1)
    return torch.rad2deg(torch.arccos(cosines)).to(first.dtype).sort().values


def spectrum(codes: Tensor) -> list[float]:
    """Eigenvalues of the covariance of `codes` [N, D], descending, divided by their sum."""
    eigenvalues = torch.linalg.eigvalsh(torch.cov(codes.double().T)).flip(0).clamp_min(0)
    return (eigenvalues / eigenvalues.sum()).tolist()


def rotation_sweep(family: TransformFamily, steps: int) -> Tensor:
    """Parameters [S, P] of a sweep over the rotation alone: `steps` angles over ±max_degrees (the four quarter turns
    for `RotationFamily`)."""
    if isinstance(family, RotationFamily):
        return torch.arange(4, dtype=torch.float32)[:, None] * (math.pi / 2)
    params = family.identity(steps)
    params[:, 0] = torch.linspace(-math.radians(family.max_degrees), math.radians(family.max_degrees), steps)
    return params


@torch.no_grad()
def _codes(model: SeqJepa, views: Tensor, batch: int = 512) -> Tensor:
    return torch.cat([model.encoder(chunk) for chunk in views.split(batch)])


@torch.no_grad()
def _sequences(model: SeqJepa, images: Tensor, family: TransformFamily, num_views: int, generator: torch.Generator):
    """z_inv [N, D] (from views 0 … V−2), z_eq [N, V, D] and the action from view 0 to each view [N, V, A]."""
    z_inv, z_eq, to_view = [], [], []
    for chunk in images.split(256):
        views, params, actions = make_sequences(chunk, family, num_views, generator)
        codes = model.encode(views)
        z_inv.append(model.aggregate(codes[:, :-1], actions[:, :-1]))
        z_eq.append(codes)
        origin = params[:, :1].expand_as(params)
        to_view.append(family.actions(torch.stack([origin, params], dim=2))[:, :, 1])
    return torch.cat(z_inv), torch.cat(z_eq), torch.cat(to_view)


def _pairs(z_eq: Tensor, to_view: Tensor) -> tuple[Tensor, Tensor]:
    """[z_0; z_j] and the action 0 → j for every view j ≥ 1: [N(V−1), 2D] and [N(V−1), A]."""
    first = z_eq[:, :1].expand(-1, z_eq.shape[1] - 1, -1)
    return torch.cat([first, z_eq[:, 1:]], dim=-1).flatten(0, 1), to_view[:, 1:].flatten(0, 1)


@torch.no_grad()
def _single_factor(model: SeqJepa, images: Tensor, family: TransformFamily, factor: str, generator: torch.Generator):
    """Codes of views with only `factor` changed from the identity, and those views' actions from the identity."""
    params = family.single_factor(factor, images.shape[0], generator)
    moved = _codes(model, family.apply(images, params))
    action = family.actions(torch.stack([family.identity(images.shape[0]), params], dim=1))[:, 1]
    return moved, action


def evaluate(
    model: SeqJepa,
    family: TransformFamily,
    num_views: int,
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    probe_steps: int = 400,
    seed: int = 0,
) -> dict[str, Any]:
    """Every metric of the module docstring for a trained `model` (train images fit the probes, test images score
    them). Returns numbers (JSON-able) and, under "figure", the data of the rotation figures and spectra."""
    model.eval()
    generator = torch.Generator().manual_seed(10_000 + seed)
    (train_x, train_y), (test_x, test_y) = train, test
    inv_train, eq_train, act_train = _sequences(model, train_x, family, num_views, generator)
    inv_test, eq_test, act_test = _sequences(model, test_x, family, num_views, generator)
    inv_again, _, _ = _sequences(model, test_x, family, num_views, generator)
    names = ACTION_NAMES[: act_test.shape[-1]]
    pair_train, target_train = _pairs(eq_train, act_train)
    pair_test, target_test = _pairs(eq_test, act_test)
    r2 = mlp_probe_r2(pair_train, target_train, pair_test, target_test, probe_steps, seed)
    action_r2 = {name: float(value) for name, value in zip(names, r2, strict=True) if math.isfinite(value)}
    result: dict[str, Any] = {
        "class_acc_inv": linear_probe_accuracy(inv_train, train_y, inv_test, test_y),
        "class_leakage_eq": linear_probe_accuracy(eq_train[:, 1], train_y, eq_test[:, 1], test_y),
        "action_r2": action_r2,
        "action_r2_mean": sum(action_r2.values()) / len(action_r2),
        "rotation_r2": (action_r2["sin"] + action_r2["cos"]) / 2,
        "invariance_error": invariance_error(inv_test, inv_again),
        "effective_rank_eq": rankme(eq_test.flatten(0, 1)),
        "effective_rank_inv": rankme(inv_test),
    }
    group, share, bases = {}, {}, {}
    base_tr = _codes(model, family.apply(train_x, family.identity(train_x.shape[0])))
    base_te = _codes(model, family.apply(test_x, family.identity(test_x.shape[0])))
    for factor in family.factors:
        columns = list(FACTOR_ACTIONS[factor])
        moved_tr, action_tr = _single_factor(model, train_x, family, factor, generator)
        moved_te, action_te = _single_factor(model, test_x, family, factor, generator)
        factor_r2 = mlp_probe_r2(
            torch.cat([base_tr, moved_tr], 1),
            action_tr[:, columns],
            torch.cat([base_te, moved_te], 1),
            action_te[:, columns],
            probe_steps,
            seed,
        )
        group[factor] = float(factor_r2[torch.isfinite(factor_r2)].mean())
        share[factor], bases[factor] = principal_directions(moved_te - base_te, 2 if factor == "rotation" else 1)
        if factor == "rotation":
            rotation_delta, rotation_angle = moved_te - base_te, torch.atan2(action_te[:, 0], action_te[:, 1])
    result["group_r2"] = group
    result["delta_variance_share"] = share
    result["principal_angles_deg"] = {
        f"{a}|{b}": principal_angles(bases[a], bases[b]).tolist() for a, b in itertools.combinations(bases, 2)
    }
    result["figure"] = _figure_data(model, family, test_x, bases["rotation"], rotation_delta, rotation_angle)
    result["figure"]["spectrum_eq"] = spectrum(eq_test.flatten(0, 1))
    result["figure"]["spectrum_inv"] = spectrum(inv_test)
    return result


@torch.no_grad()
def _figure_data(
    model: SeqJepa, family: TransformFamily, images: Tensor, basis: Tensor, delta: Tensor, angle: Tensor
) -> dict[str, Any]:
    """Δz of the rotation on its top-2 PCs (with the angles) and five anchors' sweeps through the rotation."""
    shown = min(600, delta.shape[0])
    sweep = rotation_sweep(family, 25)
    anchors = images[:5]
    trajectories = []
    for anchor in anchors:
        codes = _codes(model, family.apply(anchor.expand(sweep.shape[0], -1, -1, -1), sweep))
        trajectories.append((codes - codes.mean(0)) @ basis)
    return {
        "circle_xy": (delta[:shown] @ basis).tolist(),
        "circle_angle_deg": torch.rad2deg(angle[:shown]).tolist(),
        "sweep_angle_deg": torch.rad2deg(sweep[:, 0]).tolist(),
        "sweep_xy": [t.tolist() for t in trajectories],
    }
