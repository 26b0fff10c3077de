"""The benchmark script runs and reports every figure, and the same-math fast paths keep the math."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import tiny_config

import leae_hub.speedups as speedups
from leae_hub import LeaeConfig, LeaeModel
from leae_hub.recipes import build_recipe
from leae_hub.regularizers import _CharacteristicSums
from leae_hub.speedups import disable_fast_path, enable_fast_path, encode_groups, fast_path, fast_path_enabled

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")

TRAINING_KEYS = ("img_per_s", "gflop_per_img", "gflops_per_s", "matmul_gflops_per_s", "fraction_of_peak", "peak_rss_mb")
INFERENCE_KEYS = (
    "inference_img_per_s_batch1",
    "inference_img_per_s_batch32",
    "inference_p50_latency_ms",
    "inference_gflops_per_s",
    "inference_fraction_of_peak",
)


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_benchmark_script_reports_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    command = [
        sys.executable,
        str(ROOT / "training" / "benchmark.py"),
        *("--recipe", "masked", "--preset", "leae-cifar", "--batch", "4", "--steps", "1", "--threads", "1"),
        *("--inference_seconds", "0.2", "--data_seconds", "0.2", "--no_isolate", "--json", str(out)),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-3000:]
    assert "| masked leae-cifar b4 32px |" in completed.stdout
    (case,) = json.loads(out.read_text())["cases"]
    assert "error" not in case, case.get("error")
    for key in TRAINING_KEYS + INFERENCE_KEYS:
        assert _positive(case[key]), f"{key} = {case.get(key)!r}"
    # The masked step at leae-cifar, 32 px: 0.98 GFLOP per image (matmuls and convolutions, forward and backward).
    assert 0.8 < case["gflop_per_img"] < 1.2
    assert case["gflops_per_s"] == pytest.approx(case["gflop_per_img"] * case["img_per_s"], rel=1e-6)
    assert case["fraction_of_peak"] == pytest.approx(case["gflops_per_s"] / case["matmul_gflops_per_s"], rel=1e-6)
    assert 0 < case["fraction_of_peak"] < 3 and 100 < case["peak_rss_mb"] < 16_000
    assert case["inference_img_per_s_batch32"] > 0 and case["threads"] == 1
    rates = case["data_img_per_s"]
    assert _positive(rates["synthetic-shapes"]) and case["data_img_per_s_synthetic_shapes"] == rates["synthetic-shapes"]
    assert _positive(rates["cifar10"]) or "cifar10" in case["data_skipped"]


def _train_two_steps(model, recipe_name, options, pixel_values):
    recipe = build_recipe(recipe_name, **options)
    optimizer = torch.optim.AdamW(recipe.trainable_parameters(model), lr=1e-3)
    losses, grads = [], None
    for step in range(2):
        out = recipe(model, {"pixel_values": pixel_values}, step)
        out.loss.backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        optimizer.step()
        optimizer.zero_grad()
        recipe.update(model, step)
        losses.append(out.loss.item())
    return losses, grads


@pytest.mark.parametrize(
    ("preset", "overrides"),
    [
        ("leae-cifar", {"hidden_channels": 16, "latent_channels": 8}),
        ("leae-11m", {"image_size": 32, "hidden_channels": 16, "pooled_map_channels": 32, "latent_channels": 16}),
    ],
    ids=["spatial", "pooled"],
)
@pytest.mark.parametrize(("recipe", "options"), [("masked", {}), ("self-teaching", {"judge": "ema"})])
def test_fast_kernels_keep_the_math(monkeypatch, preset, overrides, recipe, options):
    """Channels-last, the transposed up-conv, the shortcut pooling and the frozen-weight judge convs: same losses and
    gradients as the plain formulation, up to float rounding."""
    config = LeaeConfig.from_preset(preset, **overrides)
    pixel_values = torch.rand(4, 3, config.image_size, config.image_size)
    results = {}
    monkeypatch.setattr(speedups, "TRANSPOSED_CONV_MIN_PIXELS", 1)  # use it on the small maps of the test too
    for fast in (False, True):
        torch.manual_seed(0)
        model = LeaeModel(config).train()
        if fast:
            enable_fast_path(model)
        results[fast] = _train_two_steps(model, recipe, options, pixel_values)
    (plain_losses, plain_grads), (fast_losses, fast_grads) = results[False], results[True]
    assert fast_losses == pytest.approx(plain_losses, rel=1e-4)
    scale = max(grad.abs().max().item() for grad in plain_grads)  # some gradients are zero up to rounding
    for plain, fast in zip(plain_grads, fast_grads, strict=True):
        assert torch.allclose(fast, plain, rtol=1e-3, atol=1e-4 * scale)


def test_grouped_batch_norm_equals_separate_calls():
    """`groups` normalises each slice with its own statistics and updates the running ones once per slice, in order."""
    grouped, separate = enable_fast_path(LeaeModel(tiny_config()).train()), LeaeModel(tiny_config()).train()
    separate.load_state_dict(grouped.state_dict())
    first, second = torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32)
    together = encode_groups(grouped.encoder, torch.cat([first, second]), groups=2)
    apart = torch.cat([separate.encoder(first), separate.encoder(second)])
    assert torch.allclose(together, apart, atol=1e-5)
    for name, buffer in separate.encoder.latent_norm.named_buffers():
        assert torch.allclose(getattr(grouped.encoder.latent_norm, name), buffer, atol=1e-6), name
    judged = encode_groups(grouped.encoder, torch.cat([first, second]), norm_mode="batch", groups=2)
    assert torch.allclose(judged[:4], separate.encoder(first, norm_mode="batch"), atol=1e-5)
    plain = encode_groups(separate.encoder, torch.cat([first, second]), norm_mode="batch", groups=2)  # two calls
    assert torch.allclose(judged, plain, atol=1e-5)


def test_fast_path_is_a_per_instance_switch_that_keeps_the_weights(tmp_path):
    """enable/disable swap classes on one model only; state-dict keys, save_pretrained output and results stay."""
    torch.manual_seed(0)
    model, other = LeaeModel(tiny_config()).eval(), LeaeModel(tiny_config()).eval()
    keys, x = list(model.state_dict()), torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        plain = model(x).reconstruction
    enable_fast_path(model)
    assert fast_path_enabled(model) and not fast_path_enabled(other)
    assert type(other.decoder.head) is torch.nn.Conv2d and type(model.decoder.head) is not torch.nn.Conv2d
    assert list(model.state_dict()) == keys and isinstance(model.decoder.head, torch.nn.Conv2d)
    with torch.no_grad():
        assert torch.allclose(model(x).reconstruction, plain, atol=1e-5)
        with fast_path(model, enabled=False):
            assert not fast_path_enabled(model) and torch.equal(model(x).reconstruction, plain)
    assert fast_path_enabled(model)
    model.save_pretrained(tmp_path)
    loaded = LeaeModel.from_pretrained(tmp_path).eval()
    assert not fast_path_enabled(loaded)
    with torch.no_grad():
        assert torch.equal(loaded(x).reconstruction, plain)
    disable_fast_path(model)
    assert all(type(m).__module__ != "leae_hub.speedups" for m in model.modules())


@pytest.mark.parametrize(
    "knots", [torch.linspace(0, 3, 17), torch.tensor([0.0, 0.4, 1.5, 3.0])], ids=["even", "uneven"]
)
def test_characteristic_sums_match_the_direct_formula(knots):
    u = torch.randn(3, 20, 16, dtype=torch.float64, requires_grad=True)
    knots = knots.double()
    cos_sum, sin_sum = _CharacteristicSums.apply(u, knots)
    t_u = u.unsqueeze(-1) * knots
    assert torch.allclose(cos_sum, t_u.cos().sum(-3)) and torch.allclose(sin_sum, t_u.sin().sum(-3))
    weights = torch.rand(2, *cos_sum.shape, dtype=torch.float64)
    (grad,) = torch.autograd.grad((weights[0] * cos_sum + weights[1] * sin_sum).sum(), u)
    (expected,) = torch.autograd.grad((weights[0] * t_u.cos().sum(-3) + weights[1] * t_u.sin().sum(-3)).sum(), u)
    assert torch.allclose(grad, expected)
