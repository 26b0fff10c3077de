"""The orchestrator: `evaluate_model` runs a model over a test set (and a train set) and gathers every metric into
one JSON-able result."""

from __future__ import annotations

import importlib.metadata
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset, IterableDataset

from .batches import image_batches, raw_pixel_features
from .features import KNN_KS, feature_std, knn_accuracy, linear_probe_accuracy, rankme, sigreg_value
from .holes import HOLE_KINDS, RANDOM_HOLE_MAX_AREA, hole_masks, hole_scores, inpainting_masks, mean_fill
from .optional_metrics import FIDMetric, LPIPSMetric, compute_optional, fid_status, load_optional, lpips_status
from .reconstruction import MSSSIMSettings, hole_psnr, mean_colour_psnr, ms_ssim, ms_ssim_settings, psnr, ssim
from .results import Unavailable, jsonable, split_unavailable


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _probe(
    train: Tensor, train_labels: Tensor, test: Tensor, test_labels: Tensor, ks: Sequence[int], seed: int
) -> dict[str, Any]:
    usable = [k for k in ks if k <= train.shape[0]]
    knn = knn_accuracy(train, train_labels, test, test_labels, k=usable) if usable else {}
    knn_table: dict[str, Any] = {
        str(k): knn[k] if k in knn else Unavailable(f"only {train.shape[0]} training samples") for k in ks
    }
    return {
        "knn_top1": knn_table,
        "linear_probe": linear_probe_accuracy(train, train_labels, test, test_labels, seed=seed),
    }


@torch.inference_mode()
def _encode_set(
    models: dict[str, torch.nn.Module],
    dataset: Dataset | IterableDataset,
    batch_size: int,
    limit: int | None,
    seed: int,
    device: torch.device,
    progress: bool = False,
) -> tuple[dict[str, Tensor], Tensor]:
    """Flattened latents of every model in `models` (plus "raw_pixels"), and the labels, for a dataset."""
    features: dict[str, list[Tensor]] = {name: [] for name in (*models, "raw_pixels")}
    labels = []
    batches = image_batches(dataset, batch_size, limit, seed)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="encode the train split (k-NN bank, probe)", unit="batch")
    for pixel_values, batch_labels in batches:
        x = pixel_values.to(device)
        for name, model in models.items():
            features[name].append(model.encode(x).latents.flatten(1).float().cpu())
        features["raw_pixels"].append(raw_pixel_features(pixel_values))
        labels.append(batch_labels)
    return {name: torch.cat(parts) for name, parts in features.items()}, torch.cat(labels)


def _mean(parts: list[Tensor]) -> float:
    return float(torch.cat(parts).mean())


@dataclass
class _Scorers:
    """What the test pass measures with besides the model: the MS-SSIM settings (or why there are none), LPIPS and
    FID (or why not), and the random-init encoder of the representation baselines (None without a train set)."""

    ms_settings: MSSSIMSettings | None
    ms_reason: Unavailable | None
    lpips: Any
    lpips_reason: str | None
    fid: Any
    fid_reason: str | None
    random_model: torch.nn.Module | None


@dataclass
class _TestPass:
    """What the pass over the test set gathers: per-image scores by name, the hole scores by kind, fill and score,
    the latents and labels, and the forward passes' time."""

    holes: dict[str, dict[str, dict[str, list[Tensor]]]]
    sums: dict[str, list[Tensor]] = field(
        default_factory=lambda: {
            name: [] for name in ("psnr", "ssim", "ms_ssim", "mse", "error", "baseline", "hole", "all")
        }
    )
    latents: list[Tensor] = field(default_factory=list)
    random_latents: list[Tensor] = field(default_factory=list)
    raw: list[Tensor] = field(default_factory=list)
    labels: list[Tensor] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    forward_seconds: float = 0.0
    num_images: int = 0


