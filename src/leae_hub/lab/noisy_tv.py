"""The "noisy TV" linear world-model experiment of the seed (VJEPA / BJEPA system identification).

The seed, the JEPA tutorial (https://github.com/CICS-Oleg/JointEmbeddingArchitecturesTutorial: its README's "System
identification experiments" and `tv_noise2.py`), compares generative models (a VAE, an autoregressive
next-observation model) with latent-prediction models (JEPA, VJEPA, BJEPA; Huang 2025, "VJEPA: Variational Joint
Embedding Predictive Architectures as Probabilistic World Models") on

    s_{t+1} = 0.99·R(ω) s_t + w_t,      w_t ~ N(0, 0.1² I₄),   R(ω) two 2×2 rotations, ω = 0.1π   (signal)
    d_{t+1} = 0.9·d_t + v_t,            v_t ~ N(0, 0.3² I₄)                                       (distractor)
    x_t     = C s_t + σ·D d_t + ε_t,    ε_t ~ N(0, 0.01² I₂₀),  C, D ∈ R^{20×4} with unit-norm columns

5,000 training and 300 test steps, σ ∈ [0, 10]. All models are linear without bias, with a 4-d latent, trained full
batch with Adam 1e-3 for 10,000 steps (the seed's `main`). The metric is the test R² of an ordinary-least-squares
readout (with intercept, fitted on the training steps) of s_{t+1} from each model's latent at time t.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..judges import ema_update
from .common import r2_score

OBS_DIM, SIGNAL_DIM, DISTRACTOR_DIM, LATENT_DIM = 20, 4, 4, 4
MODELS: tuple[str, ...] = ("VAE", "AR", "JEPA", "VJEPA", "BJEPA")
# The seed's figure "Noisy-TV Toy Experiment: R² vs sigma" (imgs/photo_R2.jpg of CICS-Oleg/
# JointEmbeddingArchitecturesTutorial): test R² of s_{t+1} per model at σ = 0, 1, …, 10, one run (its seed 111), read
# off the plot to about ±0.01.
SEED_FIGURE_R2: dict[str, tuple[float, ...]] = {
    "VAE": (0.92, 0.57, 0.18, 0.05, 0.00, 0.00, 0.02, 0.02, 0.01, 0.01, 0.01),
    "AR": (0.99, 0.76, 0.32, 0.15, 0.08, 0.05, 0.03, 0.02, 0.02, 0.01, 0.01),
    "JEPA": (0.82, 0.97, 0.96, 0.95, 0.80, 0.67, 0.99, 0.83, 0.72, 0.74, 0.80),
    "VJEPA": (0.85, 0.96, 0.89, 0.88, 0.99, 0.99, 0.98, 0.84, 0.64, 0.72, 0.66),
    "BJEPA": (0.75, 0.77, 0.76, 0.63, 0.71, 0.70, 0.71, 0.70, 0.69, 0.69, 0.67),
}


@dataclass(frozen=True)
class NoisyTVSweep:
    """`training/lab.py noisy-tv`: every (σ, seed) of `sigmas` × `seeds`, each of `models` trained `steps` full-batch
    Adam steps; the series and phase-plane figures at the smallest σ and at `plot_sigma` unless `no_figures`; all
    under `out`."""

    sigmas: tuple[float, ...] = (0.0, 2.0, 4.0, 8.0, 10.0)
    models: tuple[str, ...] = MODELS
    steps: int = 10_000
    plot_sigma: float = 8.0
    seeds: tuple[int, ...] = (0, 1, 2)
    out: str = "docs/lab"
    no_figures: bool = False


# --------------------------------------------------------------------------------------------------------------------
# Environment


def rotation_matrix(dim: int, omega: float) -> Tensor:
    """Block-diagonal R(ω) of dim/2 rotations [[cos ω, −sin ω], [sin ω, cos ω]] (the seed's `make_rotation_matrix`)."""
    if dim % 2:
        raise ValueError(f"the rotation needs an even dimension, got {dim}")
    block = torch.tensor([[math.cos(omega), -math.sin(omega)], [math.sin(omega), math.cos(omega)]])
    return torch.block_diag(*[block] * (dim // 2))


@dataclass(frozen=True)
class NoisyTVConfig:
    """The environment's constants, as in the seed's `main` (a_scale 0.99, w 0.1, ω = 0.1π, 5,000 + 300 steps)."""

    omega: float = 0.1 * math.pi
    a_scale: float = 0.99
    w_std: float = 0.1
    distractor_decay: float = 0.9
    v_std: float = 0.3
    eps_std: float = 0.01
    train_steps: int = 5000
    test_steps: int = 300


@dataclass
class NoisyTV:
    """One rollout: observations x [T, 20], signal s [T, 4], distractor d [T, 4], the signal part C s and the noise
    part σ D d + ε of x (for the environment SNR), and the matrices A = a·R(ω), C, D."""

    x: Tensor
    s: Tensor
    d: Tensor
    x_signal: Tensor
    x_noise: Tensor
    A: Tensor
    C: Tensor
    D: Tensor

    @property
    def snr_db(self) -> float:
        """10 log₁₀ Var(C s) / Var(σ D d + ε) over all entries (the seed's `env_snr_db`)."""
        return float(10 * torch.log10(self.x_signal.var() / self.x_noise.var()))


def rollout(sigma: float, seed: int, config: NoisyTVConfig = NoisyTVConfig()) -> NoisyTV:
    """Simulate T = train_steps + test_steps steps (module docstring). s₀, d₀ ~ N(0, I). For a given seed, C, D and
    every noise draw are the same whatever σ, so the σ sweep changes only the distractor's scale."""
    g = torch.Generator().manual_seed(seed)
    steps = config.train_steps + config.test_steps
    A = config.a_scale * rotation_matrix(SIGNAL_DIM, config.omega)
    C = F.normalize(torch.randn(OBS_DIM, SIGNAL_DIM, generator=g), dim=0)
    D = F.normalize(torch.randn(OBS_DIM, DISTRACTOR_DIM, generator=g), dim=0)
    s = torch.empty(steps, SIGNAL_DIM)
    d = torch.empty(steps, DISTRACTOR_DIM)
    s[0] = torch.randn(SIGNAL_DIM, generator=g)
    d[0] = torch.randn(DISTRACTOR_DIM, generator=g)
    eps = config.eps_std * torch.randn(steps, OBS_DIM, generator=g)
    w = config.w_std * torch.randn(steps, SIGNAL_DIM, generator=g)
    v = config.v_std * torch.randn(steps, DISTRACTOR_DIM, generator=g)
    for t in range(steps - 1):
        s[t + 1] = A @ s[t] + w[t]
        d[t + 1] = config.distractor_decay * d[t] + v[t]
    x_signal = s @ C.T
    x_noise = sigma * d @ D.T + eps
    return NoisyTV(x_signal + x_noise, s, d, x_signal, x_noise, A, C, D)


# --------------------------------------------------------------------------------------------------------------------
# Losses. Every model trains B independent runs at once (one per σ and seed): tensors carry a leading run dimension
# [B, ...], losses are [B], and the optimiser minimises their sum. Adam is elementwise, so each run's parameters see
# only their own run's gradient: the runs are independent trainings that share the Python overhead.


def diag_gaussian_kl(
    mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor | None = None, logvar_p: Tensor | None = None
) -> Tensor:
    """KL(N(μ_q, diag e^{logvar_q}) ‖ N(μ_p, diag e^{logvar_p})), summed over the last dimension and averaged over the
    rows (dimension −2): [B, N, D] → [B].

        ½ Σ_k [logvar_p − logvar_q + (e^{logvar_q} + (μ_q − μ_p)²) / e^{logvar_p} − 1];   p = N(0, I) by default.
    """
    mu_p = torch.zeros_like(mu_q) if mu_p is None else mu_p
    logvar_p = torch.zeros_like(logvar_q) if logvar_p is None else logvar_p
    kl = 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1.0)
    return kl.sum(dim=-1).mean(dim=-1)


def diag_gaussian_nll(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """−log N(z; μ, diag e^{logvar}) = ½ Σ_k [(z − μ)²/e^{logvar} + logvar + log 2π], averaged over rows: → [B]."""
    return (0.5 * ((z - mu) ** 2 / logvar.exp() + logvar + math.log(2 * math.pi))).sum(dim=-1).mean(dim=-1)


def vicreg_loss(z: Tensor, z_target: Tensor, inv: float = 25.0, var: float = 25.0, cov: float = 1.0) -> Tensor:
    """VICReg (Bardes et al. 2022, arXiv:2105.04906, eq. 6), as in the seed's `vicreg_loss`, per run ([B, N, D] → [B]):

    λ·MSE(z, z') + μ·[v(z) + v(z')] + ν·[c(z) + c(z')],
    v(z) = mean_k max(0, 1 − √(Var z_k + 1e-4)),   c(z) = Σ_{k≠l} Cov(z)²_{kl} / D,   λ = μ = 25, ν = 1.
    """

    def variance(a: Tensor) -> Tensor:
        return F.relu(1.0 - torch.sqrt(a.var(dim=-2) + 1e-4)).mean(dim=-1)

    def covariance(a: Tensor) -> Tensor:
        a = a - a.mean(dim=-2, keepdim=True)
        c = a.mT @ a / (a.shape[-2] - 1)
        return (c - torch.diag_embed(c.diagonal(dim1=-2, dim2=-1))).pow(2).sum(dim=(-2, -1)) / a.shape[-1]

    return (
        inv * (z - z_target).pow(2).mean(dim=(-2, -1))
        + var * (variance(z) + variance(z_target))
        + cov * (covariance(z) + covariance(z_target))
    )


def randn(generators: list[torch.Generator], *shape: int) -> Tensor:
    """Standard normal draws [B, *shape], run b drawing from generators[b] (so a run's noise does not depend on which
    other runs share the batch)."""
    return torch.stack([torch.randn(shape, generator=g) for g in generators])


# --------------------------------------------------------------------------------------------------------------------
# Models: `loss(x, g)` on the training sequences x [B, T, 20] → [B]; `features(x_t)` the latent the readout sees.


class RunLinear(nn.Module):
    """B independent bias-free linear maps y_b = W_b x_b, W_b [d_out, d_in], initialised like `nn.Linear`
    (U(−1/√d_in, 1/√d_in)) from each run's generator. x [B, N, d_in] → [B, N, d_out]."""

    def __init__(self, generators: list[torch.Generator], d_in: int, d_out: int) -> None:
        super().__init__()
        bound = 1 / math.sqrt(d_in)
        weights = [(torch.rand(d_out, d_in, generator=g) * 2 - 1) * bound for g in generators]
        self.weight = nn.Parameter(torch.stack(weights))

    def forward(self, x: Tensor) -> Tensor:
        return x @ self.weight.mT


def _target_copy(online: RunLinear) -> RunLinear:
    target = copy.deepcopy(online)
    return target.requires_grad_(False)


class LinearVAE(nn.Module):
    """Linear VAE (Kingma & Welling 2014): q(z|x) = N(W_μ x, diag e^{W_v x}), x̂ = W_d z,
    L = MSE(x̂, x) + KL(q(z|x) ‖ N(0, I)) on every x_t (β = 1). Features: μ(x_t)."""

    def __init__(self, generators: list[torch.Generator]) -> None:
        super().__init__()
        self.mu = RunLinear(generators, OBS_DIM, LATENT_DIM)
        self.logvar = RunLinear(generators, OBS_DIM, LATENT_DIM)
        self.dec = RunLinear(generators, LATENT_DIM, OBS_DIM)

    def loss(self, x: Tensor, generators: list[torch.Generator]) -> Tensor:
        mu, logvar = self.mu(x), self.logvar(x).clamp(-20, 20)
        z = mu + randn(generators, *mu.shape[1:]) * torch.exp(0.5 * logvar)
        return (self.dec(z) - x).pow(2).mean(dim=(-2, -1)) + diag_gaussian_kl(mu, logvar)

    def features(self, x_t: Tensor) -> Tensor:
        return self.mu(x_t)


class LinearAR(nn.Module):
    """Autoregressive next-observation model through a 4-d bottleneck: x̂_{t+1} = W_d W_e x_t, L = MSE(x̂_{t+1},
    x_{t+1}). Features: z_t = W_e x_t."""

    def __init__(self, generators: list[torch.Generator]) -> None:
        super().__init__()
        self.enc = RunLinear(generators, OBS_DIM, LATENT_DIM)
        self.dec = RunLinear(generators, LATENT_DIM, OBS_DIM)

    def loss(self, x: Tensor, generators: list[torch.Generator]) -> Tensor:
        return (self.dec(self.enc(x[:, :-1])) - x[:, 1:]).pow(2).mean(dim=(-2, -1))

    def features(self, x_t: Tensor) -> Tensor:
        return self.enc(x_t)


class LinearJEPA(nn.Module):
    """Linear JEPA: ẑ_{t+1} = P E x_t against the EMA target z'_{t+1} = E' x_{t+1} (τ = 0.99, no gradient),
    L = `vicreg_loss`(ẑ_{t+1}, z'_{t+1}). Features: the prediction ẑ_{t+1}."""

    def __init__(self, generators: list[torch.Generator]) -> None:
        super().__init__()
        self.enc = RunLinear(generators, OBS_DIM, LATENT_DIM)
        self.pred = RunLinear(generators, LATENT_DIM, LATENT_DIM)
        self.tgt = _target_copy(self.enc)

    def loss(self, x: Tensor, generators: list[torch.Generator]) -> Tensor:
        return vicreg_loss(self.pred(self.enc(x[:, :-1])), self.tgt(x[:, 1:]))

    def features(self, x_t: Tensor) -> Tensor:
        return self.pred(self.enc(x_t))


class LinearVJEPA(nn.Module):
    """Linear VJEPA: a Gaussian predictive distribution p(z_{t+1} | x_t) = N(M E x_t, diag e^{V E x_t}) over the target
    latent q(z_{t+1} | x_{t+1}) = N(E' x_{t+1}, I), with E' the EMA of E (τ = 0.99):

        L = −log p(z̃ | x_t) + β KL(q ‖ N(0, I)),   z̃ ~ q,   β = 0.01.

    As in the seed, the target's log-variance head starts at zero and never receives a gradient or an EMA update, so
    q has unit variance; and the KL term, computed on the stop-gradient target, is a constant that trains nothing.
    Features: the predictive mean M E x_t.
    """

    beta = 0.01

    def __init__(self, generators: list[torch.Generator]) -> None:
        super().__init__()
        self.enc = RunLinear(generators, OBS_DIM, LATENT_DIM)
        self.mu_pred = RunLinear(generators, LATENT_DIM, LATENT_DIM)
        self.logvar_pred = RunLinear(generators, LATENT_DIM, LATENT_DIM)
        self.tgt = _target_copy(self.enc)

    def predict(self, x_t: Tensor) -> tuple[Tensor, Tensor]:
        z = self.enc(x_t)
        return self.mu_pred(z), self.logvar_pred(z).clamp(-20, 20)

    def loss(self, x: Tensor, generators: list[torch.Generator]) -> Tensor:
        mu_p, logvar_p = self.predict(x[:, :-1])
        mu_q = self.tgt(x[:, 1:])
        logvar_q = torch.zeros_like(mu_q)
        z = mu_q + randn(generators, *mu_q.shape[1:])
        return diag_gaussian_nll(z, mu_p, logvar_p) + self.beta * diag_gaussian_kl(mu_q, logvar_q)

    def features(self, x_t: Tensor) -> Tensor:
        return self.predict(x_t)[0]


class LinearBJEPA(LinearVJEPA):
    """Linear BJEPA: the VJEPA dynamics expert N(μ_dyn, σ²_dyn) times a learned prior expert N(μ₀, σ₀²),

        L = L_VJEPA + γ KL(N(μ₀, σ₀²) ‖ N(0, I)),   γ = 0.1,

    read out through the product of the two Gaussians, whose mean is (σ₀² μ_dyn + σ²_dyn μ₀) / (σ²_dyn + σ₀²).
    Features: that fused mean.
    """

    gamma = 0.1

    def __init__(self, generators: list[torch.Generator]) -> None:
        super().__init__(generators)
        self.mu_prior = nn.Parameter(torch.zeros(len(generators), 1, LATENT_DIM))
        self.logvar_prior = nn.Parameter(torch.zeros(len(generators), 1, LATENT_DIM))

    def loss(self, x: Tensor, generators: list[torch.Generator]) -> Tensor:
        prior_kl = diag_gaussian_kl(self.mu_prior, self.logvar_prior)
        return super().loss(x, generators) + self.gamma * prior_kl

    def features(self, x_t: Tensor) -> Tensor:
        mu_dyn, logvar_dyn = self.predict(x_t)
        var_dyn, var_prior = logvar_dyn.exp(), self.logvar_prior.exp()
        return (var_prior * mu_dyn + var_dyn * self.mu_prior) / (var_dyn + var_prior)


MODEL_CLASSES: dict[str, type[nn.Module]] = {
    "VAE": LinearVAE,
    "AR": LinearAR,
    "JEPA": LinearJEPA,
    "VJEPA": LinearVJEPA,
    "BJEPA": LinearBJEPA,
}


# --------------------------------------------------------------------------------------------------------------------
# Training and readout


def train_model(
    name: str, x_train: Tensor, seeds: list[int], steps: int = 10_000, lr: float = 1e-3, tau: float = 0.99
) -> tuple[nn.Module, Tensor]:
    """Full-batch Adam on each run's training sequence (x_train [B, T, 20], run b seeded by seeds[b]: initialisation
    from seed, noise from seed + 1); EMA update after every step for the models with a target. Returns the model and
    the losses [steps, B]."""
    model = MODEL_CLASSES[name]([torch.Generator().manual_seed(s) for s in seeds])
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    generators = [torch.Generator().manual_seed(s + 1) for s in seeds]
    losses = torch.empty(steps, len(seeds))
    for step in range(steps):
        loss = model.loss(x_train, generators)
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimizer.step()
        if hasattr(model, "tgt"):  # the JEPAs' EMA target E' of the encoder E
            ema_update(model.tgt, model.enc, tau, weighted_sum=True)
        losses[step] = loss.detach()
    return model, losses


def _r2(target: Tensor, predicted: Tensor) -> float:
    """R² pooled over the state's dimensions (the seed's `r2_score`)."""
    return float(r2_score(target, predicted, pooled=True))


def ols_fit_predict(features_train: Tensor, y_train: Tensor, features_test: Tensor) -> Tensor:
    """Least-squares linear readout with intercept, fitted on train, applied to test."""

    def augment(a: Tensor) -> Tensor:
        return torch.cat([a.double(), torch.ones(a.shape[0], 1, dtype=torch.float64)], dim=1)

    weights = torch.linalg.lstsq(augment(features_train), y_train.double(), driver="gelsd").solution
    return augment(features_test) @ weights


@dataclass
class SigmaResult:
    """R² of every model at one σ and seed, and the readout's test predictions of s_{t+1} (for the figures)."""

    sigma: float
    seed: int
    snr_db: float
    r2: dict[str, float] = field(default_factory=dict)  # readout of s_{t+1} from the latent at t
    r2_current: dict[str, float] = field(default_factory=dict)  # readout of s_t from the same latent
    oracle: dict[str, float] = field(default_factory=dict)  # readouts from the true s_t and from the raw x_t
    final_loss: dict[str, float] = field(default_factory=dict)
    s_next_test: Tensor = field(default_factory=lambda: torch.empty(0))  # [299, 4]
    predictions: dict[str, Tensor] = field(default_factory=dict)  # name -> [299, 4]


def sweep_steps(
    sigmas: list[float],
    seeds: list[int],
    steps: int = 10_000,
    models: tuple[str, ...] = MODELS,
    config: NoisyTVConfig = NoisyTVConfig(),
) -> Iterator[tuple[str, list[SigmaResult], dict[str, float]]]:
    """Every (σ, seed): roll out the environment, train each model on the first 5,000 steps, read out s_{t+1} on the
    last 300. All runs of one model train together (see the Losses note). Yields, after each model, its name, the
    results (the same objects, filled in model by model) and the training seconds per model so far (all runs
    together). The Space's Lab tab shows each model's R² as it arrives."""
    runs = [(sigma, seed) for sigma in sigmas for seed in seeds]
    envs = [rollout(sigma, seed, config) for sigma, seed in runs]
    n = config.train_steps
    x = torch.stack([env.x for env in envs])  # [B, T, 20]
    results = []
    for (sigma, seed), env in zip(runs, envs, strict=True):
        s_train, s_test = env.s[:n], env.s[n:]
        result = SigmaResult(sigma, seed, env.snr_db, s_next_test=s_test[1:])
        result.oracle["true_state"] = _r2(s_test[1:], ols_fit_predict(s_train[:-1], s_train[1:], s_test[:-1]))
        result.oracle["raw_x"] = _r2(s_test[1:], ols_fit_predict(env.x[: n - 1], s_train[1:], env.x[n:-1]))
        results.append(result)
    seconds: dict[str, float] = {}
    for name in models:
        start = time.perf_counter()
        model, losses = train_model(name, x[:, :n], [seed for _, seed in runs], steps)
        seconds[name] = time.perf_counter() - start
        with torch.no_grad():
            f_train, f_test = model.features(x[:, : n - 1]), model.features(x[:, n:-1])
        for b, (result, env) in enumerate(zip(results, envs, strict=True)):
            s_train, s_test = env.s[:n], env.s[n:]
            prediction = ols_fit_predict(f_train[b], s_train[1:], f_test[b])
            result.predictions[name] = prediction.float()
            result.r2[name] = _r2(s_test[1:], prediction)
            result.r2_current[name] = _r2(s_test[:-1], ols_fit_predict(f_train[b], s_train[:-1], f_test[b]))
            result.final_loss[name] = float(losses[-100:, b].mean())
        yield name, results, seconds


def run_sweep(
    sigmas: list[float],
    seeds: list[int],
    steps: int = 10_000,
    models: tuple[str, ...] = MODELS,
    config: NoisyTVConfig = NoisyTVConfig(),
) -> tuple[list[SigmaResult], dict[str, float]]:
    """`sweep_steps` to the end: the results of every (σ, seed) and model, and the training seconds per model."""
    *_, (_, results, seconds) = sweep_steps(sigmas, seeds, steps, models, config)
    return results, seconds
