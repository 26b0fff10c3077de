"""Speed and memory of the training step, of inference and of the data pipeline: a table and a JSON file.

    python training/benchmark.py --recipe masked --preset leae-11m --batch 16 --image_size 128 --steps 3 --json out.json
    python training/benchmark.py --all --json perf.json                        # the standard matrix
    python training/benchmark.py --recipe masked --preset leae-cifar --option crop_size=8 --mixed_precision bf16

Every recipe × preset asked for is one case, run in a fresh subprocess (so that peak memories do not mix). A case
times the training step exactly as `training/train.py` runs it: `recipe(model, batch, step)`, `loss.backward()`, the
AdamW step, `zero_grad(set_to_none=True)` and `recipe.update` (train.py adds gradient clipping on top). It reports:

- `img_per_s`: images per second of the best timed step (`step_s_median` is the median), `peak_rss_mb`: the process's
  peak resident memory (`ru_maxrss`) after the training steps (on a GPU: `peak_gpu_memory_mb` too);
- `gflop_per_img`: FLOPs of one step per image, counted with `torch.utils.flop_counter.FlopCounterMode`, which counts
  matrix products and convolutions (forward and backward) only, not element-wise work, on the plain formulation of
  the math (the plain model, without `leae_hub.speedups.enable_fast_path`: nearest upsampling, then a 3×3 conv);
  `gflops_per_s` = gflop_per_img × img_per_s, the rate at which the step gets through that work. The fast path does
  the same math with fewer FLOPs (an upsampling followed by a 3×3 conv runs as a 4×4 transposed conv); those are
  `executed_gflop_per_img`, `executed_gflops_per_s` and `executed_fraction_of_peak`;
- `matmul_gflops_per_s`: the machine's fp32 matmul rate, measured in the same process between the timed steps (best of
  several 2048×2048 `torch.mm`), and `fraction_of_peak` = gflops_per_s / matmul_gflops_per_s (both best-of, so load
  from other processes affects both the same way; `fraction_of_peak_median` pairs each step with the matmul timed
  right before it);
- `conv_gflops_per_s`: the best rate of a 3×3 conv over the presets' conv shapes at the step's precision, measured
  after the steps (`conv_gflops`), and `fraction_of_best_conv` = gflops_per_s / that rate: oneDNN's convs beat its own
  2048² matmul, so this is the tighter yardstick;
- with `--plain_reference`: the plain reference formulation of the step (training/plain_reference.py: the plain
  model in fp32, full-size judge crops, one encoder call per judged batch), timed right after each timed step in the
  same process: `plain_img_per_s` and `speedup_over_plain` (best step over best step; `_median` too);
- inference (`model(pixel_values)` under `torch.inference_mode`, i.e. reconstruct): img/s at batch 1 and 32, p50
  latency at batch 1, and the FLOP rate and fraction of peak at batch 32;
- the data pipeline: img/s of a DataLoader over each `--data` source (default `synthetic-shapes` and the CIFAR-10
  zip; e.g. `--data utkface` for the 128-px faces) at the case's image size (`--data_workers` workers), or the reason
  a source was skipped; `data_over_step` is each rate over the case's own training img/s (≥ 10 keeps the step fed):

    python training/benchmark.py --recipe self-teaching --preset leae-2m --batch 32 --mixed_precision bf16 \
        --option crop_size=64 --data utkface --threads 1

`--quality` trains instead: every `--variant` (the same-math step and the math-changing option sets) on CIFAR-10 for
the same wall time, interleaved step by step in one process so that load from other processes hits them alike, and
reports the held-out PSNR each reaches:

    python training/benchmark.py --quality --preset leae-cifar --batch 128 --wall_seconds 150 \
        --variant same-math --variant crop_size=8 --variant bf16 --variant bf16,crop_size=8 --json quality.json

`--time_to_psnr SETUP` trains on a real data set until held-out PSNR reaches the mean-image PSNR + 8 and + 10 dB
(`--targets_db`): the setups are the zoo configs `celeba64` (CelebA 64 px), `utkface128` (UTKFace 128 px) and
`cifar32` (CIFAR-10 32 px). Every `--variant` (`plain`: the plain reference formulation; `same-math`: the shipped step,
same math; `defaults`: the config's options with the precision `choose_mixed_precision` picks for this CPU; `config`:
the config's options as written; plus `bf16`, `fp32`, `compile`, `KEY=VALUE`) trains on the same batches, in turns of
`--chunk_steps` steps (the variant with the least training time next, so load from other processes hits all alike),
with held-out PSNR after every turn; it reports training time and images to each target, img/s, the ratios to the
first variant, and the CPU's ISA (`cpu_isa`: /proc/cpuinfo flags capped by `torch.backends.cpu.get_cpu_capability()`
and `ONEDNN_MAX_CPU_ISA`; an AVX2-only CPU is emulated with `ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
MKL_ENABLE_INSTRUCTIONS=AVX2`):

    python training/benchmark.py --time_to_psnr celeba64 --batch 32 --threads 1 --warmup_steps 20 \
        --variant plain --variant defaults --settle_factor 2.2 --json ttp.json

`--sigreg SETUP [SETUP ...]` times SIGReg alone (forward + backward on random latents of each setup's shape) against
its plain formula, alternating call by call:

    python training/benchmark.py --sigreg celeba64 cifar32 utkface128 --steps 10 --threads 1 --json sigreg.json

On a GPU the step runs in bf16 autocast by default and the case adds `mfu`, the FLOP rate over the GPU's bf16 matmul
rate measured in the same run (and over the nominal dense bf16 peak where the GPU is known).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

# OpenMP threads that sleep at once when idle instead of spinning: on a machine shared with other processes, spinning
# threads wait for time slices at every parallel region (see docs/performance.md). Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import yaml  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import leae_hub  # noqa: E402
from leae_hub import LeaeConfig, LeaeModel  # noqa: E402
from leae_hub.evaluation import psnr  # noqa: E402
from leae_hub.hardware import choose_mixed_precision, cpu_isa  # noqa: E402
from leae_hub.recipes import RECIPES, build_recipe  # noqa: E402
from leae_hub.speedups import enable_fast_path, fast_path  # noqa: E402

# The standard matrix (`--all`): the acceptance cases of docs/performance.md, two more recipes, then the fastest option
# sets (bf16 autocast; judge crops encoded at 8 px where the latent is spatial; a pooled latent needs full-size crops).
STANDARD_MATRIX: list[dict[str, Any]] = [
    {"recipe": "masked", "preset": "leae-11m", "batch": 16},
    {"recipe": "self-teaching", "preset": "leae-2m", "batch": 16},
    {"recipe": "masked", "preset": "leae-cifar", "batch": 64},
    {"recipe": "baseline", "preset": "leae-cifar", "batch": 64},
    {"recipe": "jepa", "preset": "leae-cifar", "batch": 64},
    {"recipe": "masked", "preset": "leae-11m", "batch": 16, "mixed_precision": "bf16"},
    {"recipe": "masked", "preset": "leae-cifar", "batch": 64, "options": {"crop_size": 16}, "mixed_precision": "bf16"},
]
# Nominal dense bf16 tensor-core peaks (TFLOP/s), for MFU next to the measured matmul rate.
NOMINAL_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "A10G": 70.0}
DEFAULT_DATA_SOURCES = ("synthetic-shapes", "cifar10")


# ------------------------------------------------------------------------------------------------------ measurements


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(device: torch.device, dtype: torch.dtype = torch.float32, size: int = 2048, reps: int = 3) -> float:
    """Best-of-`reps` rate of one size × size matrix product (2·size³ FLOPs)."""
    if device.type == "cuda":
        size = max(size, 8192)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    out = torch.empty(size, size, device=device, dtype=dtype)
    torch.mm(a, b, out=out)
    best = float("inf")
    for _ in range(reps):
        _sync(device)
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


# 3×3 convs (batch, channels in = out, map side) of the sizes the presets' conv encoders and decoders run (batch ×8 on
# a GPU, which needs more work per call to reach its rate).
CONV_SHAPES = ((8, 64, 64), (8, 128, 32), (8, 256, 16))


def conv_gflops(device: torch.device, dtype: torch.dtype = torch.float32, reps: int = 3) -> float:
    """Best rate of a forward 3×3 conv (padding 1, channels-last) over `CONV_SHAPES`, 2·B·C²·9·H·W FLOPs each: the
    machine's best measured conv rate, which oneDNN and cuDNN reach above their own matmul rate on some shapes."""
    best = 0.0
    for batch, channels, side in CONV_SHAPES:
        batch *= 8 if device.type == "cuda" else 1
        x = torch.randn(batch, channels, side, side, device=device, dtype=dtype)
        x = x.contiguous(memory_format=torch.channels_last)
        weight = torch.randn(channels, channels, 3, 3, device=device, dtype=dtype)
        weight = weight.contiguous(memory_format=torch.channels_last)
        torch.nn.functional.conv2d(x, weight, padding=1)
        for _ in range(reps):
            _sync(device)
            start = time.perf_counter()
            torch.nn.functional.conv2d(x, weight, padding=1)
            _sync(device)
            best = max(best, 2 * batch * channels**2 * 9 * side**2 / (time.perf_counter() - start) / 1e9)
    return best


