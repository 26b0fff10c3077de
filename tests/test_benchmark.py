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
from leae_hub import LeaeConfig, LeaeModel, hardware, regularizers
from leae_hub.evaluation import ssim
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


@pytest.mark.slow
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
    assert case["cpu_isa"]["isa"] in hardware.ISA_LEVELS  # the ISA the step ran on, with its caps
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


@pytest.mark.parametrize("block_values", [1 << 16, 24, 640], ids=["one-block", "sample-blocks", "location-blocks"])
@pytest.mark.parametrize(
    "knots",
    [torch.linspace(0, 3, 17), torch.linspace(0.5, 3, 6), torch.tensor([0.0, 0.4, 1.5, 3.0]), torch.tensor([1.0])],
    ids=["quadrature", "even-from-0.5", "uneven", "one"],
)
def test_characteristic_sums_match_the_direct_formula(knots, block_values, monkeypatch):
    """Blocked Chebyshev recurrence (or direct cos/sin for uneven knots) = the [..., K, N, S] formula, values and
    gradients, also when the blocks cut the sample axis (24 values: 3 of 20 samples) or group locations with a
    smaller last block (640 values: 4 locations of 20·8, then the last 2)."""
    monkeypatch.setattr(regularizers, "_BLOCK_VALUES", block_values)
    u = (3 * torch.randn(2, 3, 20, 8, dtype=torch.float64)).requires_grad_()
    knots = knots.double()
    cos_sum, sin_sum = _CharacteristicSums.apply(u, knots)
    t_u = knots[:, None, None] * u.unsqueeze(-3)  # [..., K, N, S]
    assert torch.allclose(cos_sum, t_u.cos().sum(-2)) and torch.allclose(sin_sum, t_u.sin().sum(-2))
    weights = torch.rand(2, *cos_sum.shape, dtype=torch.float64)
    (grad,) = torch.autograd.grad((weights[0] * cos_sum + weights[1] * sin_sum).sum(), u)
    (expected,) = torch.autograd.grad((weights[0] * t_u.cos().sum(-2) + weights[1] * t_u.sin().sum(-2)).sum(), u)
    assert torch.allclose(grad, expected)


# ------------------------------------------------------------------------------- plain reference and time to PSNR

sys.path.insert(0, str(ROOT / "training"))
import benchmark  # noqa: E402
from plain_reference import PlainStep, plain_sigreg, plain_ssim  # noqa: E402


@pytest.mark.parametrize(
    ("recipe", "options"),
    [("masked", {}), ("self-teaching", {}), ("self-teaching", {"judge": "ema", "num_crops": 2})],
    ids=["masked", "self-teaching", "self-teaching-ema-2-crops"],
)
def test_plain_reference_is_the_same_math_as_the_shipped_step(recipe, options):
    """The plain formulation (plain model, separate judge calls, direct SIGReg) and the shipped recipe with the fast
    path train the same way: same losses and gradients over two steps, up to float rounding."""
    pixel_values = torch.rand(4, 3, 32, 32)
    results = {}
    for plain in (True, False):
        torch.manual_seed(0)
        model = LeaeModel(tiny_config()).train()
        shipped = build_recipe(recipe, **options)
        objective = PlainStep(shipped) if plain else shipped
        if not plain:
            enable_fast_path(model)
        optimizer = torch.optim.AdamW(list(shipped.trainable_parameters(model)), lr=1e-3)
        losses = []
        for step in range(2):
            out = objective(model, {"pixel_values": pixel_values}, step)
            out.loss.backward()
            grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
            optimizer.step()
            optimizer.zero_grad()
            objective.update(model, step)
            losses.append(out.loss.item())
        results[plain] = losses, grads
    (plain_losses, plain_grads), (fast_losses, fast_grads) = results[True], results[False]
    assert fast_losses == pytest.approx(plain_losses, rel=1e-4)
    scale = max(grad.abs().max().item() for grad in plain_grads)
    for plain, fast in zip(plain_grads, fast_grads, strict=True):
        assert torch.allclose(fast, plain, rtol=1e-3, atol=1e-4 * scale)