def _check_settings(hole_ratio: float, hole_kinds: Sequence[str], batch_size: int) -> None:
    if not 0.0 < hole_ratio < 1.0:
        raise ValueError(f"hole_ratio must lie in (0, 1), got {hole_ratio}")
    unknown = [kind for kind in hole_kinds if kind not in HOLE_KINDS]
    if unknown:
        raise ValueError(f"hole_kinds must be among {list(HOLE_KINDS)}, got {unknown}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")


def _scorers(model: torch.nn.Module, device: torch.device, with_baselines: bool, seed: int) -> _Scorers:
    """The MS-SSIM settings for the model's image size, LPIPS and FID where they can run, and (`with_baselines`) the
    random-init encoder, `type(model)(model.config)` built under `torch.manual_seed(seed)` (the global random state
    is restored afterwards)."""
    try:
        ms_settings: MSSSIMSettings | None = ms_ssim_settings(int(model.config.image_size))
        ms_reason = None
    except ValueError as error:
        ms_settings, ms_reason = None, Unavailable(str(error))
    lpips_metric, lpips_reason = load_optional(lpips_status(), LPIPSMetric, device)
    fid_metric, fid_reason = load_optional(fid_status(), FIDMetric, device)
    random_model = None
    if with_baselines:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            random_model = type(model)(model.config).to(device).eval()
    return _Scorers(ms_settings, ms_reason, lpips_metric, lpips_reason, fid_metric, fid_reason, random_model)


def _test_pass(
    model: torch.nn.Module,
    dataset: Dataset | IterableDataset,
    scorers: _Scorers,
    batch_size: int,
    max_images: int | None,
    hole_ratio: float,
    hole_kinds: Sequence[str],
    seed: int,
    progress: bool,
) -> _TestPass:
    """Run the model over the test set (eval mode, its own device) and gather `_TestPass`; the first batch is run
    once more before the timed forward pass (a warm-up)."""
    device = next(model.parameters()).device
    state = _TestPass(holes={kind: {"model": {}, "mean_fill": {}} for kind in hole_kinds})
    batches = image_batches(dataset, batch_size, max_images, seed, state.skipped)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="evaluate", unit="batch")
    for pixel_values, batch_labels in batches:
        x = pixel_values.to(device)
        if state.num_images == 0:
            model(x)  # warm-up, not timed
        _sync(device)
        start = time.perf_counter()
        output = model(x)
        _sync(device)
        state.forward_seconds += time.perf_counter() - start
        _score_reconstruction(output.reconstruction.float(), x, scorers, state)
        _score_inpainting(model, x, hole_ratio, seed, state)
        state.latents.append(output.latents.float().cpu())
        state.labels.append(batch_labels)
        if scorers.random_model is not None:
            state.random_latents.append(scorers.random_model.encode(x).latents.flatten(1).float().cpu())
            state.raw.append(raw_pixel_features(pixel_values))
        state.num_images += x.shape[0]
    if state.num_images == 0:
        raise ValueError("the test dataset gave no images")
    return state


def _score_reconstruction(reconstruction: Tensor, x: Tensor, scorers: _Scorers, state: _TestPass) -> None:
    """Add one batch's reconstruction scores to `state` (and to LPIPS and FID)."""
    sums = state.sums
    sums["psnr"].append(psnr(reconstruction, x).cpu())
    sums["ssim"].append(ssim(reconstruction, x).cpu())
    if scorers.ms_settings is not None:
        sums["ms_ssim"].append(ms_ssim(reconstruction, x, settings=scorers.ms_settings).cpu())
    sums["mse"].append((reconstruction - x).double().square().flatten(1).mean(dim=1).cpu())
    sums["error"].append((reconstruction - x).double().mean(dim=(2, 3)).cpu())  # [B, C]
    sums["baseline"].append(mean_colour_psnr(x).cpu())
    if scorers.lpips is not None:
        scorers.lpips.update(x, reconstruction)
    if scorers.fid is not None:
        scorers.fid.update(x, reconstruction)


