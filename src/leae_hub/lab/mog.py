"""Self-supervised objectives on the seed's 2-D mixture of three Gaussians.

The seed, the JEPA tutorial (https://github.com/CICS-Oleg/JointEmbeddingArchitecturesTutorial: its README "Recap:
Self-Supervised Learning on 2D Mixture of Gaussians" and the scripts contrastive.py, jepa.py, jepa_ema.py and
jepa_predict.py), trains small MLPs on 5,000 points of the mixture

    p(x) = 0.4·N((0, 0), [[1, .8], [.8, 1]]) + 0.35·N((5, 5), [[1, −.6], [−.6, 1]]) + 0.25·N((−5, 5), 0.5·I)

with batches of 128 and Adam 1e-3, and looks at their energy landscapes. This module holds the mixture (sampling,
exact log-density and exact score, also of the mixture smoothed by N(0, σ²I)), one `nn.Module` per objective, the
training loop, and the measurements the seed lacks (collapse, k-NN, score error, sample distance).

Sign convention for the energy-type models. Each exposes an energy U(x), low on the data, and a score
s(x) = −∇ₓU(x), the model's estimate of ∇ₓ log p. For the contrastive energy model U = E, the network output. For
denoising score matching the network output f is trained so that +∇ₓf is the score (f ≈ log p_σ + c, the brief's
"∇E"), so U = −f there. Every landscape figure plots U (or −cos similarity for the joint-embedding methods), so the
wells are on the data in every panel.
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

from ..evaluation import feature_std, knn_accuracy, rankme
from ..judges import ema_update

WEIGHTS: tuple[float, ...] = (0.4, 0.35, 0.25)
MEANS: tuple[tuple[float, float], ...] = ((0.0, 0.0), (5.0, 5.0), (-5.0, 5.0))
COVARIANCES: tuple[tuple[tuple[float, float], tuple[float, float]], ...] = (
    ((1.0, 0.8), (0.8, 1.0)),
    ((1.0, -0.6), (-0.6, 1.0)),
    ((0.5, 0.0), (0.0, 0.5)),
)
NUM_POINTS = 5000
BATCH_SIZE = 128
LEARNING_RATE = 1e-3
GRID_X: tuple[float, float] = (-10.0, 10.0)
GRID_Y: tuple[float, float] = (-5.0, 15.0)
GRID_SIZE = 200

# Optimiser steps per method: the seed's own counts where its code has the method (contrastive.py and jepa.py: 1,000;
# jepa_ema.py and jepa_predict.py: 5,000); DSM and InfoNCE have no code in the seed and get 5,000 and 1,000.
STEPS: dict[str, int] = {
    "energy": 1000,
    "infonce": 1000,
    "dsm": 5000,
    "jepa": 1000,
    "jepa-pairwise": 5000,
    "jepa-masked": 5000,
    "jepa-ema": 5000,
    "seed-masked-pairwise": 5000,
    "seed-barlow-twins": 5000,
}
METHODS: tuple[str, ...] = tuple(STEPS)
# The like-for-like set (4-d embeddings, two hidden layers, perturbations 0.1ξ): the default sweep and the main table.
LIKE_FOR_LIKE: tuple[str, ...] = METHODS[:7]
# What the seed's two EMA scripts compute as they run (64-d embeddings, their own losses and noise): extra rows.
SEED_EXACT: tuple[str, ...] = METHODS[7:]


@dataclass(frozen=True)
class MogSweep:
    """`training/lab.py mog`: each of `methods` trained at each of `seeds` for `steps` optimiser steps (None: the
    method's own, `STEPS`) and measured (`evaluate`); the figures of the first seed unless `no_figures`; all under
    `out`."""

    methods: tuple[str, ...] = LIKE_FOR_LIKE
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int | None = None
    out: str = "docs/lab"
    no_figures: bool = False


# --------------------------------------------------------------------------------------------------------------------
# The mixture


@dataclass(frozen=True)
class GaussianMixture:
    """A mixture Σ_k w_k N(μ_k, Σ_k) in 2-D; by default the seed's three components.

    `log_prob(x, sigma)` and `score(x, sigma)` are exact for the mixture convolved with N(0, σ²I), i.e. the same mixture
    with covariances Σ_k + σ²I (σ = 0: the mixture itself).
    """

    weights: tuple[float, ...] = WEIGHTS
    means: tuple[tuple[float, float], ...] = MEANS
    covariances: tuple[tuple[tuple[float, float], tuple[float, float]], ...] = COVARIANCES

    def _tensors(self, sigma: float) -> tuple[Tensor, Tensor, Tensor]:
        weights = torch.tensor(self.weights, dtype=torch.float64)
        means = torch.tensor(self.means, dtype=torch.float64)
        covariances = torch.tensor(self.covariances, dtype=torch.float64) + sigma**2 * torch.eye(2, dtype=torch.float64)
        return weights, means, covariances

    def sample(self, n: int, generator: torch.Generator, sigma: float = 0.0) -> tuple[Tensor, Tensor]:
        """n points (float32 [n, 2]) and their component ids (int64 [n]): k ~ Cat(w), x = μ_k + L_k ξ, L_k L_kᵀ = Σ_k
        (+ σ²I)."""
        weights, means, covariances = self._tensors(sigma)
        labels = torch.multinomial(weights, n, replacement=True, generator=generator)
        noise = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        chol = torch.linalg.cholesky(covariances)  # [K, 2, 2]
        points = means[labels] + torch.einsum("nij,nj->ni", chol[labels], noise)
        return points.float(), labels

    def component_log_probs(self, x: Tensor, sigma: float = 0.0) -> Tensor:
        """log w_k + log N(x; μ_k, Σ_k + σ²I) for every component: [n, K] (float64)."""
        weights, means, covariances = self._tensors(sigma)
        diff = x.double()[:, None, :] - means[None]  # [n, K, 2]
        precision = torch.linalg.inv(covariances)
        mahalanobis = torch.einsum("nki,kij,nkj->nk", diff, precision, diff)
        log_det = torch.logdet(covariances)
        return weights.log() - 0.5 * (mahalanobis + log_det + 2 * math.log(2 * math.pi))

    def log_prob(self, x: Tensor, sigma: float = 0.0) -> Tensor:
        """log p_σ(x) = logsumexp_k [log w_k + log N(x; μ_k, Σ_k + σ²I)]: [n] (float64)."""
        return torch.logsumexp(self.component_log_probs(x, sigma), dim=1)

    def posterior(self, x: Tensor, sigma: float = 0.0) -> Tensor:
        """Responsibilities r_k(x) = p(k | x) under p_σ: [n, K] (float64)."""
        return torch.softmax(self.component_log_probs(x, sigma), dim=1)

    def score(self, x: Tensor, sigma: float = 0.0) -> Tensor:
        """The exact score ∇ₓ log p_σ(x) = −Σ_k r_k(x) (Σ_k + σ²I)⁻¹ (x − μ_k): [n, 2] (float64)."""
        _, means, covariances = self._tensors(sigma)
        diff = x.double()[:, None, :] - means[None]
        per_component = -torch.einsum("kij,nkj->nki", torch.linalg.inv(covariances), diff)
        return (self.posterior(x, sigma)[..., None] * per_component).sum(dim=1)

    def marginal_posterior(self, values: Tensor, coord: int) -> Tensor:
        """p(k | x_coord) from the 1-D marginal of coordinate `coord`: [n, K] (float64)."""
        weights, means, covariances = self._tensors(0.0)
        var = covariances[:, coord, coord]
        log_lik = -0.5 * ((values.double()[:, None] - means[None, :, coord]) ** 2 / var + var.log())
        return torch.softmax(weights.log() + log_lik, dim=1)


# --------------------------------------------------------------------------------------------------------------------
# Networks and losses


def mlp(*sizes: int) -> nn.Sequential:
    """Linear layers of the given widths with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def energy_contrastive_loss(energy_data: Tensor, energy_negative: Tensor) -> Tensor:
    """The seed's contrastive energy loss (contrastive.py): L = mean_i E(x_i) + mean_j exp(−E(x⁻_j)).

    Pushes the energy down on data and up on negatives x⁻ (uniform on [−10, 10]²); LeCun et al. 2006, "A tutorial on
    energy-based learning", section on contrastive losses.
    """
    return energy_data.mean() + torch.exp(-energy_negative).mean()


def info_nce_loss(z: Tensor, z_positive: Tensor, temperature: float = 0.1) -> Tensor:
    """Cosine InfoNCE (van den Oord et al. 2018, arXiv:1807.03748, eq. 4, with cosine critic):

        L = −1/B Σ_i log [exp(cos(z_i, z'_i)/τ) / Σ_j exp(cos(z_i, z'_j)/τ)],

    the other points of the batch being the negatives x''. z, z_positive: [B, D].
    """
    logits = F.normalize(z, dim=1) @ F.normalize(z_positive, dim=1).T / temperature  # [B, B]
    return F.cross_entropy(logits, torch.arange(z.shape[0], device=z.device))


def dsm_loss(f: nn.Module, x: Tensor, noise: Tensor, sigma: float) -> Tensor:
    """Denoising score matching (Vincent 2011; the seed cites Hyvärinen 2005):

        x̃ = x + σξ,   L = mean_i ‖∇ₓf(x̃_i) + (x̃_i − x_i)/σ²‖²,

    so that ∇ₓf is trained towards ∇ log p_σ, the score of the data density convolved with N(0, σ²I). noise: ξ [B, 2].
    """
    x_noisy = (x + sigma * noise).requires_grad_(True)
    (grad,) = torch.autograd.grad(f(x_noisy).sum(), x_noisy, create_graph=True)
    return (grad + (x_noisy - x) / sigma**2).pow(2).sum(dim=1).mean()


def alignment_loss(z: Tensor, z_target: Tensor) -> Tensor:
    """The JEPA loss of the seed (jepa.py): L = mean_i ‖ẑ_i − ẑ'_i‖², ẑ = z/‖z‖ (= mean_i 2 − 2 cos(z_i, z'_i))."""
    return (F.normalize(z, dim=1) - F.normalize(z_target, dim=1)).pow(2).sum(dim=1).mean()


def pairwise_alignment_loss(z: Tensor, z_target: Tensor) -> Tensor:
    """The seed's global pairwise JEPA loss (jepa_ema.py): L = mean_{i,j} ‖ẑ_i − ẑ'_j‖², every i against every j."""
    diff = F.normalize(z, dim=1)[:, None, :] - F.normalize(z_target, dim=1)[None, :, :]  # [B, B, D]
    return diff.pow(2).sum(dim=2).mean()


def mask_coordinate(x: Tensor, coord: int) -> Tensor:
    """x with coordinate `coord` (0 or 1) set to zero, as the seed's masked JEPA does."""
    masked = x.clone()
    masked[:, coord] = 0.0
    return masked


# --------------------------------------------------------------------------------------------------------------------
# Methods: one nn.Module each, with loss / after_step / embed / landscape


class Method(nn.Module):
    """One objective. `loss(x, g)` on a batch, `after_step()` after each optimiser step (EMA), `embed(x)` the
    representation that the metrics read, `landscape(points, reference)` the energy drawn in the figures."""

    kind = "embedding"

    def loss(self, x: Tensor, generator: torch.Generator) -> Tensor:
        raise NotImplementedError

    def after_step(self) -> None:
        """Nothing by default; EMA methods update their target here."""

    def embed(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def masked_embed(self, x: Tensor, coord: int) -> Tensor:
        """The representation of x with coordinate `coord` masked (the masked JEPA uses its predictor here)."""
        return self.embed(mask_coordinate(x, coord))

    def landscape(self, points: Tensor, reference: Tensor) -> Tensor:
        """−cos(f(points), f(reference)): [n]. reference: [2]."""
        z = F.normalize(self.embed(points), dim=1)
        z_ref = F.normalize(self.embed(reference[None]), dim=1)
        return -(z @ z_ref.T).squeeze(1)


class EnergyMethod(Method):
    """A scalar-output MLP 2→128→128→1. `embed` reads the 128 penultimate features."""

    kind = "energy"

    def __init__(self) -> None:
        super().__init__()
        self.net = mlp(2, 128, 128, 1)

    def output(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)

    def energy(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def score(self, x: Tensor) -> Tensor:
        """s(x) = −∇ₓU(x): [n, 2]."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.energy(x).sum(), x)
        return -grad

    def embed(self, x: Tensor) -> Tensor:
        return self.net[:-1](x)

    def landscape(self, points: Tensor, reference: Tensor) -> Tensor:
        """U(points); the reference is ignored (the energy is absolute)."""
        return self.energy(points)


class EnergyContrastive(EnergyMethod):
    """Contrastive energy model: `energy_contrastive_loss` with negatives uniform on [−10, 10]²; U = E."""

    def loss(self, x: Tensor, generator: torch.Generator) -> Tensor:
        negative = torch.rand(x.shape, generator=generator) * 20 - 10
        return energy_contrastive_loss(self.output(x), self.output(negative))

    def energy(self, x: Tensor) -> Tensor:
        return self.output(x)


class DenoisingScoreMatching(EnergyMethod):
    """`dsm_loss` with σ = 1 on a scalar network f; score +∇f, energy U = −f."""

    def __init__(self, sigma: float = 1.0) -> None:
        super().__init__()
        self.sigma = sigma

    def loss(self, x: Tensor, generator: torch.Generator) -> Tensor:
        return dsm_loss(self.output, x, torch.randn(x.shape, generator=generator), self.sigma)

    def energy(self, x: Tensor) -> Tensor:
        return -self.output(x)


class InfoNCE(Method):
    """Contrastive joint embedding: encoder 2→128→128→4, positives x' = x + 0.1ξ, `info_nce_loss` with τ = 0.1."""

    def __init__(self, noise_std: float = 0.1, temperature: float = 0.1) -> None:
        super().__init__()
        self.encoder = mlp(2, 128, 128, 4)
        self.noise_std, self.temperature = noise_std, temperature

    def loss(self, x: Tensor, generator: torch.Generator) -> Tensor:
        positive = x + self.noise_std * torch.randn(x.shape, generator=generator)
        return info_nce_loss(self.encoder(x), self.encoder(positive), self.temperature)

    def embed(self, x: Tensor) -> Tensor:
        return self.encoder(x)


class BasicJepa(Method):
    """The seed's basic JEPA (jepa.py): L = ‖f̂(x) − f̂(x + 0.1ξ)‖², one encoder on both sides, no stop-gradient."""

    def __init__(self, noise_std: float = 0.1) -> None:
        super().__init__()
        self.encoder = mlp(2, 128, 128, 4)
        self.noise_std = noise_std

    def loss(self, x: Tensor, generator: torch.Generator) -> Tensor:
        perturbed = x + self.noise_std * torch.randn(x.shape, generator=generator)
        return alignment_loss(self.encoder(x), self.encoder(perturbed))

    def embed(self, x: Tensor) -> Tensor:
        return self.encoder(x)


class EmaMethod(Method):
    """An online encoder f (2→128→128→`dim`, 4 by default) and its EMA target f' (decay 0.99), as in the seed's
    jepa_ema.py."""

    def __init__(self, noise_std: float = 0.1, decay: float = 0.99, dim: int = 4) -> None:
        super().__init__()
        self.encoder = mlp(2, 128, 128, dim)
        self.target = copy.deepcopy(self.encoder).requires_grad_(False)
        self.noise_std, self.decay = noise_std, decay

    def after_step(self) -> None:
        ema_update(self.target, self.encoder, self.decay, weighted_sum=True)

    def embed(self, x: Tensor) -> Tensor:
        return self.encoder(x)


class PairwiseJepa(EmaMethod):
    """Global pairwise JEPA: `pairwise_alignment_loss(f(x + 0.1ξ), f'(x + 0.1ξ'))`, all i against all j."""

    def loss(self, x: Tensor, generator: torch.Generator) -> Tensor:
        online = x + self.noise_std * torch.randn(x.shape, generator=generator)
        target = x + self.noise_std * torch.randn(x.shape, generator=generator)
        with torch.no_grad():
            z_target = self.target(target)
        return pairwise_alignment_loss(self.encoder(online), z_target)


class MaskedJepa(EmaMethod):
    """Masked JEPA (I-JEPA, Assran et al. 2023, arXiv:2301.08243, in 2-D): L = ‖ĝ(f(m ⊙ x)) − f̂'(x)‖², one coordinate
    masked (chosen at random each step), a predictor g (`dim`→128→128→`dim`, 4 by default) predicting the full
    point's target embedding, each prediction against its own point's target (`compare = alignment_loss`)."""

    compare = staticmethod(alignment_loss)

    def __init__(self, noise_std: float = 0.1, decay: float = 0.99, dim: int = 4) -> None:
        super().__init__(noise_std, decay, dim)
        self.predictor = mlp(dim, 128, 128, dim)

    def loss(self, x: Tensor, generator: torch.Generator) -> Tensor:
        coord = int(torch.randint(0, 2, (1,), generator=generator))
        with torch.no_grad():
            z_target = self.target(x)
        return self.compare(self.predictor(self.encoder(mask_coordinate(x, coord))), z_target)

    def masked_embed(self, x: Tensor, coord: int) -> Tensor:
        return self.predictor(self.encoder(mask_coordinate(x, coord)))


class ByolJepa(EmaMethod):
    """BYOL-style JEPA (Grill et al. 2020): views x₁, x₂ = x + 0.1ξ, L = ‖ĝ(f(x₁)) − f̂'(x₂)‖² + ‖ĝ(f(x₂)) − f̂'(x₁)‖²,
    predictor g (4→128→128→4), target f' the EMA of f (decay 0.99)."""

    def __init__(self, noise_std: float = 0.1, decay: float = 0.99) -> None:
        super().__init__(noise_std, decay)
        self.predictor = mlp(4, 128, 128, 4)

    def loss(self, x: Tensor, generator: torch.Generator) -> Tensor:
        x1 = x + self.noise_std * torch.randn(x.shape, generator=generator)
        x2 = x + self.noise_std * torch.randn(x.shape, generator=generator)
        with torch.no_grad():
            t1, t2 = self.target(x1), self.target(x2)
        return alignment_loss(self.predictor(self.encoder(x1)), t2) + alignment_loss(
            self.predictor(self.encoder(x2)), t1
        )


def barlow_twins_loss(z1: Tensor, z2: Tensor, off_diagonal_weight: float = 5e-3) -> Tensor:
    """Barlow Twins (Zbontar et al. 2021, arXiv:2103.03230, eq. 1), as the seed's jepa_ema.py computes it: each
    dimension standardised over the batch (unbiased std), C = z̃₁ᵀz̃₂ / B, L = Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij²."""
    z1 = (z1 - z1.mean(dim=0)) / z1.std(dim=0)
    z2 = (z2 - z2.mean(dim=0)) / z2.std(dim=0)
    cross = z1.T @ z2 / z1.shape[0]
    diagonal = torch.diagonal(cross)
    return (diagonal - 1).pow(2).sum() + off_diagonal_weight * (cross.pow(2).sum() - diagonal.pow(2).sum())


class SeedMaskedPairwise(MaskedJepa):
    """The seed's masked JEPA as jepa_predict.py runs it: one coordinate of x zeroed for the online side, the target
    f' (EMA, 0.99) sees the whole point, and the loss is `pairwise_alignment_loss(ĝ(f(m ⊙ x)), f̂'(x))`: every
    prediction against every target of the batch, other points (and other mixture components) included. Encoder
    2→128→128→64, predictor g 64→128→128→64, no noise (the script draws x̃ but never uses it)."""

    compare = staticmethod(pairwise_alignment_loss)

    def __init__(self, decay: float = 0.99, dim: int = 64) -> None:
        super().__init__(noise_std=0.0, decay=decay, dim=dim)


class SeedBarlowTwins(Method):
    """What the seed's "EMA JEPA" script (jepa_ema.py) trains as it runs: Barlow Twins on two views x + 0.05ξ of the
    same points through one encoder 2→128→128→64 (`barlow_twins_loss`, λ = 5e-3); its EMA target is built but never
    updated nor trained on (the EMA loop is commented out)."""

    def __init__(self, noise_std: float = 0.05, dim: int = 64) -> None:
        super().__init__()
        self.encoder = mlp(2, 128, 128, dim)
        self.noise_std = noise_std

    def loss(self, x: Tensor, generator: torch.Generator) -> Tensor:
        x1 = x + self.noise_std * torch.randn(x.shape, generator=generator)
        x2 = x + self.noise_std * torch.randn(x.shape, generator=generator)
        return barlow_twins_loss(self.encoder(x1), self.encoder(x2))

    def embed(self, x: Tensor) -> Tensor:
        return self.encoder(x)


METHOD_CLASSES: dict[str, type[Method]] = {
    "energy": EnergyContrastive,
    "infonce": InfoNCE,
    "dsm": DenoisingScoreMatching,
    "jepa": BasicJepa,
    "jepa-pairwise": PairwiseJepa,
    "jepa-masked": MaskedJepa,
    "jepa-ema": ByolJepa,
    "seed-masked-pairwise": SeedMaskedPairwise,
    "seed-barlow-twins": SeedBarlowTwins,
}


# --------------------------------------------------------------------------------------------------------------------
# Training


@dataclass
class MogRun:
    """A trained method and what its training saw."""

    name: str
    seed: int
    model: Method
    data: Tensor  # [5000, 2] training points
    labels: Tensor  # [5000] component ids
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    samples: Tensor | None = None  # Langevin samples of an energy model, set by `evaluate`


def make_dataset(seed: int, n: int = NUM_POINTS) -> tuple[Tensor, Tensor]:
    """The seed's 5,000 training points (and component ids), drawn with generator seed `seed`."""
    return GaussianMixture().sample(n, torch.Generator().manual_seed(seed))


def train_steps(
    name: str, seed: int = 0, steps: int | None = None, every: int = 1, batch_size: int = BATCH_SIZE
) -> Iterator[MogRun]:
    """Train method `name` (see `METHODS`) with Adam 1e-3 on batches of 128 drawn with replacement, as the seed does,
    yielding the run (the same object, trained further) after every `every` optimiser steps and after the last one.

    Everything random (data, initialisation, batches, noise, negatives, masks) follows from `seed`, so the same seed
    gives bit-identical results whatever `every` is. The Space's Lab tab draws the landscape at each yield.
    """
    if name not in METHOD_CLASSES:
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
    total = STEPS[name] if steps is None else steps
    if total < 1 or every < 1:
        raise ValueError(f"steps ({total}) and every ({every}) must be at least 1")
    data, labels = make_dataset(seed)
    torch.manual_seed(seed)
    model = METHOD_CLASSES[name]()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=LEARNING_RATE)
    generator = torch.Generator().manual_seed(seed + 1)
    run = MogRun(name, seed, model, data, labels)
    for step in range(1, total + 1):
        start = time.perf_counter()
        batch = data[torch.randint(0, data.shape[0], (batch_size,), generator=generator)]
        loss = model.loss(batch, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        model.after_step()
        run.losses.append(loss.item())
        run.seconds += time.perf_counter() - start  # training time only, not the caller's between yields
        if step % every == 0 or step == total:
            yield run


def train(name: str, seed: int = 0, steps: int | None = None, batch_size: int = BATCH_SIZE) -> MogRun:
    """Train method `name` to the end (`train_steps` without the intermediate yields); returns the trained run."""
    *_, run = train_steps(name, seed, steps, batch_size=batch_size)
    return run


@torch.no_grad()
def embedding_stats(model: Method, points: Tensor) -> dict[str, float]:
    """Collapse measures of `model`'s L2-normalised embedding of `points`: `emb_std`, the mean per-dimension standard
    deviation (0 = collapsed), and `rankme`, the effective rank (Garrido et al. 2023, arXiv:2210.02885)."""
    was_training = model.training
    z = F.normalize(model.eval().embed(points), dim=1)
    model.train(was_training)
    return {"emb_std": feature_std(z)["std_mean"], "rankme": rankme(z)}


# --------------------------------------------------------------------------------------------------------------------
# Measurements


def grid_points(resolution: int = GRID_SIZE) -> Tensor:
    """The seed's 200×200 grid over [−10, 10] × [−5, 15], as [resolution², 2] with x varying slowest (`ij`)."""
    xs = torch.linspace(*GRID_X, resolution)
    ys = torch.linspace(*GRID_Y, resolution)
    grid_x, grid_y = torch.meshgrid(xs, ys, indexing="ij")
    return torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1)


def mmd_rbf(a: Tensor, b: Tensor, bandwidth: float = 1.0) -> float:
    """Unbiased squared maximum mean discrepancy (Gretton et al. 2012, JMLR 13, eq. 3) with the RBF kernel
    k(u, v) = exp(−‖u − v‖² / (2h²)), h = `bandwidth`."""

    def kernel(u: Tensor, v: Tensor) -> Tensor:
        return torch.exp(-torch.cdist(u.double(), v.double()).pow(2) / (2 * bandwidth**2))

    kaa, kbb, kab = kernel(a, a), kernel(b, b), kernel(a, b)
    n, m = a.shape[0], b.shape[0]
    return float(
        (kaa.sum() - kaa.diagonal().sum()) / (n * (n - 1))
        + (kbb.sum() - kbb.diagonal().sum()) / (m * (m - 1))
        - 2 * kab.mean()
    )


def langevin(
    score_fn, start: Tensor, step_size: float, steps: int, generator: torch.Generator, keep_every: int = 0
) -> tuple[Tensor, list[Tensor]]:
    """Unadjusted Langevin dynamics x ← x + (η/2) s(x) + √η ξ (Roberts & Tweedie 1996; Song & Ermon 2019, eq. 4).

    `score_fn` is the score s(x) ≈ ∇ₓ log p(x) (for the DSM model s = +∇f, for the contrastive energy s = −∇E).
    Returns the final samples and, if keep_every > 0, the chain every `keep_every` steps (for the GIFs).
    """
    x = start.clone()
    frames = [x.clone()] if keep_every else []
    for step in range(1, steps + 1):
        x = x + 0.5 * step_size * score_fn(x).float() + math.sqrt(step_size) * torch.randn(x.shape, generator=generator)
        if keep_every and step % keep_every == 0:
            frames.append(x.clone())
    return x, frames


def cosine_gap(z: Tensor, labels: Tensor) -> float:
    """mean cos(z_i, z_j) over same-component pairs minus over different-component pairs (i ≠ j): how much of the
    embedding's similarity is cluster identity (≈ 0 for a collapsed or a purely local embedding)."""
    zn = F.normalize(z.double(), dim=1)
    sim = zn @ zn.T
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~torch.eye(len(labels), dtype=torch.bool)
    return float(sim[same & off_diagonal].mean() - sim[~same].mean())


def bayes_accuracy(labels: Tensor, posterior: Tensor) -> float:
    """Accuracy of the Bayes classifier argmax_k p(k | ·) given its posterior [n, K]."""
    return float((posterior.argmax(dim=1) == labels).double().mean())


@torch.no_grad()
def evaluate(run: MogRun, num_test: int = 2000, sigma: float = 1.0, langevin_steps: int = 2000) -> dict[str, float]:
    """The numbers the seed lacks, on `num_test` fresh points of the mixture (generator seed 10,000 + seed).

    - `emb_std`: mean over dimensions of the standard deviation of the L2-normalised embedding (0 = collapsed);
    - `rankme`: effective rank of the L2-normalised embedding (Garrido et al. 2023);
    - `knn`: component-id accuracy of cosine 5-NN (bank: the 5,000 training points), next to the Bayes accuracy;
    - `cos_gap`: `cosine_gap` (cluster identity in the similarity);
    - `masked_knn`: the same k-NN with one coordinate masked on both bank and queries (masked JEPA: through its
      predictor), averaged over the two coordinates, next to the Bayes accuracy from one coordinate;
    - energy models: score error against the exact score of p_σ (σ = 1) and of p, on points of p_σ, and the MMD of
      Langevin samples (η = 0.02, `langevin_steps` steps from uniform on the plotting box) to the mixture.
    """
    model = run.model.eval()
    mixture = GaussianMixture()
    generator = torch.Generator().manual_seed(10_000 + run.seed)
    test, test_labels = mixture.sample(num_test, generator)
    z_bank, z_test = model.embed(run.data), model.embed(test)
    out: dict[str, float] = {
        "final_loss": sum(run.losses[-100:]) / len(run.losses[-100:]),
        "train_seconds": run.seconds,
        **embedding_stats(model, test),
        "knn": knn_accuracy(z_bank, run.labels, z_test, test_labels, k=5)[5],
        "bayes_acc": bayes_accuracy(test_labels, mixture.posterior(test)),
        "cos_gap": cosine_gap(z_test, test_labels),
    }
    masked, bayes_masked = [], []
    for coord in (0, 1):
        bank, query = model.masked_embed(run.data, coord), model.masked_embed(test, coord)
        masked.append(knn_accuracy(bank, run.labels, query, test_labels, k=5)[5])
        bayes_masked.append(bayes_accuracy(test_labels, mixture.marginal_posterior(test[:, 1 - coord], 1 - coord)))
    out["masked_knn"] = sum(masked) / 2
    out["bayes_masked_acc"] = sum(bayes_masked) / 2
    if isinstance(model, EnergyMethod):
        numbers, run.samples = score_and_samples(model, run.seed, sigma, langevin_steps)
        out.update(numbers)
    model.train()
    return out


def uniform_box(n: int, generator: torch.Generator) -> Tensor:
    """n points uniform on the plotting box [−10, 10] × [−5, 15]."""
    u = torch.rand(n, 2, generator=generator)
    low = torch.tensor([GRID_X[0], GRID_Y[0]])
    size = torch.tensor([GRID_X[1] - GRID_X[0], GRID_Y[1] - GRID_Y[0]])
    return low + u * size


def score_and_samples(
    model: EnergyMethod,
    seed: int,
    sigma: float = 1.0,
    langevin_steps: int = 2000,
    num: int = 2000,
    step_size: float = 0.02,
) -> tuple[dict[str, float], Tensor]:
    """Score error and Langevin sample distance of an energy model (see `evaluate`), and the Langevin samples.

    The score error is reported relative to the size of the true score: E‖s_θ − s‖² / E‖s‖², on `num` points of p_σ.
    `mmd_*` compares `num` Langevin samples with `num` points of the mixture (and of p_σ); `mmd_reference` is two
    independent samples of the mixture, and `mmd_exact_langevin` the same sampler driven by the exact score of p_σ,
    the best this sampler can do from a learned σ-smoothed score.
    """
    mixture = GaussianMixture()
    generator = torch.Generator().manual_seed(20_000 + seed)
    points, _ = mixture.sample(num, generator, sigma=sigma)
    learned = model.score(points).double()
    out: dict[str, float] = {}
    for name, s in (("smoothed", sigma), ("unsmoothed", 0.0)):
        true = mixture.score(points, s)
        out[f"score_rel_err_{name}"] = float((learned - true).pow(2).sum(1).mean() / true.pow(2).sum(1).mean())
    true_smoothed, true_plain = mixture.score(points, sigma), mixture.score(points, 0.0)
    out["score_rel_err_smoothed_vs_unsmoothed"] = float(
        (true_smoothed - true_plain).pow(2).sum(1).mean() / true_plain.pow(2).sum(1).mean()
    )
    start = uniform_box(num, generator)
    samples, _ = langevin(model.score, start, step_size, langevin_steps, generator)
    exact, _ = langevin(lambda x: mixture.score(x, sigma), start, step_size, langevin_steps, generator)
    reference_a, _ = mixture.sample(num, generator)
    reference_b, _ = mixture.sample(num, generator)
    smoothed, _ = mixture.sample(num, generator, sigma=sigma)
    out["mmd_samples"] = mmd_rbf(samples, reference_a)
    out["mmd_samples_vs_smoothed"] = mmd_rbf(samples, smoothed)
    out["mmd_exact_langevin"] = mmd_rbf(exact, reference_a)
    out["mmd_reference"] = mmd_rbf(reference_b, reference_a)
    return out, samples
