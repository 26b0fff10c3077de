"""Metrics of a set of features: how well they classify (`knn_accuracy`, `linear_probe_accuracy`) and whether they
collapsed (`rankme`, Garrido et al. 2023; `feature_std`; `sigreg_value`, the SIGReg statistic of
`leae_hub.regularizers.SIGReg` with fixed directions)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..hardware import intra_op_threads
from ..regularizers import SIGReg

RANKME_EPS = 1e-7  # Garrido et al. 2023
KNN_KS: tuple[int, ...] = (5, 20)


def _check_features(features: Tensor, labels: Tensor, name: str) -> None:
    if features.ndim != 2:
        raise ValueError(f"{name}_features must be [N, D], got shape {tuple(features.shape)}; flatten them first")
    if labels.ndim != 1 or labels.shape[0] != features.shape[0]:
        raise ValueError(f"{name}_labels must be [N] with N = {features.shape[0]}, got shape {tuple(labels.shape)}")
    if features.shape[0] == 0:
        raise ValueError(f"{name}_features is empty")
    if (labels < 0).any():
        raise ValueError(f"{name}_labels has negative (unknown) labels: keep only labelled samples")


@torch.no_grad()
def knn_accuracy(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    k: int | Sequence[int] = KNN_KS,
    batch_size: int = 1024,
) -> dict[int, float]:
    """Top-1 accuracy of a cosine-similarity k-nearest-neighbour classifier, for each k.

    Each test sample takes the class that most of its k most similar training samples (cosine similarity of the
    features) belong to; ties between classes are broken by the larger summed similarity. Test samples are handled
    `batch_size` at a time, so memory stays at batch_size × N_train similarities.

    Returns:
        {k: accuracy in [0, 1]} for each requested k.
    """
    _check_features(train_features, train_labels, "train")
    _check_features(test_features, test_labels, "test")
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(f"feature sizes differ: train {train_features.shape[1]}, test {test_features.shape[1]}")
    ks = [k] if isinstance(k, int) else list(k)
    if not ks or min(ks) < 1 or max(ks) > train_features.shape[0]:
        raise ValueError(f"every k must lie in [1, {train_features.shape[0]}] (the training set size), got {ks}")
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    train = F.normalize(train_features.float(), dim=1)
    train_labels = train_labels.to(train.device)
    correct = dict.fromkeys(ks, 0)
    for start in range(0, test_features.shape[0], batch_size):
        test = F.normalize(test_features[start : start + batch_size].float().to(train.device), dim=1)
        truth = test_labels[start : start + batch_size].to(train.device)
        similarity, index = (test @ train.T).topk(max(ks), dim=1)  # [b, k_max], most similar first
        neighbour_labels = train_labels[index]
        for kk in ks:
            votes = torch.zeros(test.shape[0], num_classes, dtype=torch.float64, device=train.device)
            votes.scatter_add_(1, neighbour_labels[:, :kk], torch.ones_like(similarity[:, :kk], dtype=torch.float64))
            summed = torch.zeros_like(votes).scatter_add_(1, neighbour_labels[:, :kk], similarity[:, :kk].double())
            # Counts decide; the summed similarity, mapped into [0, 1), only breaks ties between equal counts.
            score = votes + (summed + kk) / (2 * kk + 1)
            correct[kk] += int((score.argmax(dim=1) == truth).sum())
    return {kk: correct[kk] / test_features.shape[0] for kk in ks}


def linear_probe_accuracy(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    epochs: int = 100,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> float:
    r"""Test accuracy of a linear classifier trained on frozen features: multinomial logistic regression.

    Features are standardised with the training set's per-dimension mean and standard deviation (+1e-6). The
    classifier minimises the mean cross-entropy + `weight_decay` · ‖W‖² (bias not penalised), full batch, with
    L-BFGS (strong-Wolfe line search) for at most `epochs` iterations, in float32 on the features' device. The
    problem is convex and starts from zero weights, so the result is deterministic; `seed` fixes torch's global
    random state inside the call all the same (restored afterwards). On the CPU, problems up to 2^24 feature values
    run on one thread (L-BFGS is many tiny operations, which thread synchronisation slows down, badly so on a busy
    machine): about 1 s for 10k × 512 features.
    """
    _check_features(train_features, train_labels, "train")
    _check_features(test_features, test_labels, "test")
    small = train_features.device.type == "cpu" and train_features.numel() <= 2**24
    # Callers may hold inference tensors (made under torch.inference_mode): train on plain copies, with autograd on.
    with (
        intra_op_threads(1 if small else None),
        torch.random.fork_rng(devices=[]),
        torch.inference_mode(False),
        torch.enable_grad(),
    ):
        torch.manual_seed(seed)
        train = train_features.detach().float().clone()
        mean, std = train.mean(dim=0), train.std(dim=0, correction=0) + 1e-6
        train = (train - mean) / std
        test = (test_features.detach().float().to(train.device).clone() - mean) / std
        train_labels = train_labels.detach().clone()
        train_labels = train_labels.to(train.device)
        num_classes = int(max(train_labels.max(), test_labels.max())) + 1
        weight = torch.zeros(train.shape[1], num_classes, device=train.device, requires_grad=True)
        bias = torch.zeros(num_classes, device=train.device, requires_grad=True)
        optimizer = torch.optim.LBFGS(
            [weight, bias], lr=1.0, max_iter=epochs, history_size=10, line_search_fn="strong_wolfe"
        )

        def closure() -> Tensor:
            optimizer.zero_grad()
            loss = F.cross_entropy(train @ weight + bias, train_labels) + weight_decay * weight.square().sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        with torch.no_grad():
            predictions = (test @ weight + bias).argmax(dim=1).cpu()
    return int((predictions == test_labels.cpu()).sum()) / test_labels.shape[0]


def _flatten(features: Tensor) -> Tensor:
    if features.ndim < 2:
        raise ValueError(f"features must be [N, ...] with at least 2 dimensions, got shape {tuple(features.shape)}")
    return features.flatten(1)


def rankme(features: Tensor, eps: float = RANKME_EPS) -> float:
    r"""RankMe, the effective rank of a set of embeddings (Garrido et al. 2023, arXiv:2210.02885, eq. 1).

        p_k = σ_k / ‖σ‖₁ + ε,   RankMe(Z) = exp(−Σ_k p_k log p_k),   ε = 1e-7,

    with σ the singular values of Z ∈ R^{N×D} (uncentred, as in the paper). It lies in [1, min(N, D)]: ≈ D for an
    isotropic Gaussian cloud with N ≫ D, ≈ 1 for a rank-1 set. `features` [N, ...] are flattened to [N, D].
    """
    z = _flatten(features).double()
    singular = torch.linalg.svdvals(z)
    p = singular / singular.sum() + eps
    return float(torch.exp(-(p * p.log()).sum()))


def feature_std(features: Tensor) -> dict[str, float]:
    """Minimum, mean and maximum over dimensions of the per-dimension standard deviation (unbiased) of [N, ...]."""
    z = _flatten(features).double()
    if z.shape[0] < 2:
        raise ValueError("feature_std needs at least 2 samples")
    std = z.std(dim=0)
    return {"std_min": float(std.min()), "std_mean": float(std.mean()), "std_max": float(std.max())}


def sigreg_value(latents: Tensor, batch_size: int = 128, num_slices: int = 256, seed: int = 0) -> float:
    """The SIGReg statistic (`leae_hub.regularizers.SIGReg`) of the latents, as a training batch would see it.

    The latents ([N, D] pooled or [N, C, H, W] spatial) are cut into consecutive batches of `batch_size` (the last,
    shorter one dropped unless it is the only one) and the statistic of each is averaged. The directions are fixed
    (`seed`, step 0), so the value is reproducible. The statistic scales with the batch size for non-Gaussian latents
    (it is N times a distance), hence the fixed batch size: ≈ 1.05 for N(0, I) latents, ≈ 0.40 · batch_size for
    latents collapsed to the origin. Spatial latents are processed a few locations at a time to bound memory.
    """
    if latents.ndim not in (2, 4):
        raise ValueError(f"latents must be [N, D] or [N, C, H, W], got shape {tuple(latents.shape)}")
    regulariser = SIGReg(num_slices=num_slices, seed=seed, distributed=False)  # evaluation may run on one rank only
    n = latents.shape[0]
    starts = list(range(0, n - batch_size + 1, batch_size)) or [0]
    values = []
    for start in starts:
        batch = latents[start : start + batch_size].float()
        if batch.ndim == 2:
            values.append(regulariser(batch, step=0).item())
            continue
        # SIGReg averages over locations; do it in chunks of locations (each [N, C, h, w] slice is independent).
        locations = batch.flatten(2)  # [N, C, L]
        chunk = max(1, int(3e7 // (batch.shape[0] * num_slices * regulariser.knots.numel())))
        total = 0.0
        for first in range(0, locations.shape[2], chunk):
            part = locations[:, :, first : first + chunk]
            total += regulariser(part.unsqueeze(-1), step=0).item() * part.shape[2]
        values.append(total / locations.shape[2])
    return float(np.mean(values))