def test_benchmark_times_the_trainers_own_step(monkeypatch):
    """A case's step, and the plain reference's, is `leae train`'s: the trainer's `TrainStep`, trainable mask,
    optimiser and schedule, taken by its `optimizer_step` with `TrainArguments`' gradient clipping."""
    import benchmark_step

    from leae_hub.trainer import TrainArguments, loop

    norms = []

    def recorded(parts, batch, micro_step, max_grad_norm):
        norms.append(max_grad_norm)
        return loop.optimizer_step(parts, batch, micro_step, max_grad_norm)

    monkeypatch.setattr(benchmark_step, "optimizer_step", recorded)
    case = {"recipe": "jepa", "preset": "leae-cifar", "image_size": 32, "batch": 2, "options": {}}
    case |= {"plain_kernels": False, "compile": False, "fused_optimizer": False, "mixed_precision": "no"}
    for plain_reference in (False, True):
        step = benchmark_step.CaseStep(case, torch.device("cpu"), plain_reference=plain_reference)
        assert isinstance(step.parts.step_module, loop.TrainStep)
        assert isinstance(step.parts.step_module.recipe, PlainStep) == plain_reference
        trainable = {id(p) for p in step.parts.recipe.trainable_parameters(step.model)}
        assert all(p.requires_grad == (id(p) in trainable) for p in step.model.parameters())
        assert math.isfinite(step()) and step.parts.scheduler.scheduler.last_epoch == 1
    assert norms == [TrainArguments().max_grad_norm] * 2


def test_plain_sigreg_is_sigreg_from_its_formula():
    shipped = build_recipe("self-teaching").sigreg
    z = torch.randn(16, 8, 4, 4, dtype=torch.float64)
    assert plain_sigreg(shipped.double(), z, step=3).item() == pytest.approx(shipped(z, step=3).item(), rel=1e-9)
    collapsed = torch.zeros(16, 8, dtype=torch.float64)
    assert plain_sigreg(shipped, collapsed, step=0).item() == pytest.approx(shipped(collapsed, step=0).item())


def test_plain_ssim_is_the_evaluations_ssim():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 24, 20, generator=generator)
    y = (x + 0.2 * torch.randn(x.shape, generator=generator)).clamp(0, 1)
    assert torch.allclose(plain_ssim(x, y), ssim(x, y), rtol=0, atol=1e-12)
    assert torch.allclose(plain_ssim(x, x, kernel_size=7), torch.ones(3, dtype=torch.float64))


def test_ssim_benchmark_times_both_forms_on_the_same_images(tmp_path, capsys):
    report = benchmark.main(["--ssim", "16", "--batch", "2", "--steps", "2", "--json", str(tmp_path / "s.json")])
    (result,) = report["ssim"]
    assert result["images"] == [2, 3, 16, 16] and result["max_abs_difference"] < 1e-12
    assert result["shipped_ms"] <= result["shipped_ms_median"] and result["plain_ms"] <= result["plain_ms_median"]
    assert result["speedup_over_plain"] == pytest.approx(result["plain_ms_median"] / result["shipped_ms_median"])
    assert json.loads((tmp_path / "s.json").read_text())["ssim"] == report["ssim"]
    assert "| 2×3×16×16 |" in capsys.readouterr().out


def test_sigreg_benchmark_times_both_forms_on_the_setup_latents(tmp_path, capsys):
    report = benchmark.main(["--sigreg", "cifar32", "--batch", "4", "--steps", "2", "--json", str(tmp_path / "s.json")])
    (result,) = report["sigreg"]
    assert result["latents"] == [4, 32, 4, 4]  # leae-cifar at 32 px: a 32-channel 4×4 latent
    assert result["shipped_ms"] <= result["shipped_ms_median"] and result["plain_ms"] <= result["plain_ms_median"]
    assert result["speedup_over_plain"] == pytest.approx(result["plain_ms"] / result["shipped_ms"])
    assert json.loads((tmp_path / "s.json").read_text())["sigreg"] == report["sigreg"]
    assert "| cifar32 | 4×32×4×4 |" in capsys.readouterr().out


