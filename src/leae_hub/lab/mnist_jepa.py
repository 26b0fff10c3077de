"""MNIST JEPA, measured like the seed's MNIST run: Euclidean k-NN on the embeddings with weighted scores.

The seed's MNIST run is `jepa_mnist.py` of the JEPA tutorial
(https://github.com/CICS-Oleg/JointEmbeddingArchitecturesTutorial, commit 5469dde). Its number is the accuracy of a
k = 5 nearest-neighbour classifier (Euclidean distance, majority vote) on the 128-d embeddings of the 10,000 MNIST
test digits, with all 60,000 training digits as the bank, plus the weighted precision, recall and F1 over the ten
classes. `knn_predict` and `weighted_scores` compute them with torch alone;
`embed` gives the embeddings of a model (or raw pixels); `encoder_from_checkpoint` reads the encoder out of a training
checkpoint, for the k-NN learning curve over epochs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import Tensor

from ..configuration_leae import LeaeConfig
from ..data import build_dataset
from ..modeling_leae import LeaeModel
from ..views import perturb_digits

KNN_K = 5
# The k-NN@5 accuracy (and weighted precision, recall and F1) the tutorial reports for its MNIST JEPA run.
SEED_KNN_ACCURACY = 0.9901


@dataclass(frozen=True)
class KnnSettings:
    """`training/mnist_jepa.py`: the data source with train/test splits, the output folder, the seed of the untrained
    encoder and of the perturbations, k; `model` (a saved model folder: `evaluate`, `phase2`), `run` (a `leae train`
    output_dir), `config_from` and `epochs` (`curve`), `strength`, `digit_erosion` and `digit_affine` (`phase2`: the
    perturbation, `views.perturb_digits` with these `erosion` and `affine` options, as the phase-2 run trained on)."""

    data: str = "mnist-full"
    out: str = "docs/lab"
    seed: int = 0
    k: int = KNN_K
    model: str | None = None
    run: str | None = None
    config_from: str | None = None
    epochs: tuple[float, ...] | None = None
    strength: float = 1.0
    digit_erosion: str = "min-pool"
    digit_affine: str = "lab"


@dataclass(frozen=True)
class SeedScriptRun:
    """`training/seed_mnist_jepa.py`: the seed's `jepa_mnist.py` (`script`) run on the four MNIST IDX .gz files in
    `mnist`, with torch, numpy and random seeded by `seed`, on `threads` threads; its record and weights under `out`."""

    script: str
    mnist: str = "../shared/data/mnist-full"
    seed: int = 0
    threads: int = 1
    out: str = "docs/lab/seed_mnist_jepa"


def load_digits(data: str, split: str, image_size: int = 28) -> tuple[Tensor, Tensor]:
    """All images [N, 1, H, W] in [0, 1] and labels [N] of a data source's split (e.g. `mnist-full`, `test`)."""
    dataset = build_dataset(data, split, image_size, 1)
    items = [dataset[index] for index in range(len(dataset))]
    return torch.stack([item["pixel_values"] for item in items]), torch.tensor([int(item["labels"]) for item in items])


@torch.no_grad()
def embed(model: LeaeModel | None, images: Tensor, batch_size: int = 1000) -> Tensor:
    """[N, D] embeddings: the encoder's latents in eval mode (running batch-norm statistics), flattened; with
    `model=None` the raw pixels, flattened."""
    if model is None:
        return images.flatten(1)
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model.encoder(chunk).flatten(1) for chunk in images.split(batch_size)])
    finally:
        model.train(was_training)


@torch.no_grad()
def knn_predict(bank: Tensor, bank_labels: Tensor, queries: Tensor, k: int = KNN_K, batch_size: int = 1000) -> Tensor:
    """Labels [Q] of a k-nearest-neighbour classifier with Euclidean distance and a majority vote.

    Each query takes the most frequent label among its k nearest bank vectors (‖q − b‖₂); a tie between labels goes
    to the smallest label, as scikit-learn's `KNeighborsClassifier` (uniform weights) breaks it.
    """
    if bank.ndim != 2 or queries.ndim != 2 or bank.shape[1] != queries.shape[1]:
        raise ValueError(
            f"bank and queries must be [N, D] and [Q, D] with the same D, got {tuple(bank.shape)} and "
            f"{tuple(queries.shape)}: flatten the embeddings first."
        )
    if bank_labels.shape != (bank.shape[0],) or (bank_labels < 0).any():
        raise ValueError(
            f"bank_labels must be [{bank.shape[0]}] non-negative class ids, got {tuple(bank_labels.shape)}"
        )
    if not 1 <= k <= bank.shape[0]:
        raise ValueError(f"k must lie in [1, {bank.shape[0]}] (the bank size), got {k}")
    bank = bank.float()
    num_classes = int(bank_labels.max()) + 1
    predictions = []
    for chunk in queries.float().split(batch_size):
        nearest = torch.cdist(chunk, bank).topk(k, dim=1, largest=False).indices  # [b, k]
        votes = torch.zeros(chunk.shape[0], num_classes, dtype=torch.long)
        votes.scatter_add_(1, bank_labels[nearest], torch.ones_like(nearest))
        predictions.append(votes.argmax(dim=1))  # the first (smallest) label among equal counts
    return torch.cat(predictions)


