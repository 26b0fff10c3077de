"""Latent regularisers that keep codes from collapsing: SIGReg, the coding rate, and the VICReg terms.

Everything here is a pure function of tensors (or a small `nn.Module` holding constants), so the recipes can combine
them freely. Shapes: `z` is [N, D] (N samples of D values) unless a docstring says otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable


def epps_pulley_quadrature(knots: int = 17, t_max: float = 3.0) -> tuple[Tensor, Tensor]:
    r"""Knots and integration weights of the Epps–Pulley statistic, as in LeJEPA (arXiv:2511.08544).

    The knots are `t_k = linspace(0, t_max, knots)`. With `dt = t_max / (knots - 1)`, the quadrature weights are
    `dt` at both ends and `2·dt` inside: twice the trapezoid rule on [0, t_max], which integrates over
    [-t_max, t_max] because the integrand is even in t. Each weight is multiplied by the Gaussian window
    `exp(-t_k² / 2)`, so that `Σ_k w_k f(t_k) ≈ ∫_{-t_max}^{t_max} f(t) exp(-t²/2) dt`.

    Returns:
        `(t, weights)`, two float32 tensors of shape [knots].
    """
    if knots < 2:
        raise ValueError(f"knots must be at least 2 (both ends of [0, t_max]), got {knots}")
    if t_max <= 0:
        raise ValueError(f"t_max must be positive, got {t_max}; the upstream value is 3.0")
    t = torch.linspace(0.0, t_max, knots, dtype=torch.float32)
    dt = t_max / (knots - 1)
    trapezoid = torch.full((knots,), 2 * dt, dtype=torch.float32)
    trapezoid[[0, -1]] = dt
    return t, trapezoid * torch.exp(-t.square() / 2)


def random_unit_directions(dim: int, num_slices: int, generator: torch.Generator) -> Tensor:
    """Draw `num_slices` directions uniformly on the unit sphere of R^dim, as the columns of a [dim, num_slices] matrix.

    The draw happens on the generator's device (a CPU generator gives CPU directions).
    """
    directions = torch.randn(dim, num_slices, generator=generator, device=generator.device)
    return directions / directions.norm(dim=0, keepdim=True)


class _AllReduceSum(torch.autograd.Function):
    """Sum a tensor over all processes; the backward pass sums the incoming gradients over all processes too.

    With every rank computing the same loss from the reduced tensor, each rank's inputs receive `world_size` times
    their single-process gradient, which DDP's gradient averaging divides back out: the parameter gradient equals
    the one of a single process holding the whole batch. This is what `torch.distributed.nn.functional.all_reduce`
    does; that function warns of its deprecation in recent torch (2.14), and its suggested replacement in
    `torch.distributed._functional_collectives` is private and has no autograd in older releases.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, tensor: Tensor) -> Tensor:
        tensor = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_output: Tensor) -> Tensor:
        return _AllReduceSum.apply(grad_output)


def _world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


# Values of cos (and as many of sin) per block of projections in `_CharacteristicSums` on a CPU: small enough for the
# block's few buffers to stay in a core's L2 cache while every knot passes over them (docs/performance.md). Other
# devices take the projections in one block: there, each block's kernel launches cost more than its memory traffic.
_BLOCK_VALUES = 1 << 16


