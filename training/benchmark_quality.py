"""`training/benchmark.py --quality`: every `--variant` (the same-math step and the math-changing option sets) trains
on one data set for the same wall time, interleaved step by step in one process, through `leae train`'s own step
(`benchmark_trainer`); the held-out PSNR each reaches."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import torch
from benchmark_measure import parse_options
from benchmark_trainer import SharedBatches, held_out_psnr, held_out_psnr_mean_colour, train_chunk, variant_run

from leae_hub import LeaeConfig, LeaeModel
from leae_hub.recipes import build_recipe
from leae_hub.speedups import enable_fast_path
from leae_hub.trainer import TrainArguments


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
            options.update(parse_options([token]))
        else:
            raise SystemExit(
                f"unknown variant token {token!r} in {spec!r}: bf16, compile, fused_optimizer or KEY=VALUE"
            )
    variant["options"] = options
    return variant


def run_quality(args: argparse.Namespace) -> dict[str, Any]:
    """Train every variant for `--wall_seconds` of its own step time on the same batches (`leae train`'s step, AdamW
    at `--learning_rate`, `--warmup_steps` of linear warm-up, clipping 1.0); PSNR at 50 % and 100 %."""
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
    device = torch.device("cpu")
    runs = []
    for spec in args.variant or ["same-math"]:
        variant = parse_variant(spec)
        torch.manual_seed(0)
        model = enable_fast_path(LeaeModel(LeaeConfig.from_preset(preset, image_size=image_size)).train())
        recipe = build_recipe(recipe_name, **variant["options"])
        settings = TrainArguments(learning_rate=args.lr, warmup_steps=args.warmup, compile=variant["compile"])
        runs.append(variant_run(variant, model, recipe, device, settings, psnr_at={}))
    budget = args.wall_seconds
    checkpoints = (0.5, 1.0)
    while any(run["seconds"] < budget for run in runs):
        run = min((r for r in runs if r["seconds"] < budget), key=lambda r: r["seconds"])
        train_chunk(run, batches, 1, device)
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


def format_quality(report: dict[str, Any]) -> str:
    """The `--quality` table."""
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`--quality`'s own flags."""
    parser.add_argument("--quality", action="store_true", help="train the --variant option sets for equal wall time")
    parser.add_argument("--wall_seconds", type=float, default=150.0, help="with --quality: training time per variant")
    parser.add_argument("--quality_data", default="cifar10", help="with --quality: the data source")
