"""Metrics against known values, the evaluation orchestrator, and `training/evaluate.py` end to end."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_config
from PIL import Image

import leae_hub
from leae_hub.data import build_dataset
from leae_hub.evaluation import (
    HOLE_KINDS,
    MS_SSIM_WEIGHTS,
    MSSSIMSettings,
    Unavailable,
    evaluate_model,
    feature_std,
    hole_masks,
    hole_psnr,
    hole_scores,
    hole_ssim,
    inpainting_masks,
    jsonable,
    knn_accuracy,
    linear_probe_accuracy,
    mean_fill,
    metric,
    ms_ssim,
    ms_ssim_settings,
    psnr,
    rankme,
    sample_grid,
    schema,
    sigreg_value,
    split_unavailable,
    ssim,
)

REPO_ROOT = Path(__file__).resolve().parents[1]

# Every field the issue asks for, section by section.
REQUIRED_FIELDS = {
    "reconstruction": {"psnr", "ssim", "ms_ssim", "per_image_mean_baseline_psnr", "lpips", "fid"},
    "inpainting": {"hole_ratio", "psnr_hole", "psnr_total", "seed"},
    "collapse": {"rankme", "latent_dim", "std_min", "std_mean", "std_max", "sigreg"},
    "model": {"parameters", "compression_ratio", "latent_shape", "image_size", "eval_images_per_s"},
    "data": {"spec", "split", "num_images"},
}
REPRESENTATION_FIELDS = {"features", "labels", "knn_top1", "linear_probe", "baselines"}


pytestmark = pytest.mark.usefixtures("one_thread")


def images(batch: int = 4, channels: int = 3, size: int = 32, seed: int = 0, low: float = 0.0, high: float = 1.0):
    generator = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(batch, channels, size, size, generator=generator)


def noisy(x: torch.Tensor, amplitude: float, seed: int = 1) -> torch.Tensor:
    """x ± amplitude at every value (random signs): MSE = amplitude² exactly when no value leaves [0, 1]."""
    signs = torch.randint(0, 2, x.shape, generator=torch.Generator().manual_seed(seed)).double() * 2 - 1
    return x.double() + amplitude * signs


def assert_every_field(metrics: dict, representation: bool = True) -> None:
    reasons = metrics.get("unavailable", {})
    for section, fields in REQUIRED_FIELDS.items():
        missing = {field for field in fields - set(metrics[section]) if f"{section}.{field}" not in reasons}
        assert not missing, (section, missing)
    if representation:
        section = metrics["representation"]
        assert REPRESENTATION_FIELDS <= set(section)
        assert set(section["knn_top1"]) == {"5", "20"}
        assert set(section["baselines"]) == {"raw_pixels", "random_init_encoder"}
        for baseline in section["baselines"].values():
            assert {"knn_top1", "linear_probe"} <= set(baseline)
    for name in ("lpips", "fid"):
        value = metrics["reconstruction"].get(name)
        assert isinstance(value, float) != (f"reconstruction.{name}" in reasons), (value, reasons)
    assert_numbers_or_absent(metrics)
    json.dumps(metrics, allow_nan=False)  # strict JSON: no inf / NaN left


def assert_numbers_or_absent(value, path: str = "") -> None:
    """Every metric is a finite number (or a section, list, or the few descriptive strings); never a reason."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key != "unavailable":
                assert_numbers_or_absent(item, f"{path}.{key}")
    elif isinstance(value, float):
        assert math.isfinite(value), path
    elif isinstance(value, str):
        assert not value.startswith("unavailable") and value not in ("inf", "-inf", "nan"), (path, value)


def assert_close_values(actual, expected, path: str = "") -> None:
    """Equal structure; numbers equal to 1e-5 relative (float32 convolutions vary with the batch size), the rest
    exactly."""
    if isinstance(expected, dict):
        assert set(actual) == set(expected), path
        for key in expected:
            assert_close_values(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, float) or (isinstance(expected, list) and all(isinstance(v, float) for v in expected)):
        assert actual == pytest.approx(expected, rel=1e-5), path
    else:
        assert actual == expected, path


# ---------------------------------------------------------------------------------------------------- PSNR


