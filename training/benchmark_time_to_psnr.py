"""`training/benchmark.py --time_to_psnr SETUP`: the step formulations (`--variant`) train a zoo setup on its real data
set through `leae train`'s own step (`benchmark_trainer`), interleaved on the same batches, until held-out PSNR
reaches the mean-image PSNR + each `--targets_db`; the training time and images each needs, and their ratios."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

import benchmark_measure as measure
import torch
import yaml
from benchmark_trainer import SharedBatches, held_out_psnr, held_out_psnr_mean_colour, train_chunk, variant_run

from leae_hub import LeaeConfig, LeaeModel
from leae_hub.hardware import choose_mixed_precision, cpu_isa
from leae_hub.recipes import RECIPES, build_recipe
from leae_hub.speedups import enable_fast_path
from leae_hub.trainer import TrainArguments

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
            options.update(measure.parse_options([token]))
        else:
            raise SystemExit(f"unknown variant token {token!r} in {spec!r}: bf16, fp32, compile or KEY=VALUE")
    if base == "plain" and (precision != "no" or variant["compile"]):
        raise SystemExit(f"the plain reference runs in fp32 without compile, got {spec!r}")
    return {**variant, "options": options, "mixed_precision": precision}


def _build_run(
    variant: dict[str, Any], setup: dict[str, Any], device: torch.device, args: argparse.Namespace
) -> dict[str, Any]:
    """A variant's training state: the setup's model (plain, or with the fast path) and recipe, `leae train`'s step
    at the run's learning rate and warm-up, and its PSNR curve."""
    torch.manual_seed(0)
    model = LeaeModel(LeaeConfig.from_preset(setup["preset"], image_size=setup["image_size"])).to(device).train()
    recipe = build_recipe(setup["recipe"], **variant["options"])
    if not variant["plain"]:
        enable_fast_path(model)
    settings = TrainArguments(learning_rate=args.lr, warmup_steps=args.warmup, compile=variant["compile"])
    return variant_run(variant, model, recipe, device, settings, curve=[], done=False)


def _step_flops(run: dict[str, Any], batch: dict[str, torch.Tensor]) -> int:
    """Matmul and conv FLOPs of one step of a variant's math, counted on the plain model (as `count_flops`), through
    the step module's uncompiled `forward`."""

    def step() -> None:
        run["parts"].step_module.forward(batch, 0).loss.backward()

    return measure.count_flops(step, run["model"], plain=True)


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
    setup, batch_size = _setup(args)
    train_set = build_dataset(setup["data"], "train", setup["image_size"], seed=0)
    test_set = build_dataset(setup["data"], "test", setup["image_size"], seed=0)
    count = min(args.eval_images, len(test_set))
    eval_images = torch.stack([test_set[i]["pixel_values"] for i in range(count)]).to(device)
    mean_image = held_out_psnr_mean_colour(eval_images)
    targets = {f"+{delta:g} dB": mean_image + delta for delta in sorted(args.targets_db)}
    batches = SharedBatches(make_dataloader(train_set, batch_size, seed=0, num_workers=args.data_workers))
    specs = args.variant or ["plain", "same-math", "defaults"]
    variants = [time_to_psnr_variant(spec, setup, device, isa) for spec in specs]
    runs, flops, precisions, conv_rates = _start_runs(args, variants, setup, batches, batch_size, device)
    _train_until_targets(runs, batches, args, eval_images, max(targets.values()), batch_size, device)
    for dtype in precisions:  # best of the rates before and after the training, as the matmul peak elsewhere
        name = str(dtype).removeprefix("torch.")
        conv_rates[name] = max(conv_rates[name], measure.conv_gflops(device, dtype))
    results = [_result(run, targets, flops, conv_rates, batch_size) for run in runs]
    if device.type == "cuda" and flops:  # MFU: against the bf16 matmul rate measured here, and the nominal dense peak
        matmul_bf16, nominal = measure.matmul_gflops(device, torch.bfloat16), measure.nominal_bf16_gflops(device)
        for result in results:
            result["mfu"] = result["gflops_per_s"] / matmul_bf16
            if nominal is not None:
                result["mfu_nominal"] = result["gflops_per_s"] / nominal
    _compare(results, targets)
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
            "device": measure.device_name(device),
            "cpu_isa": isa,
            "conv_gflops_per_s": conv_rates,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        },
    }


