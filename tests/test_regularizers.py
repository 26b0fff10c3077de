"""Tests of the latent regularisers: SIGReg (values, seeding, spatial input, DDP exactness), coding rate, VICReg."""

from __future__ import annotations

import math

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from leae_hub.regularizers import (
    SIGReg,
    coding_rate,
    epps_pulley_quadrature,
    sigreg_statistic,
    vicreg_covariance,
    vicreg_variance,
)


def _gaussian(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.slow
def test_sigreg_on_standard_gaussian_matches_theory() -> None:
    # For u ~ N(0, 1): E[N·|ECF(t) − φ(t)|²] = Var cos(tu) + Var sin(tu) = 1 − exp(−t²) for every N, so the expected
    # statistic is Σ_k w_k (1 − exp(−t_k²)) ≈ 2∫_0^3 exp(−t²/2)(1 − exp(−t²)) dt ≈ 1.05.
    sigreg = SIGReg()
    values = [sigreg(_gaussian(512, 64, seed=100 + step), step=step).item() for step in range(20)]
    mean = sum(values) / len(values)
    assert 0.98 <= mean <= 1.14
    t, w = epps_pulley_quadrature()
    assert mean == pytest.approx((w * (1 - torch.exp(-t.square()))).sum().item(), rel=0.05)


def test_sigreg_on_collapsed_batch_is_040_n() -> None:
    # All rows at the origin: every projection is 0, so mean cos = 1 and mean sin = 0, and the statistic is
    # N Σ_k w_k (1 − φ(t_k))² with w_k including the window φ: N·2∫_0^3 φ(1 − φ)² dt
    # = N·2(√(π/2) erf(3/√2) − 2·(√π/2) erf(3) + √(π/6) erf(3√1.5)) ≈ 0.402·N.
    n = 512
    closed_form = 2 * (
        math.sqrt(math.pi / 2) * math.erf(3 / math.sqrt(2))
        - math.sqrt(math.pi) * math.erf(3)
        + math.sqrt(math.pi / 6) * math.erf(3 * math.sqrt(1.5))
    )
    value = SIGReg()(torch.zeros(n, 64), step=0).item()
    assert value / n == pytest.approx(closed_form, rel=0.02)
    assert value / n == pytest.approx(0.40, rel=0.02)


@pytest.mark.parametrize("point", [0.0, 0.7])
def test_sigreg_gradient_is_finite_at_collapse(point: float) -> None:
    z = torch.full((64, 16), point, requires_grad=True)
    value = SIGReg(num_slices=32)(z, step=0)
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(z.grad).all()


def test_sigreg_seeding() -> None:
    z = _gaussian(128, 16, seed=0)
    assert SIGReg(seed=3)(z, step=5) == SIGReg(seed=3)(z, step=5)
    assert SIGReg(seed=3)(z, step=5) != SIGReg(seed=3)(z, step=6)
    assert SIGReg(seed=3)(z, step=5) == SIGReg(seed=4)(z, step=4)


def test_sigreg_without_step_uses_a_reproducible_call_counter() -> None:
    z = _gaussian(128, 16, seed=0)
    first, second = SIGReg(seed=1), SIGReg(seed=1)
    run_a = [first(z).item() for _ in range(3)]
    run_b = [second(z).item() for _ in range(3)]
    assert run_a == run_b
    assert len(set(run_a)) == 3
    assert run_a[2] == SIGReg(seed=1)(z, step=2).item()


def test_sigreg_spatial_is_mean_over_locations() -> None:
    sigreg = SIGReg(num_slices=16, seed=2)
    z = _gaussian(32, 8, 3, 5, seed=1)  # [N, C, H, W]
    directions = sigreg.directions(8, step=7)
    per_location = [
        sigreg_statistic(z[:, :, i, j], directions, sigreg.knots, sigreg.weights).mean()
        for i in range(3)
        for j in range(5)
    ]
    expected = torch.stack(per_location).mean()
    torch.testing.assert_close(sigreg(z, step=7), expected, rtol=1e-5, atol=1e-6)


def test_sigreg_rejects_bad_shapes_and_settings() -> None:
    with pytest.raises(ValueError, match="got \\(2, 3, 4\\)"):
        SIGReg()(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="knots"):
        SIGReg(knots=1)
    with pytest.raises(ValueError, match="num_slices"):
        SIGReg(num_slices=0)


def _sigreg_value_and_grad(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    z = z.clone().requires_grad_(True)
    value = SIGReg(num_slices=64, seed=0)(z, step=11)
    value.backward()
    return value.detach(), z.grad


def _ddp_worker(rank: int, world_size: int, init_file: str, batches: list[torch.Tensor], out_file: str) -> None:
    torch.set_num_threads(1)  # a forked child must stay off the parent's OpenMP pool
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        results = [_sigreg_value_and_grad(batch.chunk(world_size)[rank]) for batch in batches]
        torch.save(results, f"{out_file}.{rank}")
    finally:
        dist.destroy_process_group()


def test_sigreg_two_processes_equal_one_process_on_the_whole_batch(tmp_path) -> None:
    batches = [_gaussian(64, 16, seed=0) * 1.5 + 0.2, _gaussian(16, 4, 3, 3, seed=1)]  # pooled and spatial
    world_size = 2
    out_file = str(tmp_path / "result")
    # fork, not spawn: spawned children re-import this module and with it transformers (~5 s each on 2 cores), while
    # forked ones start at once; torch's own distributed tests fork the same way.
    args = (world_size, str(tmp_path / "init"), batches, out_file)
    mp.start_processes(_ddp_worker, args=args, nprocs=world_size, start_method="fork")
    per_rank = [torch.load(f"{out_file}.{rank}") for rank in range(world_size)]
    for index, batch in enumerate(batches):
        value, grad = _sigreg_value_and_grad(batch)
        for rank in range(world_size):
            rank_value, rank_grad = per_rank[rank][index]
            torch.testing.assert_close(rank_value, value, rtol=1e-5, atol=1e-5)
            # The backward all-reduce gives each rank world_size × its rows' gradient; DDP's averaging divides it out.
            torch.testing.assert_close(rank_grad / world_size, grad.chunk(world_size)[rank], rtol=1e-5, atol=1e-5)


def test_coding_rate_closed_form_on_diagonal_batch() -> None:
    # Z = diag(s) padded with zero rows: ZᵀZ = diag(s²), so R = Σ_j log(1 + α s_j² / B).
    scales = torch.tensor([0.5, 1.0, 2.0, 3.0], dtype=torch.float64)
    z = torch.cat([torch.diag(scales), torch.zeros(4, 4, dtype=torch.float64)])  # [B=8, D=4]
    alpha = 0.7
    expected = torch.log1p(alpha * scales.square() / 8).sum()
    torch.testing.assert_close(coding_rate(z, alpha=alpha), expected)
    wide = z.T.contiguous()  # [B=4, D=8]: the B×B Gram branch, R = Σ_j log(1 + α s_j² / 4)
    torch.testing.assert_close(coding_rate(wide, alpha=alpha), torch.log1p(alpha * scales.square() / 4).sum())


def test_coding_rate_prefers_spread_codes() -> None:
    isotropic = _gaussian(256, 32, seed=0)
    rank_one = _gaussian(256, 1, seed=1) * _gaussian(1, 32, seed=2)
    rank_one = rank_one * isotropic.norm() / rank_one.norm()  # same total energy
    assert coding_rate(isotropic) > coding_rate(rank_one) + 5


def test_coding_rate_normalize() -> None:
    z = _gaussian(64, 8, seed=0)
    scaled_rows = z * torch.linspace(0.1, 10, 64).unsqueeze(1)
    torch.testing.assert_close(coding_rate(scaled_rows, normalize=True), coding_rate(z, normalize=True))
    unit = torch.nn.functional.normalize(z, dim=1)
    torch.testing.assert_close(coding_rate(z, normalize=True), coding_rate(unit))
    assert not torch.isclose(coding_rate(scaled_rows), coding_rate(z))


def test_coding_rate_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="flatten"):
        coding_rate(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="alpha"):
        coding_rate(torch.zeros(2, 3), alpha=-1)


def test_vicreg_variance() -> None:
    wide = _gaussian(512, 16, seed=0) * 2.0
    assert vicreg_variance(wide, gamma=1.0).item() == 0.0
    collapsed = torch.zeros(512, 16)
    assert vicreg_variance(collapsed, gamma=1.0).item() == pytest.approx(1 - math.sqrt(1e-4))
    assert 0 < vicreg_variance(wide * 0.25, gamma=1.0) < vicreg_variance(collapsed, gamma=1.0)


def test_vicreg_covariance() -> None:
    z = _gaussian(256, 8, seed=0).double()
    centered = z - z.mean(dim=0)
    eigenvalues, eigenvectors = torch.linalg.eigh(centered.T @ centered / 255)
    whitened = centered @ eigenvectors @ torch.diag(eigenvalues.rsqrt()) @ eigenvectors.T
    assert vicreg_covariance(whitened).item() == pytest.approx(0.0, abs=1e-20)
    correlated = z.clone()
    correlated[:, 1] = z[:, 0] + 0.1 * z[:, 1]
    assert vicreg_covariance(correlated) > 0.1