def _score_inpainting(model: torch.nn.Module, x: Tensor, hole_ratio: float, seed: int, state: _TestPass) -> None:
    """Add one batch's inpainting scores to `state`: the square hole of the `inpainting` section, then every hole
    kind of `state.holes`, filled by the model and by `mean_fill`."""
    indices = range(state.num_images, state.num_images + x.shape[0])
    mask = inpainting_masks(indices, x.shape[2], x.shape[3], hole_ratio, seed).to(x.device, x.dtype)
    filled = model.inpaint(x, mask).float()
    state.sums["hole"].append(hole_psnr(filled, x, mask).cpu())
    state.sums["all"].append(psnr(filled, x).cpu())
    for kind, fills in state.holes.items():
        mask = hole_masks(kind, indices, x.shape[2], x.shape[3], seed).to(x.device, x.dtype)
        for name, filled in (("model", model.inpaint(x, mask).float()), ("mean_fill", mean_fill(x, mask))):
            for score, values in hole_scores(filled, x, mask).items():
                fills[name].setdefault(score, []).append(values.cpu())


def _reconstruction_section(state: _TestPass, scorers: _Scorers) -> dict[str, Any]:
    sums = state.sums
    section: dict[str, Any] = {
        "psnr": _mean(sums["psnr"]),
        "ssim": _mean(sums["ssim"]),
        "ms_ssim": _mean(sums["ms_ssim"]) if scorers.ms_settings is not None else scorers.ms_reason,
        "mse": _mean(sums["mse"]),
        "mean_error": torch.cat(sums["error"]).mean(dim=0).tolist(),
        "per_image_mean_baseline_psnr": _mean(sums["baseline"]),
        "lpips": compute_optional(scorers.lpips, scorers.lpips_reason),
        "fid": compute_optional(scorers.fid, scorers.fid_reason),
    }
    if scorers.ms_settings is not None:
        section["ms_ssim_settings"] = asdict(scorers.ms_settings)
    return section