def test_psnr_of_identical_images_is_inf_without_warnings():
    x = images()
    y = x.clone()
    y[1] = 1 - y[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = psnr(x, y)
    assert values.shape == (4,) and values.dtype == torch.float64
    assert values[0] == math.inf and values[2] == math.inf and values[3] == math.inf
    assert math.isfinite(values[1])
    assert jsonable({"psnr": values[0]}) == {"psnr": "inf"}
    assert float(jsonable(values[0])) == math.inf


@pytest.mark.parametrize("amplitude", [0.1, 0.01, 0.05])
def test_psnr_of_a_fixed_noise_level_is_analytic(amplitude):
    x = images(low=0.2, high=0.8)
    y = noisy(x, amplitude)
    expected = 10 * math.log10(1 / amplitude**2)  # 20 dB at 0.1, 40 dB at 0.01
    torch.testing.assert_close(psnr(x, y), torch.full((4,), expected, dtype=torch.float64), rtol=0, atol=1e-9)
    # data_range scales the peak: the same noise on 0..255 images gives the same PSNR.
    torch.testing.assert_close(psnr(x.double() * 255, y * 255, data_range=255.0), psnr(x, y), rtol=0, atol=1e-9)


def test_hole_psnr_inside_and_over_the_whole_image():
    x = images(batch=3, low=0.2, high=0.8)
    mask = inpainting_masks(range(3), 32, 32, 0.25, seed=0)  # 16×16 holes
    assert torch.equal(mask.flatten(1).sum(1), torch.full((3,), 256.0))
    y = x.double() + (noisy(x, 0.1) - x.double()) * mask  # errors of 0.1 inside the hole only
    torch.testing.assert_close(hole_psnr(y, x, mask), torch.full((3,), 20.0, dtype=torch.float64))
    # over the whole image the MSE is diluted by the hole fraction 1/4: + 10·log10(4) dB
    torch.testing.assert_close(psnr(y, x.double()), torch.full((3,), 20 + 10 * math.log10(4), dtype=torch.float64))
    assert torch.isinf(hole_psnr(x, x, mask)).all()
    with pytest.raises(ValueError, match="empty"):
        hole_psnr(x, y, torch.zeros_like(mask))
    with pytest.raises(ValueError, match="shape"):
        hole_psnr(x, y, mask[:, :, :8])


def test_inpainting_masks_do_not_depend_on_batching():
    whole = inpainting_masks(range(10), 32, 32, 0.35, seed=3)
    parts = torch.cat(
        [inpainting_masks(range(4), 32, 32, 0.35, seed=3), inpainting_masks(range(4, 10), 32, 32, 0.35, 3)]
    )
    assert torch.equal(whole, parts)
    assert not torch.equal(whole, inpainting_masks(range(10), 32, 32, 0.35, seed=4))
    side = round(math.sqrt(0.35) * 32)
    assert torch.equal(whole.flatten(1).sum(1), torch.full((10,), float(side * side)))


def test_hole_masks_of_each_kind():
    centre = hole_masks("centre-25", range(3), 32, 32, seed=0)
    assert torch.equal(centre.flatten(1).sum(1), torch.full((3,), 256.0)) and centre[0, 0, 8:24, 8:24].all()
    random = hole_masks("random", range(6), 32, 32, seed=0)
    assert torch.equal(random, torch.cat([hole_masks("random", [i], 32, 32, seed=0) for i in range(6)]))
    assert not torch.equal(random[0], random[1]) and (random.flatten(1).sum(1) > 0).all()
    with pytest.raises(ValueError, match="hole kind"):
        hole_masks("centre-50", range(2), 32, 32, seed=0)


def test_hole_ssim_and_mean_fill_floor():
    x = images(batch=3, low=0.2, high=0.8)
    mask = hole_masks("centre-25", range(3), 32, 32, seed=0)
    torch.testing.assert_close(hole_ssim(x, x, mask), torch.ones(3, dtype=torch.float64))
    y = x.double() + (noisy(x, 0.2) - x.double()) * mask  # damage inside the hole only
    assert (hole_ssim(y, x, mask) < 0.9).all()
    assert (hole_ssim(y, x, 1 - mask) > hole_ssim(y, x, mask)).all()  # outside, only windows that reach the hole
    filled = mean_fill(x, mask)
    torch.testing.assert_close(filled * (1 - mask), x * (1 - mask))
    visible = (x * (1 - mask)).sum(dim=(2, 3)) / (1 - mask).sum(dim=(2, 3))
    torch.testing.assert_close(filled[:, :, 16, 16], visible)
    scores = hole_scores(filled, x, mask)
    assert set(scores) == {"psnr_hole", "ssim_hole", "psnr_total", "ssim_total"}
    assert (scores["psnr_total"] > scores["psnr_hole"]).all()  # the known pixels dilute the error
    with pytest.raises(ValueError, match="empty"):
        hole_ssim(x, y, torch.zeros_like(mask))


# ---------------------------------------------------------------------------------------------------- SSIM


def test_ssim_of_identical_images_is_one():
    x = images()
    torch.testing.assert_close(ssim(x, x), torch.ones(4, dtype=torch.float64))
    constant = torch.full((2, 1, 16, 16), 0.3)  # zero variance: the constants C1, C2 keep it defined
    torch.testing.assert_close(ssim(constant, constant), torch.ones(2, dtype=torch.float64))


def test_ssim_matches_scikit_image():
    metrics = pytest.importorskip("skimage.metrics")
    x = images(batch=3, size=40)
    y = noisy(x, 0.1).clamp(0, 1).float()
    ours = ssim(x, y)
    for i in range(3):
        reference = metrics.structural_similarity(
            x[i].double().numpy(),
            y[i].double().numpy(),
            data_range=1.0,
            channel_axis=0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        assert ours[i].item() == pytest.approx(reference, abs=1e-9)


def test_ssim_decreases_with_noise_and_rejects_small_images():
    x = images(low=0.2, high=0.8)
    values = [ssim(x, noisy(x, a)).mean().item() for a in (0.01, 0.05, 0.2)]
    assert 1 > values[0] > values[1] > values[2]
    with pytest.raises(ValueError, match="smaller than the 11×11"):
        ssim(images(size=8), images(size=8))


# ---------------------------------------------------------------------------------------------------- MS-SSIM


def test_ms_ssim_settings_for_the_zoo_sizes():
    assert ms_ssim_settings(256) == MSSSIMSettings(11, 1.5, 5, MS_SSIM_WEIGHTS)
    assert ms_ssim_settings(161).scales == 5  # the classic minimum (ceil-halving: 161 → 81 → 41 → 21 → 11)
    expected = {128: (11, 1.5, 4), 64: (11, 1.5, 3), 32: (7, 1.0, 3), 28: (7, 1.0, 3)}
    for size, (kernel, sigma, scales) in expected.items():
        settings = ms_ssim_settings(size)
        assert (settings.kernel_size, settings.sigma, settings.scales) == (kernel, sigma, scales), size
        assert sum(settings.weights) == pytest.approx(1.0)
        ratios = [w / settings.weights[0] for w in settings.weights]  # the standard relative weights
        assert ratios == pytest.approx([w / MS_SSIM_WEIGHTS[0] for w in MS_SSIM_WEIGHTS[:scales]])
    with pytest.raises(ValueError, match="at least 25 px"):
        ms_ssim_settings(24)


@pytest.mark.parametrize("size", [32, 64, 128])
def test_ms_ssim_of_identical_images_is_one(size):
    x = images(batch=2, size=size)
    torch.testing.assert_close(ms_ssim(x, x), torch.ones(2, dtype=torch.float64))
    y = noisy(x, 0.1).clamp(0, 1)
    assert (ms_ssim(x, y) < 1).all()


def test_ms_ssim_with_one_scale_is_ssim_and_decreases_with_noise():
    x = images(low=0.2, high=0.8, size=64)
    y = noisy(x, 0.1)
    torch.testing.assert_close(ms_ssim(x, y, settings=MSSSIMSettings(11, 1.5, 1, (1.0,))), ssim(x, y))
    values = [ms_ssim(x, noisy(x, a)).mean().item() for a in (0.01, 0.05, 0.2)]
    assert 1 > values[0] > values[1] > values[2] > 0


# ---------------------------------------------------------------------------------------------------- representation


def clusters(per_class: int, dim: int = 16, classes: int = 4, seed: int = 0):
    """Well separated Gaussian clusters: centres of norm 10 in random directions, unit noise."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.nn.functional.normalize(torch.randn(classes, dim, generator=generator), dim=1) * 10
    features = centres.repeat_interleave(per_class, 0) + 0.5 * torch.randn(
        classes * per_class, dim, generator=generator
    )
    return features, torch.arange(classes).repeat_interleave(per_class)


def test_knn_on_separable_clusters_is_perfect():
    train, train_labels = clusters(50, seed=0)
    test, test_labels = clusters(20, seed=0)  # same centres, fresh noise
    test = test + 0.1 * torch.randn(test.shape, generator=torch.Generator().manual_seed(5))
    assert knn_accuracy(train, train_labels, test, test_labels) == {5: 1.0, 20: 1.0}
    assert knn_accuracy(train, train_labels, test, (test_labels + 1) % 4, k=5) == {5: 0.0}
    with pytest.raises(ValueError, match="every k"):
        knn_accuracy(train[:10], train_labels[:10], test, test_labels, k=20)
    with pytest.raises(ValueError, match="negative"):
        knn_accuracy(train, train_labels - 1, test, test_labels)


def test_knn_ties_are_broken_by_summed_similarity():
    train = torch.eye(2)  # one sample of class 0 along e1, one of class 1 along e2
    labels = torch.tensor([0, 1])
    test = torch.tensor([[0.9, 0.1], [0.2, 0.8]])  # each closer to its own class; k = 2 sees one vote per class
    assert knn_accuracy(train, labels, test, torch.tensor([0, 1]), k=2, batch_size=1) == {2: 1.0}


def test_linear_probe_on_separable_clusters_is_perfect_and_deterministic():
    train, train_labels = clusters(50, dim=32)
    test, test_labels = clusters(20, dim=32, seed=0)
    first = linear_probe_accuracy(train, train_labels, test, test_labels)
    assert first == 1.0
    assert linear_probe_accuracy(train, train_labels, test, test_labels) == first
    with torch.inference_mode():  # evaluate_model calls it with inference tensors
        assert linear_probe_accuracy(train.clone(), train_labels.clone(), test, test_labels) == first


# ---------------------------------------------------------------------------------------------------- collapse


def test_rankme_of_an_isotropic_gaussian_and_of_a_rank_one_matrix():
    generator = torch.Generator().manual_seed(0)
    dim = 64
    gaussian = torch.randn(20_000, dim, generator=generator)
    assert rankme(gaussian) == pytest.approx(dim, rel=0.01)
    rank_one = torch.randn(1_000, 1, generator=generator) @ torch.randn(1, dim, generator=generator)
    assert rankme(rank_one) == pytest.approx(1.0, abs=0.01)
    # spatial latents are flattened: [N, 4, 2, 2] is a 16-dimensional set
    assert rankme(torch.randn(20_000, 4, 2, 2, generator=generator)) == pytest.approx(16, rel=0.01)


def test_feature_std_and_sigreg_value():
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(4_000, 8, generator=generator) * torch.tensor([0.5, 1, 1, 1, 1, 1, 1, 2.0])
    std = feature_std(z)
    assert std["std_min"] == pytest.approx(0.5, rel=0.05) and std["std_max"] == pytest.approx(2.0, rel=0.05)
    assert 0.8 < sigreg_value(torch.randn(1_024, 16, generator=generator)) < 1.4  # ≈ 1.05 for N(0, I)
    assert sigreg_value(torch.zeros(256, 16)) == pytest.approx(0.40 * 128, rel=0.02)  # collapsed: ≈ 0.40·N
    spatial = torch.randn(256, 8, 3, 3, generator=generator)  # each location is its own N(0, I) set
    assert 0.8 < sigreg_value(spatial) < 1.4
    assert sigreg_value(spatial) == sigreg_value(spatial)  # fixed directions


def test_split_unavailable_moves_reasons_and_non_finite_numbers_out():
    result = {
        "reconstruction": {"psnr": math.inf, "ssim": torch.tensor(0.5), "lpips": Unavailable("no weights")},
        "representation": {"knn_top1": {"5": 0.9, "20": Unavailable("only 10 training samples")}},
        "model": {"name": "x"},
    }
    split = split_unavailable(result)
    assert split["reconstruction"] == {"ssim": 0.5}
    assert split["representation"] == {"knn_top1": {"5": 0.9}}
    assert split["unavailable"] == {
        "reconstruction.psnr": "inf is not a finite number",
        "reconstruction.lpips": "no weights",
        "representation.knn_top1.20": "only 10 training samples",
    }
    assert metric(split, "representation.knn_top1.20") == Unavailable("only 10 training samples")
    assert metric(split, ("representation", "knn_top1", "5")) == 0.9
    assert "unavailable" not in split_unavailable({"a": {"b": 1.0}})


def test_jsonable_makes_strict_json():
    value = {"a": torch.tensor(1.5), "b": (float("inf"), -math.inf, math.nan), 3: torch.tensor([1, 2])}
    assert jsonable(value) == {"a": 1.5, "b": ["inf", "-inf", "nan"], "3": [1, 2]}
    json.dumps(jsonable(value), allow_nan=False)


# ---------------------------------------------------------------------------------------------------- orchestrator


def tiny_model(seed: int = 123) -> leae_hub.LeaeModel:
    torch.manual_seed(seed)  # differs from the random-init baseline, which is built under the evaluation seed
    return leae_hub.LeaeModel(tiny_config()).eval()


class Unlabelled(torch.utils.data.Dataset):
    def __init__(self, length: int = 8) -> None:
        self.data = build_dataset("synthetic-shapes", split="test", image_size=32)
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        return {"pixel_values": self.data[index]["pixel_values"], "labels": torch.tensor(-1)}


class OneClass(Unlabelled):
    """Every image labelled 0, like a face set's single `face` folder."""

    def __getitem__(self, index: int) -> dict:
        return {"pixel_values": self.data[index]["pixel_values"], "labels": torch.tensor(0)}


def test_evaluate_model_gives_every_field_as_strict_json():
    model = tiny_model()
    test = build_dataset("synthetic-shapes", split="test", image_size=32)
    train = build_dataset("synthetic-shapes", split="train", image_size=32)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    metrics = evaluate_model(model, test, train, batch_size=16, max_images=40, max_train_images=64, seed=0)
    assert_every_field(metrics)
    assert metrics["data"]["num_images"] == 40 and metrics["data"]["num_train_images"] == 64
    assert metrics["representation"]["num_classes"] == 4
    assert metrics["model"]["parameters"] == sum(p.numel() for p in model.parameters())
    assert metrics["model"]["compression_ratio"] == model.compression_ratio == 3 * 32 * 32 / (8 * 4 * 4)
    assert metrics["model"]["latent_shape"] == [8, 4, 4]
    assert metrics["collapse"]["latent_dim"] == 128 and metrics["collapse"]["rankme_max"] == 40
    assert metrics["reconstruction"]["ms_ssim_settings"]["kernel_size"] == 7
    assert not model.training and all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    # Deterministic and independent of the batch size (apart from the timing).
    again = evaluate_model(model, test, None, batch_size=7, max_images=40, seed=0)
    for section in ("reconstruction", "inpainting", "holes", "collapse"):
        assert_close_values(again[section], metrics[section])
    assert set(metrics["holes"]) == {"centre-10", "centre-25", "centre-35", "random", "random_max_area"}
    centre = metrics["holes"]["centre-25"]
    assert set(centre) == {"model", "mean_fill"}
    assert centre["model"]["psnr_total"] > centre["model"]["psnr_hole"]


def test_every_metric_of_the_schema_names_a_path_of_the_result():
    """The metric schema and `evaluate_model` agree: every declared path holds a value or the reason it is missing,
    for every hole kind and fill and every representation source; model-index types are unique."""
    model = tiny_model()
    test = build_dataset("synthetic-shapes", split="test", image_size=32)
    train = build_dataset("synthetic-shapes", split="train", image_size=32)
    metrics = evaluate_model(model, test, train, batch_size=16, max_images=16, max_train_images=32, seed=0)
    declared = [*schema.METRICS, schema.REPRESENTATION]
    declared += [
        schema.hole_metric(kind, fill, score)
        for kind in HOLE_KINDS
        for fill in schema.HOLE_FILLS
        for score in schema.HOLE_SCORES
    ]
    sources = schema.REPRESENTATION_SOURCES.values()
    declared += [score.under(source) for source in sources for score in schema.REPRESENTATION_SCORES]
    assert [item.path for item in declared if item.value(metrics) is None] == []
    types = [item.model_index.metric_type for item in schema.MODEL_INDEX if item.model_index is not None]
    assert len(types) == len(set(types)) == len(schema.MODEL_INDEX)


def test_mean_error_measures_a_shift_shared_by_all_images(monkeypatch):
    """A reconstruction x̂ = x/2 + 0.25 + 0.01·c is off by 0.25 + 0.01·c − mean(x)/2 in channel c, on average."""
    model = tiny_model()
    data = Unlabelled(length=12)
    offsets = torch.tensor([0.0, 0.01, 0.02]).view(1, 3, 1, 1)

    def shifted(pixel_values):
        return leae_hub.modeling_leae.LeaeModelOutput(
            reconstruction=pixel_values / 2 + 0.25 + offsets, latents=model.encoder(pixel_values)
        )

    monkeypatch.setattr(model, "forward", shifted)
    metrics = evaluate_model(model, data, None, batch_size=5)
    pixels = torch.stack([data[i]["pixel_values"] for i in range(12)]).double()
    expected = 0.25 + offsets.flatten().double() - pixels.mean(dim=(0, 2, 3)) / 2
    assert metrics["reconstruction"]["mean_error"] == pytest.approx(expected.tolist(), abs=1e-6)


def test_evaluate_model_says_why_representation_is_unavailable():
    model = tiny_model()
    test = build_dataset("synthetic-shapes", split="test", image_size=32)
    no_train = evaluate_model(model, test, None, batch_size=8, max_images=8)
    assert_every_field(no_train, representation=False)
    assert "representation" not in no_train
    assert no_train["unavailable"]["representation"].startswith("no train split")
    unlabelled = evaluate_model(model, Unlabelled(), Unlabelled(), batch_size=8)
    assert unlabelled["unavailable"]["representation"] == "no labels in the test split"
    one_class = evaluate_model(model, OneClass(), OneClass(), batch_size=8)
    assert one_class["unavailable"]["representation"].startswith("no labels (every test image has label 0")
    assert str(metric(one_class, "representation")).startswith("unavailable: no labels")
    disabled = evaluate_model(model, test, test, batch_size=8, max_images=8, representation=False)
    assert disabled["unavailable"]["representation"].startswith("disabled")
    assert metric(disabled, "collapse.rankme") == disabled["collapse"]["rankme"]
    assert metric(disabled, "reconstruction.no_such_metric") is None
    with pytest.raises(ValueError, match="hole_ratio"):
        evaluate_model(model, test, None, max_images=8, hole_ratio=0.0)


def test_sample_grid_has_four_rows():
    grid = sample_grid(
        tiny_model(), build_dataset("synthetic-shapes", split="test", image_size=32)[0]["pixel_values"][None]
    )
    assert grid.size == (32 + 4, 4 * 34 + 2) and grid.mode == "RGB"


def test_inpainting_figure_compares_models_on_the_same_holes(tmp_path):
    folders = []
    for seed in (1, 2):
        folder = tmp_path / f"model-{seed}"
        tiny_model(seed).save_pretrained(folder)
        leae_hub.LeaeImageProcessor(image_size=32).save_pretrained(folder)
        folders.append(str(folder))
    spec = importlib.util.spec_from_file_location("sample_grid_script", REPO_ROOT / "training" / "sample_grid.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    examples = REPO_ROOT / "spaces" / "leae-demo" / "examples"
    out = script.main(["--model", folders[0], "--compare", folders[1], "--images", str(examples), "--count", "3",
                       "--output", str(tmp_path / "figure.png")])  # fmt: skip
    grid = np.asarray(Image.open(out))
    assert grid.shape == (4 * 34 + 2, 3 * 34 + 2, 3)  # input, hole, two models; three faces
    rows = [grid[2 + 34 * r : 34 * (r + 1), 2:34].astype(int) for r in range(4)]
    hole = (rows[1] == 128).all(axis=2)  # the grey hole of the centred 25 % square
    assert hole[8:24, 8:24].all() and hole.sum() == 256
    assert np.array_equal(rows[2][~hole], rows[0][~hole]) and np.array_equal(rows[3][~hole], rows[0][~hole])
    assert not np.array_equal(rows[2][hole], rows[3][hole])


def test_results_tables_print_table_h_and_the_equal_step_curves(tmp_path):
    spec = importlib.util.spec_from_file_location("results_tables", REPO_ROOT / "training" / "results_tables.py")
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    model = tiny_model()
    dataset = build_dataset("synthetic-shapes", split="test", image_size=32)
    folders = []
    for name, offset in (("masked", 0.0), ("baseline", 1.0)):
        folder = tmp_path / name
        folder.mkdir()
        metrics = jsonable(evaluate_model(model, dataset, None, batch_size=8, max_images=8, seed=0))
        (folder / "eval.json").write_text(json.dumps(metrics))
        rows = [{"step": 5, "loss": 1.0}, {"step": 10, "eval_psnr": 20 + offset, "eval_hole_psnr": 15 + offset,
                "eval_hole_baseline_psnr": 14.0}]  # fmt: skip
        (folder / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
        final = {"steps": 20, "psnr": 22 + offset, "hole_psnr": 16 + offset, "hole_baseline_psnr": 14.0}
        (folder / "final_metrics.json").write_text(json.dumps(final))
        folders.append(folder)
    table = tables.holes_markdown(folders).splitlines()
    assert len(table) == 2 + 3 and table[-1].startswith("| mean-colour fill (floor) | – | – |")
    centre = metrics["holes"]["centre-25"]["model"]
    assert f"| {metrics['reconstruction']['psnr']:.2f} |" in table[2] and f"| {centre['psnr_hole']:.2f} |" in table[2]
    curves = tables.curves_markdown(folders).splitlines()
    assert curves[2:] == [
        "| 10 | 20.00 / 15.00 | 21.00 / 16.00 | 14.00 |",
        "| 20 | 22.00 / 16.00 | 23.00 / 17.00 | 14.00 |",
    ]


# ---------------------------------------------------------------------------------------------------- the CLI


@pytest.mark.slow
def test_evaluate_script_writes_every_field(tmp_path):
    model_dir = tmp_path / "model"
    tiny_model().save_pretrained(model_dir)
    out = tmp_path / "out" / "eval.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "training/evaluate.py",
        "--model", str(model_dir),
        "--data", "synthetic-shapes",
        "--max_images", "64",
        "--max_train_images", "64",
        "--batch_size", "32",
        "--json", str(out),
        "--sample_grid", str(tmp_path / "samples.png"),
        "--device", "cpu",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    metrics = json.loads(out.read_text())
    assert_every_field(metrics)
    assert metrics["data"] == {
        "spec": "synthetic-shapes",
        "split": "test",
        "num_images": 64,
        "num_unreadable_skipped": 0,
        "train_split": "train",
        "num_train_images": 64,
    }
    assert metrics["model"]["name_or_path"] == str(model_dir)
    assert [p.name for p in out.parent.iterdir()] == ["eval.json"]  # the temporary file is gone
    assert (tmp_path / "samples.png").is_file()
    assert "PSNR (dB)" in result.stdout and "RankMe" in result.stdout


def test_hole_depth_rings_cover_the_hole_and_bound_what_the_rim_sees(tmp_path):
    spec = importlib.util.spec_from_file_location("hole_depth", REPO_ROOT / "training" / "hole_depth.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    mask = leae_hub.views.centred_hole_mask(1, 32, 32, 0.25)[0, 0]  # a 16 × 16 hole
    depth = script.hole_depth(mask)
    assert depth[mask == 0].eq(0).all() and depth[mask == 1].min() == 1 and depth.max() == 8
    assert depth[8, 8:24].eq(1).all() and depth[15, 15] == 8  # the rim, the centre
    assert script.rings_of(depth, 3) == [(1, 3), (4, 6), (7, 8)]
    folder = tmp_path / "model"
    tiny_model().save_pretrained(folder)
    leae_hub.LeaeImageProcessor(image_size=32).save_pretrained(folder)
    out = script.main(["--model", str(folder), "--data", "synthetic-shapes", "--max_images", "6", "--ring", "4",
                       "--gradient_images", "2", "--json", str(tmp_path / "depth.json")])  # fmt: skip
    rings = out["models"][str(folder)]["rings"]
    assert [r["depth_px"] for r in rings] == [[1, 4], [5, 8]] and out["images"] == 6
    assert sum(r["area_share"] for r in rings) == pytest.approx(1.0, abs=1e-3)
    for ring in rings:
        assert ring["gain_db"] == pytest.approx(ring["psnr_model"] - ring["psnr_mean_fill"], abs=2e-3)
        assert 0 < ring["known_gradient_share"] < 1 and 1 <= ring["reach_px"] <= 31
    assert rings[0]["known_gradient_share"] > rings[1]["known_gradient_share"]  # deeper sees less of the known pixels
    assert json.loads((tmp_path / "depth.json").read_text())["models"][str(folder)]["rings"] == rings