def count_flops(fn: Callable[[], Any], model: LeaeModel | None = None, plain: bool = False) -> int:
    """FLOPs of `fn()`; `plain=True` counts the plain formulation of the math (`model` without its fast path)."""
    with fast_path(model, enabled=False) if plain else nullcontext(), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _autocast(device: torch.device, mixed_precision: str):
    if mixed_precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


class TrainStep:
    """One optimiser step as training/train.py runs it (without its gradient clipping and scheduler)."""

    def __init__(self, case: dict[str, Any], device: torch.device, plain_reference: bool = False):
        torch.manual_seed(0)
        config = LeaeConfig.from_preset(case["preset"], image_size=case["image_size"])
        self.model = LeaeModel(config).to(device).train()
        if not (case["plain_kernels"] or plain_reference):
            enable_fast_path(self.model)
        self.recipe = build_recipe(case["recipe"], **case["options"]).to(device)
        trainable = list(self.recipe.trainable_parameters(self.model))
        trainable_ids = {id(p) for p in trainable}
        for parameter in self.model.parameters():
            parameter.requires_grad_(id(parameter) in trainable_ids)
        fused = {"fused": True} if case["fused_optimizer"] else {}
        self.optimizer = torch.optim.AdamW(trainable, lr=1e-3, weight_decay=0.01, **fused)
        generator = torch.Generator().manual_seed(1)
        pixels = torch.rand(
            case["batch"], config.in_channels, config.image_size, config.image_size, generator=generator
        )
        self.batch = {"pixel_values": pixels.to(device)}
        self.device, self.mixed_precision = device, case["mixed_precision"]
        self.objective = torch.compile(self.recipe) if case["compile"] else self.recipe
        if plain_reference:
            from plain_reference import PlainStep

            self.objective, self.mixed_precision = PlainStep(self.recipe), "no"
        self.step_index = 0

    def __call__(self, eager: bool = False) -> float:
        with _autocast(self.device, self.mixed_precision):
            out = (self.recipe if eager else self.objective)(self.model, self.batch, self.step_index)
        out.loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.recipe.update(self.model, self.step_index)
        self.step_index += 1
        return out.loss.item()