def _inpainting_sections(state: _TestPass, hole_ratio: float, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The `inpainting` section (the one square hole) and the `holes` section (every hole kind, model and floor)."""
    inpainting = {
        "hole_ratio": hole_ratio,
        "psnr_hole": _mean(state.sums["hole"]),
        "psnr_total": _mean(state.sums["all"]),
        "seed": seed,
        "mask": "one square hole per image (leae_hub.views.square_hole_mask), seeded by (seed, position of the image)",
    }
    holes: dict[str, Any] = {
        kind: {name: {score: _mean(values) for score, values in scores.items()} for name, scores in fills.items()}
        for kind, fills in state.holes.items()
    }
    holes["random_max_area"] = RANDOM_HOLE_MAX_AREA
    return inpainting, holes


def _collapse_section(test_latents: Tensor, seed: int) -> dict[str, Any]:
    """RankMe, the per-dimension standard deviations and the SIGReg statistic of the test latents [N, ...]."""
    flat = test_latents.flatten(1)
    collapse: dict[str, Any] = {
        "rankme": rankme(flat),
        "rankme_max": min(flat.shape),
        "latent_dim": flat.shape[1],
        "num_samples": flat.shape[0],
    }
    one_sample = Unavailable("one test image: no standard deviation")
    collapse.update(
        feature_std(flat) if flat.shape[0] > 1 else dict.fromkeys(("std_min", "std_mean", "std_max"), one_sample)
    )
    collapse["sigreg"] = sigreg_value(test_latents, batch_size=128, seed=seed)
    collapse["sigreg_batch_size"] = min(128, flat.shape[0])
    return collapse


def _model_section(model: torch.nn.Module, state: _TestPass) -> dict[str, Any]:
    device = next(model.parameters()).device
    seconds = state.forward_seconds
    return {
        "name_or_path": getattr(model, "name_or_path", "") or "",
        "parameters": sum(p.numel() for p in model.parameters()),
        "compression_ratio": float(model.compression_ratio),
        "latent_shape": list(model.latent_shape),
        "image_size": int(model.config.image_size),
        "in_channels": int(model.config.in_channels),
        "eval_images_per_s": state.num_images / seconds if seconds > 0 else Unavailable("no timing"),
        "eval_device": str(device),
    }


def _data_section(
    dataset_test: Dataset | IterableDataset,
    dataset_train: Dataset | IterableDataset | None,
    data_spec: str | None,
    split: str | None,
    train_split: str | None,
    state: _TestPass,
    num_train: int | None,
) -> dict[str, Any]:
    """What was evaluated: the data spec and splits (given, or read from the datasets) and the image counts."""
    return {
        "spec": data_spec if data_spec is not None else getattr(dataset_test, "spec", type(dataset_test).__name__),
        "split": split if split is not None else getattr(dataset_test, "split", None),
        "num_images": state.num_images,
        "num_unreadable_skipped": len(state.skipped),
        "train_split": train_split if train_split is not None else getattr(dataset_train, "split", None),
        "num_train_images": num_train,
    }


@torch.inference_mode()
def evaluate_model(
    model: torch.nn.Module,
    dataset_test: Dataset | IterableDataset,
    dataset_train: Dataset | IterableDataset | None = None,
    *,
    batch_size: int = 256,
    max_images: int | None = None,
    max_train_images: int | None = None,
    hole_ratio: float = 0.35,
    hole_kinds: Sequence[str] = HOLE_KINDS,
    seed: int = 0,
    representation: bool = True,
    data_spec: str | None = None,
    split: str | None = None,
    train_split: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Evaluate a `LeaeModel` on a test set (and a train set for the representation metrics); a JSON-able dict.

    The model runs in eval mode (running batch-norm statistics) under `torch.inference_mode()`, on its own device.
    `max_images` / `max_train_images` take a seeded random subset (in index order) of a map-style dataset, or the
    first items of a stream. Sections of the result (a metric that cannot be computed, or is not finite, is absent and
    its reason is under `unavailable`, keyed by its dotted path: see `split_unavailable` and `metric`):

    - `reconstruction`: mean over images of `psnr` (dB), `ssim`, `ms_ssim` (settings in `ms_ssim_settings`, given
      under `ms_ssim_settings`), `mse`, `mean_error` (per channel, the signed mean of x̂ − x over every test pixel: a
      colour or brightness shift shared by all images), `per_image_mean_baseline_psnr` (predicting every pixel as the
      image's own mean colour: the trivial baseline), `lpips` and `fid` (only from local weights; see `lpips_status`,
      `fid_status`).
    - `inpainting`: `model.inpaint` on one square hole per image (`square_hole_mask`, area `hole_ratio`, placed by
      `seed` and the image's position in the evaluated sequence: `inpainting_masks`): `psnr_hole` (inside the hole)
      and `psnr_total` (over the whole image, known pixels pasted back).
    - `holes`: for each of `hole_kinds` (`HOLE_KINDS`: centred squares of 10, 25 and 35 % of the area, seeded random
      holes; masks from `hole_masks`), `model` and `mean_fill` (the hole filled with the visible pixels' mean colour,
      `mean_fill`: the floor), each with `psnr_hole`, `ssim_hole`, `psnr_total`, `ssim_total` (`hole_scores`).
    - `representation` (labels ≥ 0 of at least two classes in both splits, and a train set given; otherwise absent,
      with the reason; `labels` says what the labels are, e.g. UTKFace's gender): cosine
      `knn_top1` for k = 5 and 20 and a
      `linear_probe` on the flattened latents of the train set, and the same for two `baselines`: `raw_pixels`
      (images area-downsampled to at most 32×32) and `random_init_encoder` (`type(model)(model.config)` built under
      `torch.manual_seed(seed)`).
    - `collapse` (latents of the test set, flattened to [N, D]): `rankme` (≤ min(N, D)), `latent_dim`, `std_min`,
      `std_mean`, `std_max` (per-dimension standard deviations), `sigreg` (`sigreg_value`, batches of 128).
    - `model`: `parameters`, `compression_ratio` (input values / latent values), `latent_shape`, `image_size`,
      `in_channels`, `eval_images_per_s` (model forward passes only, at `batch_size`, on `device`).
    - `data`: `spec`, `split`, `num_images`, `train_split`, `num_train_images`; `evaluation`: the settings.
    """
    _check_settings(hole_ratio, hole_kinds, batch_size)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    scorers = _scorers(model, device, representation and dataset_train is not None, seed)
    state = _test_pass(model, dataset_test, scorers, batch_size, max_images, hole_ratio, hole_kinds, seed, progress)
    reconstruction = _reconstruction_section(state, scorers)
    inpainting, holes = _inpainting_sections(state, hole_ratio, seed)
    test_latents = torch.cat(state.latents)  # [N, ...] as the model gives them
    collapse = _collapse_section(test_latents, seed)
    representation_section, num_train = _representation(
        model,
        scorers.random_model,
        dataset_train,
        representation,
        test_latents.flatten(1),
        torch.cat(state.random_latents) if state.random_latents else None,
        torch.cat(state.raw) if state.raw else None,
        torch.cat(state.labels),
        batch_size,
        max_train_images,
        seed,
        device,
        progress,
    )
    model.train(was_training)
    result = {
        "reconstruction": reconstruction,
        "inpainting": inpainting,
        "holes": holes,
        "representation": representation_section,
        "collapse": collapse,
        "model": _model_section(model, state),
        "data": _data_section(dataset_test, dataset_train, data_spec, split, train_split, state, num_train),
        "evaluation": {
            "seed": seed,
            "batch_size": batch_size,
            "leae_hub_version": _version(),
            "torch_version": torch.__version__,
        },
    }
    return jsonable(split_unavailable(result))


def _representation(
    model: torch.nn.Module,
    random_model: torch.nn.Module | None,
    dataset_train: Dataset | IterableDataset | None,
    enabled: bool,
    test_latents: Tensor,
    test_random: Tensor | None,
    test_raw: Tensor | None,
    test_labels: Tensor,
    batch_size: int,
    max_train_images: int | None,
    seed: int,
    device: torch.device,
    progress: bool = False,
) -> tuple[dict[str, Any] | Unavailable, int | None]:
    if not enabled:
        return Unavailable("disabled (representation=False / --no_representation)"), None
    if dataset_train is None or random_model is None or test_random is None or test_raw is None:
        return Unavailable("no train split given (pass dataset_train / --train_split)"), None
    test_known = test_labels >= 0
    if not test_known.any():
        return Unavailable("no labels in the test split"), None
    if test_labels[test_known].unique().numel() < 2:
        only = int(test_labels[test_known][0])
        return Unavailable(f"no labels (every test image has label {only}: one class, nothing to classify)"), None
    train, train_labels = _encode_set(
        {"model": model, "random_init_encoder": random_model},
        dataset_train,
        batch_size,
        max_train_images,
        seed,
        device,
        progress,
    )
    train_known = train_labels >= 0
    num_train = int(train_labels.shape[0])
    if train_labels[train_known].unique().numel() < 2:
        return Unavailable("no labels in the train split (none, or a single class)"), num_train
    train_labels, test_labels_known = train_labels[train_known], test_labels[test_known]
    test_sets = {"model": test_latents, "random_init_encoder": test_random, "raw_pixels": test_raw}
    results = {
        name: _probe(
            train[name][train_known], train_labels, test_sets[name][test_known], test_labels_known, KNN_KS, seed
        )
        for name in test_sets
    }
    section = {
        "features": "flattened encoder latents (eval-mode batch norm)",
        "labels": getattr(dataset_train, "label_description", "the data source's labels"),
        "num_train": int(train_known.sum()),
        "num_test": int(test_known.sum()),
        "num_classes": int(max(train_labels.max(), test_labels_known.max())) + 1,
        **results["model"],
        "baselines": {
            "raw_pixels": {**results["raw_pixels"], "feature_dim": int(test_raw.shape[1])},
            "random_init_encoder": results["random_init_encoder"],
        },
    }
    return section, num_train


def _version() -> str:
    try:
        return importlib.metadata.version("leae-hub")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