def _setup(args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    """The setup with the command line's changes (`--image_size`, `--data`), and the batch size; sets `args.lr` and
    `args.warmup` (the command line's, else the config's)."""
    setup = load_setup(args.time_to_psnr)
    if args.image_size:
        setup["image_size"] = args.image_size
    if args.data:
        setup["data"] = args.data[0]
    args.lr = args.learning_rate if args.learning_rate is not None else setup["learning_rate"]
    args.warmup = args.warmup_steps if args.warmup_steps is not None else setup["warmup_steps"]
    return setup, args.batch or setup["batch"]


def _start_runs(
    args: argparse.Namespace,
    variants: list[dict[str, Any]],
    setup: dict[str, Any],
    batches: SharedBatches,
    batch_size: int,
    device: torch.device,
) -> tuple[list[dict[str, Any]], dict[str, int] | None, set[torch.dtype], dict[str, float]]:
    """The variants' training states, each one's FLOPs per step, the precisions they run and the best conv rate at
    each; with `--from_log`, the curves of a stopped run read from its log instead (no FLOPs, no conv rates)."""
    if args.from_log:  # a run stopped before its report: its curves from the progress lines of its log
        curves = curves_from_log(args.from_log.read_text(), batch_size)
        runs = [{**spec, "curve": curves[spec["name"]], "done": True} for spec in variants]
        for run in runs:
            run["steps"], run["seconds"] = run["curve"][-1]["steps"], run["curve"][-1]["seconds"]
        return runs, None, set(), {}
    first = {"pixel_values": batches.get(0)["pixel_values"].to(device)}
    flops = {spec["name"]: _step_flops(_build_run(spec, setup, device, args), first) for spec in variants}
    precisions = {torch.float32} | {torch.bfloat16 for spec in variants if spec["mixed_precision"] == "bf16"}
    conv_rates = {str(dtype).removeprefix("torch."): measure.conv_gflops(device, dtype) for dtype in precisions}
    return [_build_run(spec, setup, device, args) for spec in variants], flops, precisions, conv_rates


def _train_until_targets(
    runs: list[dict[str, Any]],
    batches: SharedBatches,
    args: argparse.Namespace,
    eval_images: torch.Tensor,
    last_target: float,
    batch_size: int,
    device: torch.device,
) -> None:
    """Turns of `--chunk_steps` steps, the variant with the least training time next, each followed by its held-out
    PSNR, until every variant is done (the last target, `--max_images`, `--max_seconds` or `--settle_factor`)."""
    settle_at = None  # with --settle_factor: the training time at which every variant stops
    while not all(run["done"] for run in runs):
        run = min((r for r in runs if not r["done"]), key=lambda r: r["seconds"])
        train_chunk(run, batches, args.chunk_steps, device)
        batches.release_before(min(r["steps"] for r in runs if not r["done"]))
        value = held_out_psnr(run["model"], eval_images)
        images = run["steps"] * batch_size
        run["curve"].append({"steps": run["steps"], "images": images, "seconds": run["seconds"], "psnr": value})
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


def _result(
    run: dict[str, Any],
    targets: dict[str, float],
    flops: dict[str, int] | None,
    conv_rates: dict[str, float],
    batch_size: int,
) -> dict[str, Any]:
    """A variant's figures: its training, its rate and FLOP rate, and where its curve reached each target."""
    img_per_s = run["steps"] * batch_size / run["seconds"]
    gflop = flops[run["name"]] / batch_size / 1e9 if flops else None
    best_conv = conv_rates.get("bfloat16" if run["mixed_precision"] == "bf16" else "float32")
    return {
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
        "reached": {name: crossing(run["curve"], target) for name, target in targets.items()},
        "curve": run["curve"],
    }


def _compare(results: list[dict[str, Any]], targets: dict[str, float]) -> None:
    """Add each variant's rate over the window in which all trained, and its rates and times over the first's."""
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


def format_time_to_psnr(report: dict[str, Any]) -> str:
    """The `--time_to_psnr` table."""
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
        cells += [measure.fmt(r["gflop_per_img"], 2), measure.fmt(r["fraction_of_best_conv"], 2)]
        for name in names:
            hit, ratio, bound = r["reached"][name], r["time_over_first"][name], r["time_over_first_below"][name]
            cells += [
                f"{hit['seconds']:.0f}" if hit else f"not in {r['train_seconds']:.0f}",
                f"{hit['images']:,.0f}" if hit else f"> {r['images']:,}",
                f"{ratio:.2f}" if ratio is not None else f"< {bound:.2f}" if bound is not None else "-",
                measure.fmt(r["seconds_at_common_rate"][name], 0),
            ]
        cells.append(f"{r['final_psnr']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`--time_to_psnr`'s own flags."""
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