def test_plain_reference_refuses_views_it_does_not_implement():
    with pytest.raises(ValueError, match="crop view only"):
        PlainStep(build_recipe("self-teaching", views=["crop", "detail"]))


def test_cpu_isa_is_capped_by_the_emulation_variables(monkeypatch):
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        monkeypatch.delenv(name, raising=False)
    native = hardware.cpu_isa()
    assert native["isa"] in hardware.ISA_LEVELS and native["aten_cpu_capability"]
    assert hardware.ISA_LEVELS.index(native["isa"]) <= hardware.ISA_LEVELS.index(native["hardware_isa"])
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    emulated = hardware.cpu_isa()
    assert emulated["overrides"]["ONEDNN_MAX_CPU_ISA"] == "AVX2" and not emulated["native_bf16"]
    assert emulated["isa"] in ("AVX2", "other")
    assert hardware.choose_mixed_precision(torch.device("cpu"), emulated) == "no"
    assert hardware.choose_mixed_precision(torch.device("cpu"), {**emulated, "native_bf16": True}) == "bf16"


def test_time_to_psnr_variants_follow_the_zoo_config():
    setup = benchmark.load_setup("celeba64")
    assert setup["data"] == "celeba-half" and setup["image_size"] == 64 and setup["crop_size"] == 32
    cpu, avx2 = torch.device("cpu"), {"native_bf16": False}
    plain = benchmark.time_to_psnr_variant("plain", setup, cpu, avx2)
    assert plain["plain"] and plain["mixed_precision"] == "no" and "crop_size" not in plain["options"]
    same = benchmark.time_to_psnr_variant("same-math", setup, cpu, avx2)
    assert not same["plain"] and "crop_size" not in same["options"] and same["options"]["crop_ratio"] == 0.15
    defaults = benchmark.time_to_psnr_variant("defaults", setup, cpu, avx2)
    assert defaults["options"]["crop_size"] == 32 and defaults["mixed_precision"] == "no"
    assert benchmark.time_to_psnr_variant("defaults", setup, cpu, {"native_bf16": True})["mixed_precision"] == "bf16"
    # The face configs say `mixed_precision: auto`, which the `config` variant resolves like train.py does.
    assert setup["mixed_precision"] == "auto"
    assert benchmark.time_to_psnr_variant("config", setup, cpu, avx2)["mixed_precision"] == "no"
    assert benchmark.time_to_psnr_variant("config", setup, cpu, {"native_bf16": True})["mixed_precision"] == "bf16"
    written = {**setup, "mixed_precision": "bf16"}
    assert benchmark.time_to_psnr_variant("config", written, cpu, avx2)["mixed_precision"] == "bf16"
    tuned = benchmark.time_to_psnr_variant("same-math,crop_size=16,bf16", setup, cpu, avx2)
    assert tuned["options"]["crop_size"] == 16 and tuned["mixed_precision"] == "bf16"
    with pytest.raises(SystemExit, match="plain reference runs in fp32"):
        benchmark.time_to_psnr_variant("plain,bf16", setup, cpu, avx2)


def test_crossing_interpolates_between_checkpoints():
    curve = [
        {"seconds": 10.0, "images": 100, "psnr": 14.0},
        {"seconds": 20.0, "images": 200, "psnr": 18.0},
        {"seconds": 30.0, "images": 300, "psnr": 22.0},
    ]
    hit = benchmark.crossing(curve, 20.0)
    assert hit == {"seconds": 25.0, "images": 250.0, "checkpoint": 300}
    assert benchmark.crossing(curve, 13.0)["seconds"] == 10.0 and benchmark.crossing(curve, 23.0) is None


def test_curves_from_log_reads_the_progress_lines():
    log = "plain: 25 steps, 175.0 s, PSNR 12.23 dB\nnoise\ndefaults,crop_size=16: 25 steps, 31.7 s, PSNR 12.18 dB\n"
    log += "plain: 50 steps, 409.5 s, PSNR 14.21 dB\n"
    curves = benchmark.curves_from_log(log, batch_size=32)
    assert list(curves) == ["plain", "defaults,crop_size=16"]
    assert curves["plain"][1] == {"steps": 50, "images": 1600, "seconds": 409.5, "psnr": 14.21}