def weighted_scores(labels: Tensor, predictions: Tensor) -> dict[str, float]:
    """Accuracy and the support-weighted precision, recall and F1 over the classes present in `labels`.

    Per class c: P_c = TP_c / (TP_c + FP_c), R_c = TP_c / (TP_c + FN_c), F1_c = 2·P_c·R_c / (P_c + R_c) (0 where a
    denominator is 0); each averaged with weights n_c / N, n_c the true count of c (scikit-learn's
    `average="weighted"`). The weighted recall equals the accuracy.
    """
    if labels.shape != predictions.shape or labels.ndim != 1 or labels.numel() == 0:
        raise ValueError(
            f"labels and predictions must be equal-length non-empty [N] tensors, got {tuple(labels.shape)} and "
            f"{tuple(predictions.shape)}"
        )
    num_classes = int(max(labels.max(), predictions.max())) + 1
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.float64)
    confusion.index_put_((labels, predictions), torch.ones(labels.shape[0], dtype=torch.float64), accumulate=True)
    true_positive = confusion.diag()
    support = confusion.sum(dim=1)
    predicted = confusion.sum(dim=0)
    precision = torch.where(predicted > 0, true_positive / predicted.clamp_min(1), 0.0)
    recall = torch.where(support > 0, true_positive / support.clamp_min(1), 0.0)
    denominator = precision + recall
    f1 = torch.where(denominator > 0, 2 * precision * recall / denominator.clamp_min(1e-300), 0.0)
    weights = support / support.sum()
    return {
        "accuracy": float(true_positive.sum() / support.sum()),
        "precision": float((weights * precision).sum()),
        "recall": float((weights * recall).sum()),
        "f1": float((weights * f1).sum()),
    }


def knn_scores(
    model: LeaeModel | None,
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    k: int = KNN_K,
    distance: str = "euclidean",
) -> dict[str, float]:
    """`weighted_scores` of k-NN@k on `model`'s embeddings (raw pixels for None): bank = `train` (images, labels),
    queries = `test`; `distance` as in `knn_scores_of_embeddings`."""
    return knn_scores_of_embeddings(embed(model, train[0]), train[1], embed(model, test[0]), test[1], k, distance)


def knn_scores_of_embeddings(
    bank: Tensor, bank_labels: Tensor, queries: Tensor, labels: Tensor, k: int = KNN_K, distance: str = "euclidean"
) -> dict[str, float]:
    """`weighted_scores` of k-NN@k with `bank` (N, D) and its labels as the memory and `queries` (M, D) as the test.
    `distance`: `euclidean` (the seed's), or `cosine` (Euclidean between unit-normalised embeddings, which ranks
    neighbours by cosine similarity)."""
    if distance not in ("euclidean", "cosine"):
        raise ValueError(f"distance must be 'euclidean' or 'cosine', got {distance!r}")
    if distance == "cosine":
        bank, queries = torch.nn.functional.normalize(bank, dim=1), torch.nn.functional.normalize(queries, dim=1)
    predictions = knn_predict(bank, bank_labels, queries, k=k)
    return {**weighted_scores(labels, predictions), "k": k, "dim": int(queries.shape[1])}


def encoder_from_checkpoint(checkpoint: str | Path, config: LeaeConfig) -> LeaeModel:
    """The model of a training checkpoint (`leae train`'s `checkpoint-*/`, whose `model.safetensors` holds the
    wrapped `TrainStep`: the model's tensors under `model.`)."""
    state = load_file(str(Path(checkpoint) / "model.safetensors"))
    weights = {key.removeprefix("model."): value for key, value in state.items() if key.startswith("model.")}
    if not weights:
        raise ValueError(f"{checkpoint}/model.safetensors holds no `model.*` tensors: not a `leae train` checkpoint.")
    model = LeaeModel(config)
    model.load_state_dict(weights)
    return model


def checkpoint_step(checkpoint: str | Path) -> int:
    """The optimiser step a `leae train` checkpoint was saved at (its `trainer_state.json`)."""
    return int(json.loads((Path(checkpoint) / "trainer_state.json").read_text())["step"])


@torch.no_grad()
def reconstruction_rows(
    model: LeaeModel,
    images: Tensor,
    strength: float = 1.0,
    seed: int = 0,
    erosion: str = "min-pool",
    affine: str = "lab",
) -> tuple[Tensor, Tensor, Tensor]:
    """(originals, perturbed views at `strength`, reconstructions D(E(perturbed))) for a figure, in eval mode;
    `erosion` and `affine` are `views.perturb_digits`'s options."""
    generator = torch.Generator().manual_seed(seed)
    perturbed = perturb_digits(images, strength, generator, erosion=erosion, affine=affine)
    was_training = model.training
    model.eval()
    try:
        reconstruction = model.decoder(model.encoder(perturbed))
    finally:
        model.train(was_training)
    return images, perturbed, reconstruction


__all__ = [
    "KNN_K",
    "KnnSettings",
    "SEED_KNN_ACCURACY",
    "SeedScriptRun",
    "checkpoint_step",
    "embed",
    "encoder_from_checkpoint",
    "knn_predict",
    "knn_scores",
    "knn_scores_of_embeddings",
    "load_digits",
    "reconstruction_rows",
    "weighted_scores",
]