def _timed(step: Callable[[], Any], device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    step()
    _sync(device)
    return time.perf_counter() - start


def measure_training(case: dict[str, Any], device: torch.device) -> tuple[dict[str, Any], LeaeModel]:
    step = TrainStep(case, device)
    for _ in range(case["warmup"]):
        step()
    reference = None  # the plain reference formulation (training/plain_reference.py), timed after each step
    if case.get("plain_reference"):
        options = {key: value for key, value in case["options"].items() if key != "crop_size"}
        reference = TrainStep({**case, "options": options}, device, plain_reference=True)
        for _ in range(case["warmup"]):
            reference()
    plain_times = []
    peak_dtype = torch.bfloat16 if device.type == "cuda" and case["mixed_precision"] == "bf16" else torch.float32
    low_precision_peaks = []  # bf16 on CPU: the bf16 matmul rate as well (the fraction is still against fp32)
    times, peaks = [], []
    for _ in range(case["steps"]):
        peaks.append(matmul_gflops(device, peak_dtype))
        if device.type == "cpu" and case["mixed_precision"] == "bf16":
            low_precision_peaks.append(matmul_gflops(device, torch.bfloat16))
        times.append(_timed(step, device))
        if reference is not None:
            plain_times.append(_timed(reference, device))
    conv_dtype = torch.bfloat16 if case["mixed_precision"] == "bf16" else torch.float32
    conv_peak = conv_gflops(device, conv_dtype)  # the best conv rate at the step's precision, after the steps
    peak_memory = peak_rss_mb()  # before the FLOP counting below, whose plain-formulation step needs more memory
    # Counted on eager steps (compiled or not, the math is the same): the plain formulation's FLOPs, which define the
    # work of the step for every implementation, and the FLOPs the fast path executes (fewer, see leae_hub.speedups).
    flops = count_flops(lambda: step(eager=True), step.model, plain=True)
    executed = count_flops(lambda: step(eager=True))
    batch, best = case["batch"], min(times)
    peak = max(peaks)
    result = {
        "img_per_s": batch / best,
        "step_s": best,
        "step_s_median": statistics.median(times),
        "step_s_all": times,
        "gflop_per_img": flops / batch / 1e9,
        "gflops_per_s": flops / best / 1e9,
        "matmul_gflops_per_s": peak,
        "matmul_gflops_per_s_all": peaks,
        "matmul_dtype": str(peak_dtype).removeprefix("torch."),
        "fraction_of_peak": flops / best / 1e9 / peak,
        "fraction_of_peak_median": statistics.median(flops / t / 1e9 / p for t, p in zip(times, peaks, strict=True)),
        "executed_gflop_per_img": executed / batch / 1e9,
        "executed_gflops_per_s": executed / best / 1e9,
        "executed_fraction_of_peak": executed / best / 1e9 / peak,
        "conv_gflops_per_s": conv_peak,
        "conv_dtype": str(conv_dtype).removeprefix("torch."),
        "fraction_of_best_conv": flops / best / 1e9 / conv_peak,
        "peak_rss_mb": peak_memory,
    }
    if plain_times:
        result["plain_img_per_s"] = batch / min(plain_times)
        result["plain_step_s_all"] = plain_times
        result["speedup_over_plain"] = min(plain_times) / best
        result["speedup_over_plain_median"] = statistics.median(plain_times) / statistics.median(times)
    if low_precision_peaks:
        result["matmul_bf16_gflops_per_s"] = max(low_precision_peaks)
        result["fraction_of_bf16_peak"] = result["gflops_per_s"] / max(low_precision_peaks)
    if device.type == "cuda":
        result["peak_gpu_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        result["mfu"] = result["fraction_of_peak"]
        name = torch.cuda.get_device_name(device)
        nominal = next((value for key, value in NOMINAL_BF16_TFLOPS.items() if key in name), None)
        if nominal is not None:
            result["mfu_nominal"] = result["gflops_per_s"] / (nominal * 1e3)
    return result, step.model


def measure_inference(model: LeaeModel, case: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Reconstruction (`model(pixel_values)`) under inference mode: batch 1 latency and batch 32 throughput."""
    model.eval()
    size, channels = model.config.image_size, model.config.in_channels

    def run(pixel_values: torch.Tensor) -> float:
        _sync(device)
        start = time.perf_counter()
        with torch.inference_mode(), _autocast(device, case["mixed_precision"]):
            model(pixel_values)
        _sync(device)
        return time.perf_counter() - start

    single = torch.rand(1, channels, size, size, device=device)
    run(single)
    latencies, budget = [], time.perf_counter() + case["inference_seconds"]
    while len(latencies) < 5 or (time.perf_counter() < budget and len(latencies) < 200):
        latencies.append(run(single))
    batch = torch.rand(32, channels, size, size, device=device)
    run(batch)
    with torch.inference_mode():
        flops = count_flops(lambda: model(batch), model, plain=True)
        executed = count_flops(lambda: model(batch))
    times, peaks = [], []
    for _ in range(3):
        peaks.append(matmul_gflops(device))
        times.append(run(batch))
    best, peak = min(times), max(peaks)
    return {
        "inference_img_per_s_batch1": 1 / min(latencies),
        "inference_p50_latency_ms": statistics.median(latencies) * 1e3,
        "inference_img_per_s_batch32": 32 / best,
        "inference_gflop_per_img": flops / 32 / 1e9,
        "inference_gflops_per_s": flops / best / 1e9,
        "inference_matmul_gflops_per_s": peak,
        "inference_fraction_of_peak": flops / best / 1e9 / peak,
        "inference_executed_gflop_per_img": executed / 32 / 1e9,
        "inference_executed_fraction_of_peak": executed / best / 1e9 / peak,
    }


def measure_data(case: dict[str, Any]) -> dict[str, Any]:
    """Images per second a DataLoader delivers, per source, at the case's image size and batch size."""
    from leae_hub.data import build_dataset, make_dataloader

    rates: dict[str, float | None] = {}
    skipped: dict[str, str] = {}
    for spec in case["data_sources"]:
        try:
            dataset = build_dataset(spec, "train", case["image_size"], seed=0)
        except Exception as error:  # a missing or broken source is reported, not fatal
            rates[spec], skipped[spec] = None, f"{type(error).__name__}: {error}"
            continue
        loader = make_dataloader(dataset, case["batch"], num_workers=case["data_workers"], pin_memory=False)
        iterator = iter(loader)
        next(iterator)  # workers started, first batch out
        images, start = 0, time.perf_counter()
        budget = start + case["data_seconds"]
        for batch in iterator:
            images += batch["pixel_values"].shape[0]
            if time.perf_counter() > budget and images >= 4 * case["batch"]:
                break
        rates[spec] = images / (time.perf_counter() - start)
        del iterator, loader
    result: dict[str, Any] = {"data_img_per_s": rates, "data_workers": case["data_workers"]}
    if case.get("img_per_s"):
        result["data_over_step"] = {spec: rate / case["img_per_s"] for spec, rate in rates.items() if rate}
    result.update({f"data_img_per_s_{spec.replace('-', '_')}": rate for spec, rate in rates.items()})
    if skipped:
        result["data_skipped"] = skipped
    return result


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    """Measure one case in this process."""
    device = torch.device(case["device"])
    if case["threads"]:
        torch.set_num_threads(case["threads"])
    result: dict[str, Any] = {
        "case": {k: v for k, v in case.items() if k not in ("inference_seconds", "data_seconds")},
        "recipe": case["recipe"],
        "preset": case["preset"],
        "batch": case["batch"],
        "image_size": case["image_size"],
        "options": case["options"],
        "mixed_precision": case["mixed_precision"],
        "device": _device_name(device),
        "cpu_isa": cpu_isa(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }
    training, model = measure_training(case, device)
    result.update(training)
    if not case["skip_inference"]:
        result.update(measure_inference(model, case, device))
    if not case["skip_data"]:
        result.update(measure_data({**case, "img_per_s": result["img_per_s"]}))
    return result


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical cores, {torch.backends.cpu.get_cpu_capability()}"


# ---------------------------------------------------------------------------------------------------------- quality


def parse_variant(spec: str) -> dict[str, Any]:
    """`same-math`, or comma-separated `bf16`, `compile`, `fused_optimizer` and recipe options `KEY=VALUE`."""
    variant: dict[str, Any] = {"name": spec, "mixed_precision": "no", "compile": False, "fused_optimizer": False}
    options: dict[str, Any] = {}
    for token in filter(None, (t.strip() for t in spec.split(","))):
        if token == "same-math":
            continue
        if token == "bf16":
            variant["mixed_precision"] = "bf16"
        elif token in ("compile", "fused_optimizer"):
            variant[token] = True
        elif "=" in token:
            options.update(_parse_options([token]))
        else:
            raise SystemExit(
                f"unknown variant token {token!r} in {spec!r}: bf16, compile, fused_optimizer or KEY=VALUE"
            )
    variant["options"] = options
    return variant


@torch.inference_mode()
def held_out_psnr(model: LeaeModel, images: torch.Tensor, batch_size: int = 250) -> float:
    """Mean per-image PSNR of `model(images)` (fp32, eval mode), as training/train.py's evaluation computes it."""
    was_training = model.training
    model.eval()
    values = []
    for start in range(0, images.shape[0], batch_size):
        x = images[start : start + batch_size]
        values.append(psnr(model(x).reconstruction, x))
    model.train(was_training)
    return torch.cat(values).mean().item()


def run_quality(args: argparse.Namespace) -> dict[str, Any]:
    """Train every variant for `--wall_seconds` of its own step time on the same batches; PSNR at 50 % and 100 %."""
    from leae_hub.data import build_dataset, make_dataloader

    if args.threads:
        torch.set_num_threads(args.threads)
    preset, recipe_name = args.preset[0], args.recipe[0]
    image_size = args.image_size or LeaeConfig.from_preset(preset).image_size
    batch_size = args.batch or 128
    train_set = build_dataset(args.quality_data, "train", image_size, seed=0)
    test_set = build_dataset(args.quality_data, "test", image_size, seed=0)
    eval_images = torch.stack([test_set[i]["pixel_values"] for i in range(min(args.eval_images, len(test_set)))])
    batches = SharedBatches(make_dataloader(train_set, batch_size, seed=0))
    args.lr = args.learning_rate if args.learning_rate is not None else 1e-3
    args.warmup = args.warmup_steps if args.warmup_steps is not None else 20
    runs = []
    for spec in args.variant or ["same-math"]:
        variant = parse_variant(spec)
        torch.manual_seed(0)
        model = enable_fast_path(LeaeModel(LeaeConfig.from_preset(preset, image_size=image_size)).train())
        recipe = build_recipe(recipe_name, **variant["options"])
        objective = torch.compile(recipe) if variant["compile"] else recipe
        runs.append(_run_state(variant, model, recipe, objective, args.lr, variant["fused_optimizer"], psnr_at={}))
    device = torch.device("cpu")
    budget = args.wall_seconds
    checkpoints = (0.5, 1.0)
    while any(run["seconds"] < budget for run in runs):
        run = min((r for r in runs if r["seconds"] < budget), key=lambda r: r["seconds"])
        _train_chunk(run, batches, 1, args, device)
        batches.release_before(min(r["steps"] for r in runs))  # every variant is past them
        for fraction in checkpoints:
            if fraction not in run["psnr_at"] and run["seconds"] >= fraction * budget:
                run["psnr_at"][fraction] = held_out_psnr(run["model"], eval_images)
                psnr = run["psnr_at"][fraction]
                message = f"{run['name']}: {run['steps']} steps, {run['seconds']:.0f} s, PSNR {psnr:.2f} dB"
                print(message, file=sys.stderr, flush=True)
    results = []
    for run in runs:
        results.append(
            {
                "variant": run["name"],
                "options": run["options"],
                "mixed_precision": run["mixed_precision"],
                "compile": run["compile"],
                "steps": run["steps"],
                "train_seconds": run["seconds"],
                "img_per_s": run["steps"] * batch_size / run["seconds"],
                "psnr": run["psnr_at"][1.0],
                "psnr_half_time": run["psnr_at"][0.5],
                "final_loss": run["loss"],
            }
        )
    reference = results[0]
    for result in results:
        result["speedup"] = result["img_per_s"] / reference["img_per_s"]
        result["psnr_gain_db"] = result["psnr"] - reference["psnr"]
    baseline = held_out_psnr_mean_colour(eval_images)
    return {
        "quality": results,
        "setup": {
            "recipe": recipe_name,
            "preset": preset,
            "image_size": image_size,
            "batch": batch_size,
            "data": args.quality_data,
            "eval_images": int(eval_images.shape[0]),
            "wall_seconds": budget,
            "learning_rate": args.lr,
            "warmup_steps": args.warmup,
            "threads": torch.get_num_threads(),
            "mean_colour_psnr": baseline,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        },
    }


def held_out_psnr_mean_colour(images: torch.Tensor) -> float:
    """PSNR of replacing every image by its mean colour: the floor a reconstruction has to beat."""
    return psnr(images.mean(dim=(2, 3), keepdim=True).expand_as(images), images).mean().item()


def format_quality(report: dict[str, Any]) -> str:
    setup = report["setup"]
    lines = [
        f"{setup['recipe']} {setup['preset']} b{setup['batch']} {setup['image_size']}px on {setup['data']}, "
        f"{setup['wall_seconds']:.0f} s of training each, {setup['threads']} threads; "
        f"mean-colour PSNR {setup['mean_colour_psnr']:.2f} dB",
        "| variant | steps | img/s | speed-up | PSNR at half time dB | PSNR dB | vs same-math dB |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report["quality"]:
        lines.append(
            f"| {r['variant']} | {r['steps']} | {r['img_per_s']:.1f} | {r['speedup']:.2f}× | {r['psnr_half_time']:.2f} "
            f"| {r['psnr']:.2f} | {r['psnr_gain_db']:+.2f} |"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------- time to PSNR

# `--time_to_psnr NAME`: the zoo config a setup trains (data, preset, image size, recipe options, batch, learning rate).
TIME_TO_PSNR_SETUPS = {
    "celeba64": "celeba64-self-teaching.yaml",
    "utkface128": "faces128-self-teaching.yaml",
    "cifar32": "cifar10-32-self-teaching.yaml",
}
CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def load_setup(name: str) -> dict[str, Any]:
    """A time-to-PSNR setup from its zoo config: data, model, recipe options and the config's own speed options."""
    if name not in TIME_TO_PSNR_SETUPS:
        raise SystemExit(f"Unknown --time_to_psnr setup {name!r}. Valid setups: {', '.join(TIME_TO_PSNR_SETUPS)}.")
    path = CONFIG_DIR / TIME_TO_PSNR_SETUPS[name]
    config = yaml.safe_load(path.read_text())
    option_names = {option.name for option in RECIPES[config["recipe"]].options()}
    options = {key: value for key, value in config.items() if key in option_names}
    return {
        "name": name,
        "config": str(path.relative_to(CONFIG_DIR.parents[1])),
        "data": config["data"],
        "preset": config["preset"],
        "image_size": config.get("image_size") or LeaeConfig.from_preset(config["preset"]).image_size,
        "recipe": config["recipe"],
        "options": {key: value for key, value in options.items() if key != "crop_size"},
        "crop_size": options.get("crop_size"),
        "mixed_precision": config.get("mixed_precision", "no"),
        "batch": config["batch_size"],
        "learning_rate": config["learning_rate"],
        "warmup_steps": config.get("warmup_steps", 0),
    }


def time_to_psnr_variant(spec: str, setup: dict[str, Any], device: torch.device, isa: dict[str, Any]) -> dict[str, Any]:
    """A variant of the setup's step. `plain`: the plain reference formulation (training/plain_reference.py);
    `same-math`: the shipped recipe with full-size judge crops in fp32 (the plain step's math, fast path on);
    `config`: the zoo config's own options (its crop_size and precision; `auto` resolved as `leae train` does);
    `defaults`: the config's crop_size with the precision `choose_mixed_precision` picks for this hardware. Further
    comma-separated tokens (`bf16`, `fp32`, `compile`, `KEY=VALUE`) change the variant they follow, e.g.
    `same-math,crop_size=32` or `defaults,compile`."""
    tokens = [token.strip() for token in spec.split(",") if token.strip()]
    base, extra = (tokens[0], tokens[1:]) if tokens and "=" not in tokens[0] else ("same-math", tokens)
    if base not in ("plain", "same-math", "config", "defaults"):
        if base not in ("bf16", "fp32", "compile"):
            raise SystemExit(f"unknown variant {spec!r}: start with plain, same-math, config or defaults")
        base, extra = "same-math", tokens
    options = dict(setup["options"])
    precision = "no"
    if base in ("config", "defaults") and setup["crop_size"] is not None:
        options["crop_size"] = setup["crop_size"]
    if base == "config" and setup["mixed_precision"] != "auto":
        precision = setup["mixed_precision"]
    elif base in ("config", "defaults"):
        precision = choose_mixed_precision(device, isa)
    variant = {"name": spec, "plain": base == "plain", "compile": False}
    for token in extra:
        if token in ("bf16", "fp32"):
            precision = "bf16" if token == "bf16" else "no"
        elif token == "compile":
            variant["compile"] = True
        elif "=" in token and base != "plain":
            options.update(_parse_options([token]))
        else:
            raise SystemExit(f"unknown variant token {token!r} in {spec!r}: bf16, fp32, compile or KEY=VALUE")
    if base == "plain" and (precision != "no" or variant["compile"]):
        raise SystemExit(f"the plain reference runs in fp32 without compile, got {spec!r}")
    return {**variant, "options": options, "mixed_precision": precision}


class SharedBatches:
    """Batch j of every variant is the same: batches are drawn once from the loader (epoch after epoch) and kept
    until every variant has trained on them."""

    def __init__(self, loader: Any):
        self.loader, self.batches, self.produced = loader, {}, 0
        self.source = self._stream()

    def _stream(self):
        while True:
            yield from self.loader

    def get(self, index: int) -> dict[str, torch.Tensor]:
        while index not in self.batches:
            self.batches[self.produced] = {"pixel_values": next(self.source)["pixel_values"]}
            self.produced += 1
        return self.batches[index]

    def release_before(self, index: int) -> None:
        for done in [i for i in self.batches if i < index]:
            del self.batches[done]


def _build_run(variant: dict[str, Any], setup: dict[str, Any], device: torch.device, lr: float) -> dict[str, Any]:
    from plain_reference import PlainStep

    torch.manual_seed(0)
    model = LeaeModel(LeaeConfig.from_preset(setup["preset"], image_size=setup["image_size"])).to(device).train()
    recipe = build_recipe(setup["recipe"], **variant["options"]).to(device)
    if variant["plain"]:
        objective = PlainStep(recipe)
    else:
        enable_fast_path(model)
        objective = torch.compile(recipe) if variant["compile"] else recipe
    return _run_state(variant, model, recipe, objective, lr, curve=[], done=False)


def _run_state(
    variant: dict[str, Any],
    model: LeaeModel,
    recipe: torch.nn.Module,
    objective: Any,
    lr: float,
    fused: bool = False,
    **fields: Any,
) -> dict[str, Any]:
    """One variant's training state (model, objective, AdamW over the recipe's parameters, counters) plus `fields`."""
    trainable = list(recipe.trainable_parameters(model))
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.01, **({"fused": True} if fused else {}))
    state = {"model": model, "recipe": recipe, "objective": objective, "trainable": trainable, "optimizer": optimizer}
    return {**variant, **state, "steps": 0, "seconds": 0.0, "loss": None, **fields}


def _train_chunk(run: dict[str, Any], batches: SharedBatches, steps: int, args: argparse.Namespace, device) -> None:
    """`steps` optimiser steps of one variant, as training/train.py runs them (linear warm-up, clipping 1.0); only
    these steps count as its training time."""
    for _ in range(steps):
        batch = {"pixel_values": batches.get(run["steps"])["pixel_values"].to(device, non_blocking=True)}
        for group in run["optimizer"].param_groups:
            group["lr"] = args.lr * min(1.0, (run["steps"] + 1) / max(1, args.warmup))
        _sync(device)
        start = time.perf_counter()
        with _autocast(device, run["mixed_precision"]):
            out = run["objective"](run["model"], batch, run["steps"])
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(run["trainable"], 1.0)
        run["optimizer"].step()
        run["optimizer"].zero_grad(set_to_none=True)
        run["recipe"].update(run["model"], run["steps"])
        _sync(device)
        run["seconds"] += time.perf_counter() - start
        run["steps"] += 1
        run["loss"] = out.loss.item()


def _step_flops(run: dict[str, Any], batch: dict[str, torch.Tensor]) -> int:
    """Matmul and conv FLOPs of one step of a variant's math, counted on the plain model (as `count_flops`)."""

    def step() -> None:
        run["objective"](run["model"], batch, 0).loss.backward()

    return count_flops(step, run["model"], plain=True)


_PROGRESS_LINE = re.compile(r"^(?P<name>.+): (?P<steps>\d+) steps, (?P<seconds>[\d.]+) s, PSNR (?P<psnr>[-\d.]+) dB$")


def curves_from_log(text: str, batch_size: int) -> dict[str, list[dict[str, float]]]:
    """The PSNR curve of every variant from the progress lines a `--time_to_psnr` run writes to stderr."""
    curves: dict[str, list[dict[str, float]]] = {}
    for line in text.splitlines():
        match = _PROGRESS_LINE.match(line.strip())
        if match:
            steps = int(match["steps"])
            curves.setdefault(match["name"], []).append(
                {
                    "steps": steps,
                    "images": steps * batch_size,
                    "seconds": float(match["seconds"]),
                    "psnr": float(match["psnr"]),
                }
            )
    return curves


def crossing(curve: list[dict[str, float]], target: float) -> dict[str, float] | None:
    """Seconds and images at which a PSNR curve first reaches `target`, interpolated linearly between the last
    checkpoint below it and the first at or above it (the first checkpoint's values when it starts above)."""
    for index, point in enumerate(curve):
        if point["psnr"] >= target:
            if index == 0:
                return {"seconds": point["seconds"], "images": point["images"], "checkpoint": point["images"]}
            before = curve[index - 1]
            share = (target - before["psnr"]) / (point["psnr"] - before["psnr"])
            return {
                "seconds": before["seconds"] + share * (point["seconds"] - before["seconds"]),
                "images": before["images"] + share * (point["images"] - before["images"]),
                "checkpoint": point["images"],
            }
    return None


def run_time_to_psnr(args: argparse.Namespace) -> dict[str, Any]:
    """Train every variant on the same batches, in turns of `--chunk_steps` steps (the variant with the least training
    time next), evaluate held-out PSNR after each turn, and report the training time and images each needs to reach
    mean-image PSNR + each of `--targets_db`. A variant stops at the last target, `--max_images` or `--max_seconds`;
    with `--settle_factor F`, every variant stops at F times the training time of the first to reach the last target
    (enough to show that one still short of it needs more than F times as long)."""
    from leae_hub.data import build_dataset, make_dataloader

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device if args.device != "auto" else "cuda" if torch.cuda.is_available() else "cpu")
    isa = cpu_isa()
    setup = load_setup(args.time_to_psnr)
    if args.image_size:
        setup["image_size"] = args.image_size
    if args.data:
        setup["data"] = args.data[0]
    batch_size = args.batch or setup["batch"]
    args.lr = args.learning_rate if args.learning_rate is not None else setup["learning_rate"]
    args.warmup = args.warmup_steps if args.warmup_steps is not None else setup["warmup_steps"]
    train_set = build_dataset(setup["data"], "train", setup["image_size"], seed=0)
    test_set = build_dataset(setup["data"], "test", setup["image_size"], seed=0)
    count = min(args.eval_images, len(test_set))
    eval_images = torch.stack([test_set[i]["pixel_values"] for i in range(count)]).to(device)
    mean_image = held_out_psnr_mean_colour(eval_images)
    targets = {f"+{delta:g} dB": mean_image + delta for delta in sorted(args.targets_db)}
    batches = SharedBatches(make_dataloader(train_set, batch_size, seed=0, num_workers=args.data_workers))
    specs = args.variant or ["plain", "same-math", "defaults"]
    variants = [time_to_psnr_variant(spec, setup, device, isa) for spec in specs]
    if args.from_log:  # a run stopped before its report: its curves from the progress lines of its log
        curves = curves_from_log(args.from_log.read_text(), batch_size)
        runs = [{**spec, "curve": curves[spec["name"]], "done": True} for spec in variants]
        for run in runs:
            run["steps"], run["seconds"] = run["curve"][-1]["steps"], run["curve"][-1]["seconds"]
        flops, precisions, conv_rates = None, set(), {}
    else:
        first = {"pixel_values": batches.get(0)["pixel_values"].to(device)}
        flops = {spec["name"]: _step_flops(_build_run(spec, setup, device, args.lr), first) for spec in variants}
        precisions = {torch.float32} | {torch.bfloat16 for spec in variants if spec["mixed_precision"] == "bf16"}
        conv_rates = {str(dtype).removeprefix("torch."): conv_gflops(device, dtype) for dtype in precisions}
        runs = [_build_run(spec, setup, device, args.lr) for spec in variants]
    last_target = max(targets.values())
    settle_at = None  # with --settle_factor: the training time at which every variant stops
    while not all(run["done"] for run in runs):
        run = min((r for r in runs if not r["done"]), key=lambda r: r["seconds"])
        _train_chunk(run, batches, args.chunk_steps, args, device)
        batches.release_before(min(r["steps"] for r in runs if not r["done"]))
        value = held_out_psnr(run["model"], eval_images)
        run["curve"].append(
            {"steps": run["steps"], "images": run["steps"] * batch_size, "seconds": run["seconds"], "psnr": value}
        )
        print(
            f"{run['name']}: {run['steps']} steps, {run['seconds']:.1f} s, PSNR {value:.2f} dB",
            file=sys.stderr,
            flush=True,
        )
        if value >= last_target and settle_at is None and args.settle_factor:
            settle_at = args.settle_factor * crossing(run["curve"], last_target)["seconds"]
        for other in runs:
            other["done"] = (
                (bool(other["curve"]) and other["curve"][-1]["psnr"] >= last_target)
                or (args.max_images is not None and other["steps"] * batch_size >= args.max_images)
                or (args.max_seconds is not None and other["seconds"] >= args.max_seconds)
                or (settle_at is not None and other["seconds"] >= settle_at)
            )
    for dtype in precisions:  # best of the rates before and after the training, as the matmul peak elsewhere
        name = str(dtype).removeprefix("torch.")
        conv_rates[name] = max(conv_rates[name], conv_gflops(device, dtype))
    results = []
    for run in runs:
        reached = {name: crossing(run["curve"], target) for name, target in targets.items()}
        img_per_s = run["steps"] * batch_size / run["seconds"]
        gflop = flops[run["name"]] / batch_size / 1e9 if flops else None
        best_conv = conv_rates.get("bfloat16" if run["mixed_precision"] == "bf16" else "float32")
        results.append(
            {
                "variant": run["name"],
                "plain": run["plain"],
                "options": run["options"],
                "mixed_precision": run["mixed_precision"],
                "compile": run["compile"],
                "steps": run["steps"],
                "images": run["steps"] * batch_size,
                "train_seconds": run["seconds"],
                "img_per_s": img_per_s,
                "gflop_per_img": gflop,
                "gflops_per_s": gflop * img_per_s if gflop else None,
                "fraction_of_best_conv": gflop * img_per_s / best_conv if gflop and best_conv else None,
                "final_psnr": run["curve"][-1]["psnr"],
                "reached": reached,
                "curve": run["curve"],
            }
        )
    if (
        device.type == "cuda" and flops
    ):  # MFU: against the bf16 matmul rate measured here, and the nominal dense bf16 peak
        matmul_bf16 = matmul_gflops(device, torch.bfloat16)
        nominal = next((v for k, v in NOMINAL_BF16_TFLOPS.items() if k in torch.cuda.get_device_name(device)), None)
        for result in results:
            result["mfu"] = result["gflops_per_s"] / matmul_bf16
            if nominal is not None:
                result["mfu_nominal"] = result["gflops_per_s"] / (nominal * 1e3)
    # While every variant still trains, they alternate and share the machine's load; after the first one stops, the
    # others run on their own, maybe on a quieter or busier machine. So each variant's rate is also taken over that
    # common window (its last checkpoint within it), and its time to each target re-timed at that rate.
    common = min(result["train_seconds"] for result in results)
    for result in results:
        within = [point for point in result["curve"] if point["seconds"] <= common * 1.001] or result["curve"][:1]
        result["img_per_s_common_window"] = within[-1]["images"] / within[-1]["seconds"]
        result["seconds_at_common_rate"] = {
            name: hit["images"] / result["img_per_s_common_window"] if hit else None
            for name, hit in result["reached"].items()
        }
    reference = results[0]
    for result in results:
        result["img_per_s_over_first"] = result["img_per_s"] / reference["img_per_s"]
        result["img_per_s_common_window_over_first"] = (
            result["img_per_s_common_window"] / reference["img_per_s_common_window"]
        )
        result["time_over_first"], result["time_over_first_below"] = {}, {}
        for name in targets:
            hit, reference_hit = result["reached"][name], reference["reached"][name]
            result["time_over_first"][name] = (
                hit["seconds"] / reference_hit["seconds"] if hit and reference_hit else None
            )
            # The first variant did not get there in its training time: this variant's ratio is below this bound.
            bound = hit["seconds"] / reference["train_seconds"] if hit and not reference_hit else None
            result["time_over_first_below"][name] = bound
    return {
        "time_to_psnr": results,
        "setup": {
            **{key: value for key, value in setup.items() if key not in ("batch", "learning_rate", "warmup_steps")},
            "batch": batch_size,
            "learning_rate": args.lr,
            "warmup_steps": args.warmup,
            "chunk_steps": args.chunk_steps,
            "eval_images": count,
            "mean_image_psnr": mean_image,
            "targets_psnr": targets,
            "max_images": args.max_images,
            "max_seconds": args.max_seconds,
            "settle_factor": args.settle_factor,
            "from_log": str(args.from_log) if args.from_log else None,
            "device": _device_name(device),
            "cpu_isa": isa,
            "conv_gflops_per_s": conv_rates,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        },
    }


def run_sigreg(args: argparse.Namespace) -> dict[str, Any]:
    """SIGReg forward + backward on each setup's latents (random, at the setup's batch or `--batch`): the shipped
    `SIGReg` against `plain_sigreg` (the formula with its [locations, samples, slices, knots] tensor), alternating
    call by call in one process, `--steps` timed pairs after one untimed pair each."""
    from plain_reference import plain_sigreg

    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    for name in args.sigreg:
        setup = load_setup(name)
        shape = LeaeModel(LeaeConfig.from_preset(setup["preset"], image_size=setup["image_size"])).latent_shape
        batch = args.batch or setup["batch"]
        z = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(0))
        sigreg = build_recipe(setup["recipe"], **setup["options"]).sigreg  # the setup's own SIGReg
        timings: dict[str, list[float]] = {"shipped": [], "plain": []}
        for index in range(args.steps + 1):
            for form in timings:
                latents = z.clone().requires_grad_()
                start = time.perf_counter()
                (sigreg(latents, step=0) if form == "shipped" else plain_sigreg(sigreg, latents, 0)).backward()
                if index:
                    timings[form].append(time.perf_counter() - start)
        best = {form: min(times) for form, times in timings.items()}
        median = {form: statistics.median(times) for form, times in timings.items()}
        results.append(
            {
                "setup": name,
                "latents": [batch, *shape],
                "shipped_ms": 1e3 * best["shipped"],
                "plain_ms": 1e3 * best["plain"],
                "shipped_ms_median": 1e3 * median["shipped"],
                "plain_ms_median": 1e3 * median["plain"],
                "speedup_over_plain": best["plain"] / best["shipped"],
            }
        )
    return {"sigreg": results, "cpu_isa": cpu_isa(), "threads": torch.get_num_threads(), "torch": torch.__version__}


def format_sigreg(report: dict[str, Any]) -> str:
    lines = [
        f"SIGReg forward + backward, ISA {report['cpu_isa']['isa']}, {report['threads']} thread(s)",
        "| setup | latents | shipped ms (median) | plain ms (median) | shipped over plain |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in report["sigreg"]:
        lines.append(
            f"| {r['setup']} | {'×'.join(map(str, r['latents']))} "
            f"| {r['shipped_ms']:.1f} ({r['shipped_ms_median']:.1f}) "
            f"| {r['plain_ms']:.1f} ({r['plain_ms_median']:.1f}) "
            f"| {r['speedup_over_plain']:.2f}× |"
        )
    return "\n".join(lines)


def format_time_to_psnr(report: dict[str, Any]) -> str:
    setup = report["setup"]
    isa = setup["cpu_isa"]
    names = list(setup["targets_psnr"])
    lines = [
        f"{setup['recipe']} {setup['preset']} b{setup['batch']} {setup['image_size']}px on {setup['data']} "
        f"({setup['eval_images']} test images, mean-image PSNR {setup['mean_image_psnr']:.2f} dB); "
        f"{setup['device']}; best conv GFLOP/s "
        + ", ".join(f"{dtype} {rate:.0f}" for dtype, rate in setup["conv_gflops_per_s"].items())
        + "; "
        f"ISA {isa['isa']} (hardware {isa['hardware_isa']}, ATen {isa['aten_cpu_capability']}"
        + (f", {', '.join(f'{k}={v}' for k, v in isa['overrides'].items())}" if isa["overrides"] else "")
        + f"); {setup['threads']} threads",
        "| variant | precision | img/s | vs first | img/s while all ran | vs first | GFLOP/img | of best conv | "
        + " | ".join(f"{name}: s | images | time vs first | s at the shared-load rate" for name in names)
        + " | final PSNR dB |",
        "|" + " --- |" * (9 + 4 * len(names)),
    ]
    for r in report["time_to_psnr"]:
        cells = [r["variant"], r["mixed_precision"], f"{r['img_per_s']:.2f}", f"{r['img_per_s_over_first']:.2f}×"]
        cells += [f"{r['img_per_s_common_window']:.2f}", f"{r['img_per_s_common_window_over_first']:.2f}×"]
        cells += [_fmt(r["gflop_per_img"], 2), _fmt(r["fraction_of_best_conv"], 2)]
        for name in names:
            hit, ratio, bound = r["reached"][name], r["time_over_first"][name], r["time_over_first_below"][name]
            cells += [
                f"{hit['seconds']:.0f}" if hit else f"not in {r['train_seconds']:.0f}",
                f"{hit['images']:,.0f}" if hit else f"> {r['images']:,}",
                f"{ratio:.2f}" if ratio is not None else f"< {bound:.2f}" if bound is not None else "-",
                _fmt(r["seconds_at_common_rate"][name], 0),
            ]
        cells.append(f"{r['final_psnr']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------------ driver


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--recipe", nargs="+", default=["masked"], help=f"one or more of: {', '.join(RECIPES)}")
    parser.add_argument(
        "--preset", nargs="+", default=["leae-11m"], help=f"one or more of: {', '.join(leae_hub.PRESETS)}"
    )
    parser.add_argument("--batch", type=int, default=None, help="default: 16 at 128 px and above, else 64")
    parser.add_argument("--image_size", type=int, default=None, help="default: the preset's")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps (best and median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (more with --compile)")
    parser.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE", help="recipe option, e.g. crop_size=32"
    )
    parser.add_argument("--mixed_precision", choices=["no", "bf16"], default=None, help="default: bf16 on GPU, else no")
    parser.add_argument("--compile", action="store_true", help="torch.compile the recipe (the objective's forward)")
    parser.add_argument("--fused_optimizer", action="store_true", help="AdamW(fused=True)")
    parser.add_argument(
        "--plain_kernels", action="store_true", help="the plain model (no leae_hub.speedups.enable_fast_path)"
    )
    parser.add_argument(
        "--plain_reference",
        action="store_true",
        help="also time the plain reference formulation (training/plain_reference.py: plain model, fp32, full-size "
        "judge crops) after each timed step: plain_img_per_s and speedup_over_plain",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--data_workers", type=int, default=0, help="DataLoader workers for the data-pipeline rate")
    parser.add_argument("--skip_inference", action="store_true")
    parser.add_argument("--skip_data", action="store_true")
    parser.add_argument("--inference_seconds", type=float, default=3.0, help="time spent on batch-1 latencies")
    parser.add_argument("--data_seconds", type=float, default=3.0, help="time spent per data source")
    parser.add_argument(
        "--data", nargs="+", default=None, help="data sources for the pipeline rate (default: synthetic-shapes cifar10)"
    )
    parser.add_argument("--all", action="store_true", help="the standard matrix (overrides --recipe/--preset/...)")
    parser.add_argument("--no_isolate", action="store_true", help="run cases in this process (peak RSS then mixes)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--quality", action="store_true", help="train the --variant option sets for equal wall time")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="--quality: 'same-math' or comma-separated bf16, compile, KEY=VALUE (the first is the reference); "
        "--time_to_psnr: plain, same-math, config or defaults, then bf16, fp32, compile, KEY=VALUE",
    )
    parser.add_argument("--wall_seconds", type=float, default=150.0, help="with --quality: training time per variant")
    parser.add_argument("--quality_data", default="cifar10", help="with --quality: the data source")
    parser.add_argument("--eval_images", type=int, default=1000, help="with --quality: held-out images for PSNR")
    parser.add_argument(
        "--learning_rate",
        type=float,
        default=None,
        help="AdamW rate (--quality: 1e-3; --time_to_psnr: the config's)",
    )
    parser.add_argument(
        "--warmup_steps", type=int, default=None, help="linear warm-up steps (--quality: 20; --time_to_psnr: config's)"
    )
    parser.add_argument(
        "--time_to_psnr",
        choices=list(TIME_TO_PSNR_SETUPS),
        default=None,
        help="train the --variant step formulations on a real data set (the zoo config of this name) until "
        "held-out PSNR reaches mean-image PSNR + each --targets_db (default variants: plain same-math defaults)",
    )
    parser.add_argument("--targets_db", type=float, nargs="+", default=[8.0, 10.0], help="with --time_to_psnr")
    parser.add_argument("--chunk_steps", type=int, default=10, help="with --time_to_psnr: steps per turn, then PSNR")
    parser.add_argument("--max_images", type=int, default=None, help="with --time_to_psnr: stop a variant here")
    parser.add_argument("--max_seconds", type=float, default=None, help="with --time_to_psnr: training-time cap")
    parser.add_argument(
        "--from_log",
        type=Path,
        default=None,
        help="with --time_to_psnr and the run's own settings: rebuild the report of a run stopped before its end "
        "from the progress lines of its log (no training; FLOP and conv-rate figures are then absent)",
    )
    parser.add_argument(
        "--settle_factor",
        type=float,
        default=None,
        help="with --time_to_psnr: once a variant reaches the last target at training time T, stop all at FACTOR·T "
        "(a variant still short of it then takes more than FACTOR× as long)",
    )
    parser.add_argument(
        "--sigreg",
        nargs="+",
        choices=list(TIME_TO_PSNR_SETUPS),
        default=None,
        help="time SIGReg forward + backward on these setups' latents against its plain formula (--steps pairs)",
    )
    parser.add_argument("--case_json", type=str, default=None, help=argparse.SUPPRESS)  # internal: run one case
    return parser.parse_args(argv)


def _parse_options(items: list[str]) -> dict[str, Any]:
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--option takes KEY=VALUE, got {item!r} (e.g. --option crop_size=32)")
        options[key] = yaml.safe_load(value)
    return options


def build_cases(args: argparse.Namespace) -> list[dict[str, Any]]:
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    device = "cpu" if device == "auto" else device
    common = {
        "steps": args.steps,
        "warmup": args.warmup + (2 if args.compile else 0),
        "compile": args.compile,
        "fused_optimizer": args.fused_optimizer,
        "plain_kernels": args.plain_kernels,
        "plain_reference": args.plain_reference,
        "threads": args.threads,
        "device": device,
        "data_workers": args.data_workers,
        "skip_inference": args.skip_inference,
        "skip_data": args.skip_data,
        "inference_seconds": args.inference_seconds,
        "data_seconds": args.data_seconds,
        "data_sources": args.data or list(DEFAULT_DATA_SOURCES),
    }
    default_precision = args.mixed_precision or ("bf16" if device == "cuda" else "no")
    if args.all:
        specs = [dict(spec) for spec in STANDARD_MATRIX]
    else:
        options = _parse_options(args.option)
        specs = [
            {"recipe": recipe, "preset": preset, "batch": args.batch, "options": options}
            for recipe in args.recipe
            for preset in args.preset
        ]
    cases = []
    for spec in specs:
        if spec["recipe"] not in RECIPES:
            raise SystemExit(f"Unknown recipe {spec['recipe']!r}. Valid recipes: {', '.join(RECIPES)}.")
        if spec["preset"] not in leae_hub.PRESETS:
            raise SystemExit(f"Unknown preset {spec['preset']!r}. Valid presets: {', '.join(leae_hub.PRESETS)}.")
        image_size = (None if args.all else args.image_size) or LeaeConfig.from_preset(spec["preset"]).image_size
        batch = spec.get("batch") or (16 if image_size >= 64 else 64)
        precision = spec.get("mixed_precision", default_precision)
        if device == "cuda" and not args.mixed_precision:
            precision = "bf16"
        cases.append(
            {
                **common,
                "recipe": spec["recipe"],
                "preset": spec["preset"],
                "batch": batch,
                "image_size": image_size,
                "options": spec.get("options") or {},
                "mixed_precision": precision,
            }
        )
    return cases


def run_isolated(case: dict[str, Any]) -> dict[str, Any]:
    """Run one case in a fresh interpreter and read its JSON back."""
    with tempfile.NamedTemporaryFile("r", suffix=".json") as handle:
        command = [sys.executable, __file__, "--case_json", json.dumps(case), "--json", handle.name]
        completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if completed.returncode != 0:
            return {**_identity(case), "error": completed.stdout[-4000:]}
        return json.loads(Path(handle.name).read_text())["cases"][0]


def _identity(case: dict[str, Any]) -> dict[str, Any]:
    return {key: case[key] for key in ("recipe", "preset", "batch", "image_size", "options", "mixed_precision")}


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Cross-case figures: the data pipeline against the fastest training step at each image size."""
    summary: dict[str, Any] = {}
    for size in sorted({r["image_size"] for r in results if "img_per_s" in r}):
        fastest = max((r for r in results if r.get("image_size") == size and "img_per_s" in r), key=_img_per_s)
        data = [r.get("data_img_per_s_cifar10") for r in results if r.get("image_size") == size]
        data = [rate for rate in data if rate]
        entry = {"fastest_step_img_per_s": fastest["img_per_s"], "fastest_case": _label(fastest)}
        if data:  # measured once per case: the median and the slowest of those measurements
            entry["cifar10_data_img_per_s"] = statistics.median(data)
            entry["cifar10_data_img_per_s_min"] = min(data)
            entry["data_over_fastest_step"] = statistics.median(data) / fastest["img_per_s"]
        summary[f"{size}px"] = entry
    return summary


def _img_per_s(result: dict[str, Any]) -> float:
    return result["img_per_s"]


def _label(result: dict[str, Any]) -> str:
    extras = [f"{k}={v}" for k, v in (result.get("options") or {}).items()]
    if result.get("mixed_precision") not in (None, "no"):
        extras.append(result["mixed_precision"])
    case = result.get("case") or {}
    extras += [name for name in ("compile", "fused_optimizer", "plain_kernels") if case.get(name)]
    return f"{result['recipe']} {result['preset']} b{result['batch']} {result['image_size']}px" + (
        f" [{', '.join(extras)}]" if extras else ""
    )


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def format_table(results: list[dict[str, Any]]) -> str:
    header = (
        "| case | img/s | GFLOP/img | GFLOP/s | matmul GFLOP/s | of peak | executed of peak | of best conv "
        "| peak RSS MB | infer b1 img/s | infer b32 img/s | p50 ms | infer of peak | shapes img/s | CIFAR img/s |"
    )
    lines = [header, "|" + " --- |" * (header.count("|") - 1)]
    for r in results:
        if "error" in r:
            lines.append(f"| {_label(r)} | error: see JSON |" + " |" * 13)
            continue
        lines.append(
            "| "
            + " | ".join(
                [
                    _label(r),
                    _fmt(r["img_per_s"], 2),
                    _fmt(r["gflop_per_img"], 2),
                    _fmt(r["gflops_per_s"]),
                    _fmt(r["matmul_gflops_per_s"]),
                    _fmt(r["fraction_of_peak"], 2),
                    _fmt(r.get("executed_fraction_of_peak"), 2),
                    _fmt(r.get("fraction_of_best_conv"), 2),
                    _fmt(r["peak_rss_mb"], 0),
                    _fmt(r.get("inference_img_per_s_batch1")),
                    _fmt(r.get("inference_img_per_s_batch32")),
                    _fmt(r.get("inference_p50_latency_ms")),
                    _fmt(r.get("inference_fraction_of_peak"), 2),
                    _fmt(r.get("data_img_per_s_synthetic_shapes"), 0),
                    _fmt(r.get("data_img_per_s_cifar10"), 0),
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    for enabled, run, render in (
        (args.sigreg, run_sigreg, format_sigreg),
        (args.time_to_psnr, run_time_to_psnr, format_time_to_psnr),
        (args.quality, run_quality, format_quality),
    ):
        if enabled:
            report = run(args)
            print(render(report))
            _write_report(args.json, report)
            return report
    if args.case_json:  # child process: one case, JSON out
        results = [run_case(json.loads(args.case_json))]
    else:
        results = []
        for case in build_cases(args):
            print(f"running {_label({**case, 'case': case})} ...", file=sys.stderr, flush=True)
            results.append(run_case(case) if args.no_isolate else run_isolated(case))
    report = {"cases": results, "summary": summarize(results) if not args.case_json else {}}
    if not args.case_json:
        print(format_table(results))
        for size, entry in report["summary"].items():
            if "data_over_fastest_step" in entry:
                print(
                    f"{size}: CIFAR-10 pipeline {entry['cifar10_data_img_per_s']:.0f} img/s (median over cases) = "
                    f"{entry['data_over_fastest_step']:.1f}× the fastest step ({entry['fastest_case']})"
                )
        for r in results:
            for spec, ratio in (r.get("data_over_step") or {}).items():
                print(f"{_label(r)}: {spec} pipeline {r['data_img_per_s'][spec]:.0f} img/s = {ratio:.1f}× the step")
        for r in results:
            if "speedup_over_plain" in r:
                print(
                    f"{_label(r)}: {r['img_per_s']:.2f} img/s, the plain reference {r['plain_img_per_s']:.2f} img/s "
                    f"in the same run: {r['speedup_over_plain']:.2f}× (medians: {r['speedup_over_plain_median']:.2f}×)"
                )
        for r in results:
            if "error" in r:
                print(f"\n{_label(r)} failed:\n{r['error']}", file=sys.stderr)
    _write_report(args.json, report)
    return report


def _write_report(path: Path | None, report: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