@pytest.mark.slow
def test_gpu_script_dry_run_on_the_cpu(tmp_path):
    """The GPU script's whole path (matrix, then the interleaved time-to-PSNR run) at tiny sizes on the CPU."""
    out = tmp_path / "gpu.json"
    command = [sys.executable, str(ROOT / "training" / "gpu_benchmark.py"), "--device", "cpu", "--dry_run"]
    completed = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-3000:]
    report = json.loads(out.read_text())
    (case,) = report["matrix"]["cases"]
    assert _positive(case["img_per_s"]) and _positive(case["fraction_of_peak"])
    ttp = report["time_to_psnr"]
    assert [r["variant"] for r in ttp["time_to_psnr"]] == ["plain", "same-math,bf16", "config"]
    assert ttp["setup"]["cpu_isa"]["aten_cpu_capability"] and ttp["setup"]["mean_image_psnr"] > 0
    for result in ttp["time_to_psnr"]:
        assert result["images"] == 8 and _positive(result["img_per_s"]) and _positive(result["fraction_of_best_conv"])
        assert set(result["reached"]) == {"+8 dB", "+10 dB"} and len(result["curve"]) == 2
    plain, same_math, _ = ttp["time_to_psnr"]
    assert plain["gflop_per_img"] == pytest.approx(same_math["gflop_per_img"])  # the same math, the same work


@pytest.mark.slow
def test_train_compile_flag_compiles_the_step_in_place(tmp_path, monkeypatch):
    """`--compile` runs the training step through torch.compile (dynamo's eager backend here, to stay fast) and saves
    a model with the plain state-dict keys; it does not make a run a different run (resuming may switch it)."""
    from leae_hub import cli
    from leae_hub.trainer import settings

    compiled = []
    original = torch.nn.Module.compile

    def eager_compile(module, **kwargs):
        compiled.append(type(module).__name__)
        original(module, backend="eager", **kwargs)

    monkeypatch.setattr(torch.nn.Module, "compile", eager_compile)
    tiny = ["--data", "synthetic-shapes:32", "--hidden_channels", "16", "--latent_channels", "8", "--batch_size", "4"]
    tiny += ["--eval_images", "8", "--sample_every", "2", "--eval_every", "2", "--checkpoint_every", "2"]
    config = ROOT / "training" / "configs" / "shapes-quick.yaml"
    assert not cli.parse_train_config([]).train.compile and "compile" in settings.RUN_INDEPENDENT_FIELDS
    try:
        result = cli.train_main(
            ["--config", str(config), *tiny, "--output_dir", str(tmp_path), "--max_steps", "2", "--compile"]
        )
    finally:
        torch._dynamo.reset()
    assert compiled == ["TrainStep"] and result["steps"] == 2 and math.isfinite(result["psnr"])
    saved = LeaeModel.from_pretrained(tmp_path / "model")
    assert list(saved.state_dict()) == list(LeaeModel(saved.config).state_dict())  # no torch.compile prefixes


def test_import_benchmark_times_both_trees_alike_and_reports_failures(tmp_path, monkeypatch, capsys):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "training" / "import_benchmark.py"
    spec = importlib.util.spec_from_file_location("import_benchmark", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(bench, "CASES", {"import leae_hub": "import leae_hub", "version": "import leae_hub.nope"})
    times = bench.main(["--repeats", "2", "--baseline", str(bench.SRC), "--json", str(tmp_path / "t.json")])
    assert all(len(runs) == 2 and all(t > 0 for t in runs) for runs in times["import leae_hub"].values())
    assert times["version"]["baseline"] == [None, None]  # a case a tree cannot run is reported, not fatal
    table = capsys.readouterr().out
    assert "| version | fails | fails | - |" in table
    report = json.loads((tmp_path / "t.json").read_text())
    assert set(report["median_s"]["import leae_hub"]) == {"this checkout", "baseline"}