def _blocks(u: Tensor) -> Iterator[tuple[slice, slice]]:
    """(location, sample) slices cutting [L, N, S] projections into blocks of about `_BLOCK_VALUES` values on a CPU:
    whole sample axes of several locations, or part of one location's samples when a whole axis is larger."""
    locations, samples, slices = u.shape
    budget = _BLOCK_VALUES if u.device.type == "cpu" else u.numel()
    per_samples = max(1, min(samples, budget // slices))
    per_locations = max(1, budget // (samples * slices)) if per_samples == samples else 1
    for row in range(0, locations, per_locations):
        for col in range(0, samples, per_samples):
            yield slice(row, row + per_locations), slice(col, col + per_samples)


def _waves(u: Tensor, knots: list[float], workspace: Tensor) -> Iterator[tuple[float, Tensor]]:
    r"""Yield `(sign, wave)` for each knot in turn, with `sign · wave = [cos(t_k u), sin(t_k u)]` stacked on a new first
    axis. The waves live in `workspace` ([5, *u.shape] or larger, reused from block to block) and are updated in
    place: use each wave before asking for the next.

    For equally spaced knots t_k = t_0 + kΔ (the quadrature's), both sequences obey the Chebyshev recurrence
    f_{k+1} = 2 cos(Δu) f_k − f_{k−1}, one multiply-add per value and knot instead of a cos and a sin. It runs in
    place as A ← A − 2 σ_A σ_B cos(Δu) B, where A = σ_A f_{k−1} and B = σ_B f_k, which leaves −σ_A f_{k+1} in A.
    """
    workspace = _fit(workspace, u.shape)
    buffers, cos_step = (workspace[0:2], workspace[2:4]), workspace[4]

    def wave(t: float, out: Tensor) -> Tensor:
        if t == 0.0:  # the quadrature's first knot: cos 0 = 1, sin 0 = 0
            out[0].fill_(1.0)
            out[1].zero_()
        else:
            torch.mul(u, t, out=cos_step)
            torch.sin(cos_step, out=out[1])
            torch.cos(cos_step, out=out[0])
        return out

    step = knots[1] - knots[0] if len(knots) > 1 else 0.0
    if any(abs(t - (knots[0] + k * step)) > 1e-6 * max(1.0, abs(t)) for k, t in enumerate(knots)):
        for t in knots:
            yield 1.0, wave(t, buffers[0])
        return
    previous, sign_previous = wave(knots[0], buffers[0]), 1.0
    yield sign_previous, previous
    if len(knots) == 1:
        return
    current, sign_current = wave(knots[1], buffers[1]), 1.0
    if knots[0] == 0.0:
        cos_step.copy_(current[0])
    else:
        torch.cos(torch.mul(u, step, out=cos_step), out=cos_step)
    yield sign_current, current
    for _ in knots[2:]:
        previous.addcmul_(cos_step, current, value=-2.0 * sign_previous * sign_current)
        previous, current, sign_previous, sign_current = current, previous, sign_current, -sign_previous
        yield sign_current, current


def _fit(space: Tensor, shape: torch.Size) -> Tensor:
    """The leading corner of each of `space`'s items with this shape (the room for a smaller, last block)."""
    return space[(slice(None), *(slice(0, size) for size in shape))]


def _workspace(flat: Tensor) -> Tensor:
    """Room for `_waves` on the largest block of [L, N, S] projections."""
    rows, cols = next(_blocks(flat))
    return flat.new_empty(5, *flat[rows, cols].shape)


class _CharacteristicSums(torch.autograd.Function):
    r"""(Σ_n cos(t_k u_ns), Σ_n sin(t_k u_ns)) for projections `u` [..., N, S] and knots `t` [K]: two [..., K, S].

    The same sums as `(t[:, None, None] * u[..., None, :, :]).cos().sum(-2)` and `.sin()`, without the
    [..., K, N, S] tensor (built, kept for the backward pass and re-read there: the largest memory and time cost of
    SIGReg on spatial latents): one knot at a time, with `_waves`, over blocks of u small enough to stay in cache
    (`_blocks`; the sums over samples add up across blocks). The backward pass recomputes the waves and sums the
    derivatives ∂/∂u cos(tu) = −t sin(tu), ∂/∂u sin(tu) = t cos(tu) over the knots.
    """

    @staticmethod
    def forward(ctx, u: Tensor, knots: Tensor) -> tuple[Tensor, Tensor]:
        ctx.save_for_backward(u, knots)
        t = knots.tolist()
        flat = u.reshape(-1, *u.shape[-2:])  # [L, N, S]
        sums = flat.new_empty(2, flat.shape[0], len(t), flat.shape[-1])  # [2, L, K, S]
        workspace = _workspace(flat)
        for rows, cols in _blocks(flat):
            for k, (sign, wave) in enumerate(_waves(flat[rows, cols], t, workspace)):
                if cols.start == 0:
                    torch.sum(wave, dim=-2, out=sums[:, rows, k]).mul_(sign)
                else:
                    sums[:, rows, k].add_(wave.sum(dim=-2), alpha=sign)
        sums = sums.view(2, *u.shape[:-2], len(t), u.shape[-1])
        return sums[0], sums[1]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_cos: Tensor | None, grad_sin: Tensor | None) -> tuple[Tensor, None]:
        u, knots = ctx.saved_tensors
        grad_cos = torch.zeros_like(grad_sin) if grad_cos is None else grad_cos
        grad_sin = torch.zeros_like(grad_cos) if grad_sin is None else grad_sin
        flat = u.reshape(-1, *u.shape[-2:])  # [L, N, S]
        # Σ_k t_k (g_sin,k cos(t_k u) − g_cos,k sin(t_k u)): the two sums apart, then their difference.
        t = knots.tolist()
        weights = torch.stack([grad_sin, grad_cos]).view(2, flat.shape[0], len(t), 1, flat.shape[-1])
        grad, workspace = torch.empty_like(flat), _workspace(flat)
        total_space = flat.new_empty(workspace[:2].shape)
        for rows, cols in _blocks(flat):
            total = None
            for k, (sign, wave) in enumerate(_waves(flat[rows, cols], t, workspace)):
                weight = weights[:, rows, k]  # [2, l, 1, S]
                if total is None:
                    total = torch.mul(wave, weight, out=_fit(total_space, wave.shape[1:])).mul_(sign * t[k])
                else:
                    total.addcmul_(wave, weight, value=sign * t[k])
            torch.sub(total[0], total[1], out=grad[rows, cols])
        return grad.view_as(u), None


def sigreg_statistic(z: Tensor, directions: Tensor, knots: Tensor, weights: Tensor, distributed: bool = True) -> Tensor:
    r"""Epps–Pulley statistic of each one-dimensional projection of `z` (LeJEPA, Balestriero & LeCun 2025).

    For samples `z` ∈ R^{N×D} and unit directions `A` ∈ R^{D×S}, the projections are `u = z A` and, per slice s,

        stat_s = N · Σ_k w_k [ (mean_n cos(t_k u_ns) − φ(t_k))² + (mean_n sin(t_k u_ns))² ],   φ(t) = exp(−t²/2),

    the weighted squared distance between the empirical characteristic function of the slice and the one of N(0, 1).
    `weights` are the full integration weights, window included (see `epps_pulley_quadrature`). For N(0, I) samples
    the expectation is exactly `Σ_k w_k (1 − exp(−t_k²))` ≈ 1.05 for any N (17 knots on [0, 3]); for all samples at the
    origin it is `N Σ_k w_k (1 − φ(t_k))²` ≈ 0.40·N (a batch collapsed to another point scores higher).

    Exact under data parallelism: when `distributed` and `torch.distributed` is initialised with more than one
    process, the sums of
    cos and sin over samples and the sample count are summed over all processes before the means are taken, so every
    rank returns the statistic of the global batch (directions must be identical on all ranks). See `_AllReduceSum`
    for the gradient convention.

    Args:
        z: samples, [..., N, D]; leading dimensions are independent sample sets sharing the directions.
        directions: [D, S] unit columns.
        knots: the t_k, [K].
        weights: the w_k, [K].
        distributed: combine the samples of all processes (every rank must call it); False tests local samples only.

    Returns:
        The statistic of every slice, [..., S].
    """
    cos_sum, sin_sum = _CharacteristicSums.apply(z @ directions, knots)  # [..., K, S] from u = zA [..., N, S]
    count = z.new_tensor([z.shape[-2]])
    if distributed and _world_size() > 1:
        packed = _AllReduceSum.apply(torch.cat([cos_sum.flatten(), sin_sum.flatten(), count]))
        cos_sum, sin_sum = packed[:-1].view(2, *cos_sum.shape)
        count = packed[-1:]
    window = torch.exp(-knots.square() / 2)
    error = (cos_sum / count - window[:, None]).square() + (sin_sum / count).square()  # [..., K, S]
    return count * (weights[:, None] * error).sum(dim=-2)


class SIGReg(nn.Module):
    r"""Sketched Isotropic Gaussian Regulariser (LeJEPA, Balestriero & LeCun 2025, arXiv:2511.08544).

    Pushes the distribution of latents towards N(0, I) by testing random one-dimensional projections of the batch
    with the Epps–Pulley statistic (`sigreg_statistic`) and returning the mean over `num_slices` slices:

        SIGReg(z) = (1/S) Σ_s N Σ_k w_k [ (mean_n cos(t_k u_ns) − φ(t_k))² + (mean_n sin(t_k u_ns))² ],   u = z A.

    Weighting: `w_k` is the trapezoid weight times the Gaussian window φ(t_k) = exp(−t_k²/2), as in the upstream
    code. That is the convention that reproduces the reference values (≈ 1.05 on N(0, I) samples, ≈ 0.40·N for a
    batch collapsed to the origin); without the window the same formula gives ≈ 4.2 and ≈ 2.8·N.

    Directions: re-drawn on every call on CPU from a generator seeded with `seed + step`, then moved to `z`'s device.
    The same seed and step give the same directions on every rank and every run. Without `step`, the number of
    earlier calls without `step` is used, so repeated calls differ; pass the optimisation step to keep the
    directions reproducible across resumed runs.

    Input: pooled latents [N, D], or spatial latents [N, C, H, W], in which case each of the H·W locations is its own
    set of N samples in C dimensions (the same directions for all locations) and the statistic is averaged over
    locations. The statistic is computed in at least float32, with autocast disabled. Memory: the projections, H·W·N·S
    values (the sums over samples are taken one knot at a time, see `_CharacteristicSums`).

    Args:
        num_slices: number of random directions S (upstream: 256).
        knots: number of quadrature knots on [0, t_max] (upstream: 17).
        t_max: end of the integration interval (upstream: 3.0).
        seed: base seed of the directions.
        distributed: under DDP, test the global batch (every rank must call it). False tests the local samples
            only, e.g. for an evaluation that runs on the main process alone.
    """

    def __init__(
        self, num_slices: int = 256, knots: int = 17, t_max: float = 3.0, seed: int = 0, distributed: bool = True
    ) -> None:
        super().__init__()
        if num_slices < 1:
            raise ValueError(f"num_slices must be at least 1, got {num_slices}; the upstream value is 256")
        self.num_slices = num_slices
        self.seed = seed
        self.distributed = distributed
        self.calls = 0
        t, weights = epps_pulley_quadrature(knots, t_max)
        self.register_buffer("knots", t, persistent=False)
        self.register_buffer("weights", weights, persistent=False)

    def directions(self, dim: int, step: int) -> Tensor:
        """The [dim, num_slices] unit directions used at `step` (on CPU, float32)."""
        generator = torch.Generator().manual_seed(self.seed + step)
        return random_unit_directions(dim, self.num_slices, generator)

    def forward(self, z: Tensor, step: int | None = None) -> Tensor:
        """The mean over slices (and over locations for spatial latents) of the statistic: a scalar tensor."""
        if z.ndim == 4:
            n, c, h, w = z.shape
            z = z.permute(2, 3, 0, 1).reshape(h * w, n, c)  # [HW, N, C]
        elif z.ndim != 2:
            raise ValueError(f"SIGReg expects latents of shape [N, D] or [N, C, H, W], got {tuple(z.shape)}")
        if step is None:
            step = self.calls
            self.calls += 1
        dtype = torch.promote_types(z.dtype, torch.float32)
        with torch.autocast(z.device.type, enabled=False):
            z = z.to(dtype)
            directions = self.directions(z.shape[-1], step).to(z.device, dtype)
            knots = self.knots.to(z.device, dtype)
            weights = self.weights.to(z.device, dtype)
            return sigreg_statistic(z, directions, knots, weights, self.distributed).mean()

    def extra_repr(self) -> str:
        t_max = self.knots[-1].item()
        return f"num_slices={self.num_slices}, knots={self.knots.numel()}, t_max={t_max}, seed={self.seed}"


def coding_rate(
    z: Tensor, alpha: float = 1.0, normalize: bool = False, center: bool = False, eps: float = 0.0
) -> Tensor:
    r"""Coding rate R(Z) = log det((1 + ε) I + α Z̃ᵀZ̃ / B) of a batch Z ∈ R^{B×D}.

    The rate-distortion estimate of the number of nats needed to code the batch up to a distortion set by α
    (Ma et al. 2007, "Segmentation of multivariate mixed data via lossy data coding and compression"; MCR²,
    Yu et al. 2020, arXiv:2006.08558, where α = D/ε²; SimDINO, Wu et al. 2025, arXiv:2502.10385). Maximising it
    spreads the codes over many directions. Z̃ is Z with each row L2-normalised (`normalize`), then the batch mean
    subtracted (`center`); with `center` and ε = 1e-4 at α = 1 this is the seed author's loss (kaikun213/seq-jepa,
    experiments/losses/coding_rate.py: log det(I + α C + ε I), C the covariance of the centred batch). Computed
    through a Cholesky factor, on the smaller of the D×D and B×B Gram matrices (Sylvester:
    det((1 + ε) I_D + c ZᵀZ) = (1 + ε)^D det(I_B + c/(1 + ε) ZZᵀ)).

    Not exact under data parallelism: each process computes the rate of its own batch. To get the rate of the global
    batch, gather Z over processes first (e.g. `torch.distributed.nn.functional.all_gather`).

    Args:
        z: [B, D] codes.
        alpha: distortion scale α ≥ 0.
        normalize: L2-normalise each row of Z first.
        center: subtract the batch mean (after `normalize`), so that ZᵀZ / B is the covariance.
        eps: ε ≥ 0 added to the identity.
    """
    if z.ndim != 2:
        raise ValueError(f"coding_rate expects a [B, D] batch, got shape {tuple(z.shape)}; flatten the codes first")
    if alpha < 0:
        raise ValueError(f"alpha must be non-negative, got {alpha}")
    if eps < 0:
        raise ValueError(f"eps must be non-negative, got {eps}; the seed author's value is 1e-4")
    z = z.to(torch.promote_types(z.dtype, torch.float32))
    if normalize:
        z = F.normalize(z, dim=1)
    if center:
        z = z - z.mean(dim=0, keepdim=True)
    batch, dim = z.shape
    gram = z.T @ z if dim <= batch else z @ z.T
    eye = torch.eye(gram.shape[0], dtype=z.dtype, device=z.device)
    cholesky = torch.linalg.cholesky(eye + (alpha / (batch * (1 + eps))) * gram)
    rate = 2 * cholesky.diagonal().log().sum()
    return rate + dim * math.log1p(eps) if eps else rate


def vicreg_variance(z: Tensor, gamma: float = 1.0, eps: float = 1e-4) -> Tensor:
    r"""VICReg variance term (Bardes et al. 2022, arXiv:2105.04906, eq. 1).

        v(Z) = (1/D) Σ_j max(0, γ − sqrt(Var(z_j) + ε))

    `Var` is the unbiased variance of each dimension over the batch; the hinge only pushes standard deviations up
    to γ.
    """
    if z.ndim != 2 or z.shape[0] < 2:
        raise ValueError(f"vicreg_variance expects a [N, D] batch with N >= 2, got shape {tuple(z.shape)}")
    std = torch.sqrt(z.var(dim=0) + eps)
    return F.relu(gamma - std).mean()


def vicreg_covariance(z: Tensor) -> Tensor:
    r"""VICReg covariance term (Bardes et al. 2022, arXiv:2105.04906, eq. 3).

        c(Z) = (1/D) Σ_{i≠j} C(Z)_ij²

    `C(Z) = (Z − mean)ᵀ (Z − mean) / (N − 1)` is the covariance matrix of the batch; the term decorrelates the
    dimensions without constraining their variances.
    """
    if z.ndim != 2 or z.shape[0] < 2:
        raise ValueError(f"vicreg_covariance expects a [N, D] batch with N >= 2, got shape {tuple(z.shape)}")
    n, dim = z.shape
    centered = z - z.mean(dim=0)
    cov = centered.T @ centered / (n - 1)
    return (cov.square().sum() - cov.diagonal().square().sum()) / dim
