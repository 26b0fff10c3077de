"""`training/benchmark.py`'s step benchmark (`--recipe`/`--preset` cases, `--all`): every case times `leae train`'s
own optimiser step (`benchmark_trainer`) in a fresh process, with its FLOP rate, memory, the plain reference's rate
(`--plain_reference`), then the inference and data-pipeline figures; the table and the cross-case summary."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from benchmark_data import measure_data
from benchmark_inference import measure_inference
from benchmark_measure import (
    conv_gflops,
    count_flops,
    device_name,
    fmt,
    matmul_gflops,
    nominal_bf16_gflops,
    parse_options,
    peak_rss_mb,
    timed,
)
from benchmark_trainer import trainer_step

import leae_hub
from leae_hub import LeaeConfig, LeaeModel
from leae_hub.hardware import cpu_isa
from leae_hub.recipes import RECIPES, build_recipe
from leae_hub.speedups import enable_fast_path
from leae_hub.trainer import TrainArguments
from leae_hub.trainer.loop import optimizer_step

COMMAND = Path(__file__).with_name("benchmark.py")  # a case runs in a fresh process of the one command
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
DEFAULT_DATA_SOURCES = ("synthetic-shapes", "cifar10")


class CaseStep:
    """A case's optimiser step: `leae train`'s own (`benchmark_trainer.trainer_step`, `optimizer_step`: AdamW at
    `TrainArguments`' defaults, gradient clipping 1.0, the constant schedule, `recipe.update`) on one fixed batch of
    random pixels. `plain_reference`: the plain reference formulation (training/plain_reference.py: the plain model
    in fp32) through the same step."""

    def __init__(self, case: dict[str, Any], device: torch.device, plain_reference: bool = False):
        torch.manual_seed(0)
        config = LeaeConfig.from_preset(case["preset"], image_size=case["image_size"])
        self.model = LeaeModel(config).to(device).train()
        if not (case["plain_kernels"] or plain_reference):
            enable_fast_path(self.model)
        recipe = build_recipe(case["recipe"], **case["options"])
        self.settings = TrainArguments(compile=case["compile"] and not plain_reference)
        precision = "no" if plain_reference else case["mixed_precision"]
        fused = case["fused_optimizer"]
        self.parts = trainer_step(self.model, recipe, device, self.settings, precision, plain_reference, fused)
        generator = torch.Generator().manual_seed(1)
        pixels = torch.rand(
            case["batch"], config.in_channels, config.image_size, config.image_size, generator=generator
        )
        self.batch = {"pixel_values": pixels.to(device)}
        self.step_index = 0

    def __call__(self, eager: bool = False) -> float:
        """One step; its loss. `eager`: through the step module's uncompiled `forward` (for counting FLOPs)."""
        parts = dataclasses.replace(self.parts, step_module=self.parts.step_module.forward) if eager else self.parts
        out = optimizer_step(parts, self.batch, self.step_index, self.settings.max_grad_norm)
        self.step_index += 1
        return out.loss.item()


def measure_training(case: dict[str, Any], device: torch.device) -> tuple[dict[str, Any], LeaeModel]:
    """Time `case["steps"]` steps after `case["warmup"]` untimed ones (and the plain reference's after each, with
    `plain_reference`), then measure the conv rate, the peak memory and the FLOPs; the figures and the model."""
    step = CaseStep(case, device)
    for _ in range(case["warmup"]):
        step()
    reference = None  # the plain reference formulation (training/plain_reference.py), timed after each step
    if case.get("plain_reference"):
        options = {key: value for key, value in case["options"].items() if key != "crop_size"}
        reference = CaseStep({**case, "options": options}, device, plain_reference=True)
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
        times.append(timed(step, device))
        if reference is not None:
            plain_times.append(timed(reference, device))
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
        nominal = nominal_bf16_gflops(device)
        if nominal is not None:
            result["mfu_nominal"] = result["gflops_per_s"] / nominal
    return result, step.model


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
        "device": device_name(device),
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
        options = parse_options(args.option)
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
        command = [sys.executable, str(COMMAND), "--case_json", json.dumps(case), "--json", handle.name]
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
        entry = {"fastest_step_img_per_s": fastest["img_per_s"], "fastest_case": label(fastest)}
        if data:  # measured once per case: the median and the slowest of those measurements
            entry["cifar10_data_img_per_s"] = statistics.median(data)
            entry["cifar10_data_img_per_s_min"] = min(data)
            entry["data_over_fastest_step"] = statistics.median(data) / fastest["img_per_s"]
        summary[f"{size}px"] = entry
    return summary


def _img_per_s(result: dict[str, Any]) -> float:
    return result["img_per_s"]


def label(result: dict[str, Any]) -> str:
    extras = [f"{k}={v}" for k, v in (result.get("options") or {}).items()]
    if result.get("mixed_precision") not in (None, "no"):
        extras.append(result["mixed_precision"])
    case = result.get("case") or {}
    extras += [name for name in ("compile", "fused_optimizer", "plain_kernels") if case.get(name)]
    return f"{result['recipe']} {result['preset']} b{result['batch']} {result['image_size']}px" + (
        f" [{', '.join(extras)}]" if extras else ""
    )


def format_table(results: list[dict[str, Any]]) -> str:
    header = (
        "| case | img/s | GFLOP/img | GFLOP/s | matmul GFLOP/s | of peak | executed of peak | of best conv "
        "| peak RSS MB | infer b1 img/s | infer b32 img/s | p50 ms | infer of peak | shapes img/s | CIFAR img/s |"
    )
    lines = [header, "|" + " --- |" * (header.count("|") - 1)]
    for r in results:
        if "error" in r:
            lines.append(f"| {label(r)} | error: see JSON |" + " |" * 13)
            continue
        lines.append(
            "| "
            + " | ".join(
                [
                    label(r),
                    fmt(r["img_per_s"], 2),
                    fmt(r["gflop_per_img"], 2),
                    fmt(r["gflops_per_s"]),
                    fmt(r["matmul_gflops_per_s"]),
                    fmt(r["fraction_of_peak"], 2),
                    fmt(r.get("executed_fraction_of_peak"), 2),
                    fmt(r.get("fraction_of_best_conv"), 2),
                    fmt(r["peak_rss_mb"], 0),
                    fmt(r.get("inference_img_per_s_batch1")),
                    fmt(r.get("inference_img_per_s_batch32")),
                    fmt(r.get("inference_p50_latency_ms")),
                    fmt(r.get("inference_fraction_of_peak"), 2),
                    fmt(r.get("data_img_per_s_synthetic_shapes"), 0),
                    fmt(r.get("data_img_per_s_cifar10"), 0),
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The step benchmark's own flags."""
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (more with --compile)")
    parser.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE", help="recipe option, e.g. crop_size=32"
    )
    parser.add_argument("--mixed_precision", choices=["no", "bf16"], default=None, help="default: bf16 on GPU, else no")
    parser.add_argument("--compile", action="store_true", help="torch.compile the training step, as leae train does")
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
    parser.add_argument("--skip_inference", action="store_true")
    parser.add_argument("--skip_data", action="store_true")
    parser.add_argument("--inference_seconds", type=float, default=3.0, help="time spent on batch-1 latencies")
    parser.add_argument("--data_seconds", type=float, default=3.0, help="time spent per data source")
    parser.add_argument("--all", action="store_true", help="the standard matrix (overrides --recipe/--preset/...)")
    parser.add_argument("--no_isolate", action="store_true", help="run cases in this process (peak RSS then mixes)")
    parser.add_argument("--case_json", type=str, default=None, help=argparse.SUPPRESS)  # internal: run one case


def run_step_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Every case (each in a fresh process unless `--no_isolate`; a `--case_json` child runs its one case here), the
    table and the summary printed unless this is a child: the report."""
    if args.case_json:  # child process: one case, JSON out
        results = [run_case(json.loads(args.case_json))]
        return {"cases": results, "summary": {}}
    results = []
    for case in build_cases(args):
        print(f"running {label({**case, 'case': case})} ...", file=sys.stderr, flush=True)
        results.append(run_case(case) if args.no_isolate else run_isolated(case))
    report = {"cases": results, "summary": summarize(results)}
    print(format_table(results))
    print_comparisons(report)
    return report


def print_comparisons(report: dict[str, Any]) -> None:
    """The lines under the table: the data pipeline against the steps, the plain reference's ratio, the failures."""
    results = report["cases"]
    for size, entry in report["summary"].items():
        if "data_over_fastest_step" in entry:
            print(
                f"{size}: CIFAR-10 pipeline {entry['cifar10_data_img_per_s']:.0f} img/s (median over cases) = "
                f"{entry['data_over_fastest_step']:.1f}× the fastest step ({entry['fastest_case']})"
            )
    for r in results:
        for spec, ratio in (r.get("data_over_step") or {}).items():
            print(f"{label(r)}: {spec} pipeline {r['data_img_per_s'][spec]:.0f} img/s = {ratio:.1f}× the step")
    for r in results:
        if "speedup_over_plain" in r:
            print(
                f"{label(r)}: {r['img_per_s']:.2f} img/s, the plain reference {r['plain_img_per_s']:.2f} img/s "
                f"in the same run: {r['speedup_over_plain']:.2f}× (medians: {r['speedup_over_plain_median']:.2f}×)"
            )
    for r in results:
        if "error" in r:
            print(f"\n{label(r)} failed:\n{r['error']}", file=sys.stderr)
