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

On a GPU the step runs in bf16 autocast by default and the case adds `mfu`, the FLOP rate over the GPU's bf16 matmul
rate measured in the same run (and over the nominal dense bf16 peak where the GPU is known).
"""

from __future__ import annotations

import argparse
import json
import os
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

    def __init__(self, case: dict[str, Any], device: torch.device):
        torch.manual_seed(0)
        config = LeaeConfig.from_preset(case["preset"], image_size=case["image_size"])
        self.model = LeaeModel(config).to(device).train()
        if not case["plain_kernels"]:
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


def measure_training(case: dict[str, Any], device: torch.device) -> tuple[dict[str, Any], LeaeModel]:
    step = TrainStep(case, device)
    for _ in range(case["warmup"]):
        step()
    peak_dtype = torch.bfloat16 if device.type == "cuda" and case["mixed_precision"] == "bf16" else torch.float32
    low_precision_peaks = []  # bf16 on CPU: the bf16 matmul rate as well (the fraction is still against fp32)
    times, peaks = [], []
    for _ in range(case["steps"]):
        peaks.append(matmul_gflops(device, peak_dtype))
        if device.type == "cpu" and case["mixed_precision"] == "bf16":
            low_precision_peaks.append(matmul_gflops(device, torch.bfloat16))
        _sync(device)
        start = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - start)
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
        "peak_rss_mb": peak_memory,
    }
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
    loader = make_dataloader(train_set, batch_size, seed=0)

    def stream():
        while True:  # epoch after epoch
            for batch in loader:
                yield {"pixel_values": batch["pixel_values"]}

    source = enumerate(stream())
    batches: dict[int, dict[str, torch.Tensor]] = {}  # step j of every variant trains on the same batch j

    def batch_for(index: int) -> dict[str, torch.Tensor]:
        while index not in batches:
            produced, batch = next(source)
            batches[produced] = batch
        return batches[index]

    runs = []
    for spec in args.variant or ["same-math"]:
        variant = parse_variant(spec)
        torch.manual_seed(0)
        model = enable_fast_path(LeaeModel(LeaeConfig.from_preset(preset, image_size=image_size)).train())
        recipe = build_recipe(recipe_name, **variant["options"])
        trainable = list(recipe.trainable_parameters(model))
        fused = {"fused": True} if variant["fused_optimizer"] else {}
        optimizer = torch.optim.AdamW(trainable, lr=args.learning_rate, weight_decay=0.01, **fused)
        objective = torch.compile(recipe) if variant["compile"] else recipe
        runs.append(
            {
                **variant,
                "model": model,
                "recipe": recipe,
                "objective": objective,
                "trainable": trainable,
                "optimizer": optimizer,
                "steps": 0,
                "seconds": 0.0,
                "psnr_at": {},
                "loss": None,
            }
        )
    device = torch.device("cpu")
    budget = args.wall_seconds
    checkpoints = (0.5, 1.0)
    while any(run["seconds"] < budget for run in runs):
        run = min((r for r in runs if r["seconds"] < budget), key=lambda r: r["seconds"])
        batch = batch_for(run["steps"])
        for done in [index for index in batches if index < min(r["steps"] for r in runs)]:
            del batches[done]  # every variant is past it
        for group in run["optimizer"].param_groups:  # linear warm-up, then constant (train.py: warmup_steps)
            group["lr"] = args.learning_rate * min(1.0, (run["steps"] + 1) / args.warmup_steps)
        start = time.perf_counter()
        with _autocast(device, run["mixed_precision"]):
            out = run["objective"](run["model"], batch, run["steps"])
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(run["trainable"], 1.0)
        run["optimizer"].step()
        run["optimizer"].zero_grad(set_to_none=True)
        run["recipe"].update(run["model"], run["steps"])
        run["seconds"] += time.perf_counter() - start
        run["steps"] += 1
        run["loss"] = out.loss.item()
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
            "learning_rate": args.learning_rate,
            "warmup_steps": args.warmup_steps,
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
        help="with --quality: 'same-math' or comma-separated bf16, compile, KEY=VALUE (the first is the reference)",
    )
    parser.add_argument("--wall_seconds", type=float, default=150.0, help="with --quality: training time per variant")
    parser.add_argument("--quality_data", default="cifar10", help="with --quality: the data source")
    parser.add_argument("--eval_images", type=int, default=1000, help="with --quality: held-out images for PSNR")
    parser.add_argument("--learning_rate", type=float, default=1e-3, help="with --quality: AdamW learning rate")
    parser.add_argument("--warmup_steps", type=int, default=20, help="with --quality: linear warm-up steps")
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
        "| case | img/s | GFLOP/img | GFLOP/s | matmul GFLOP/s | of peak | executed of peak | peak RSS MB "
        "| infer b1 img/s | infer b32 img/s | p50 ms | infer of peak | shapes img/s | CIFAR img/s |"
    )
    lines = [header, "|" + " --- |" * (header.count("|") - 1)]
    for r in results:
        if "error" in r:
            lines.append(f"| {_label(r)} | error: see JSON |" + " |" * 12)
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
    if args.quality:
        report = run_quality(args)
        print(format_quality(report))
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=2))
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
            if "error" in r:
                print(f"\n{_label(r)} failed:\n{r['error']}", file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
