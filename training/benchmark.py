"""Speed and memory of the training step, of inference and of the data pipeline: a table and a JSON file.

    python training/benchmark.py --recipe masked --preset leae-11m --batch 16 --image_size 128 --steps 3 --json out.json
    python training/benchmark.py --all --json perf.json                        # the standard matrix
    python training/benchmark.py --recipe masked --preset leae-cifar --option crop_size=8 --mixed_precision bf16

Every recipe × preset asked for is one case, run in a fresh subprocess (so that peak memories do not mix). A case
times `leae train`'s own optimiser step, built and taken by the trainer's functions (`leae_hub.trainer.loop`:
`prepare_step`, `optimizer_step`): the trainable mask, `recipe(model, batch, step)` (bf16 autocast when asked),
`backward`, gradient clipping to 1.0, the AdamW step (lr 1e-3, weight decay 0.01), the learning-rate schedule's step,
`zero_grad(set_to_none=True)` and `recipe.update`. Figures measured before the benchmark took the trainer's step (before
issue 24) timed its own copy of the step, without the clipping and the schedule's step. It reports:

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

`--quality` trains instead (through the same trainer step, with `--warmup_steps` of linear warm-up): every `--variant`
(the same-math step and the math-changing option sets) on CIFAR-10 for the same wall time, interleaved step by step
in one process so that load from other processes hits them alike, and reports the held-out PSNR each reaches:

    python training/benchmark.py --quality --preset leae-cifar --batch 128 --wall_seconds 150 \
        --variant same-math --variant crop_size=8 --variant bf16 --variant bf16,crop_size=8 --json quality.json

`--time_to_psnr SETUP` trains on a real data set until held-out PSNR reaches the mean-image PSNR + 8 and + 10 dB
(`--targets_db`): the setups are the zoo configs `celeba64` (CelebA 64 px), `utkface128` (UTKFace 128 px) and
`cifar32` (CIFAR-10 32 px). Every `--variant` (`plain`: the plain reference formulation; `same-math`: the shipped step,
same math; `defaults`: the config's options with the precision `choose_mixed_precision` picks for this CPU; `config`:
the config's options as written; plus `bf16`, `fp32`, `compile`, `KEY=VALUE`) trains through the trainer's step (the
config's learning rate and warm-up) on the same batches, in turns of
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

`--ssim SIZE [SIZE ...]` times the evaluation's SSIM (float64, its window a matrix product) on `--batch` image pairs
(default 32) of each size against its plain form (the window a depthwise convolution), alternating call by call:

    python training/benchmark.py --ssim 32 64 128 --steps 10 --threads 1 --json ssim.json

On a GPU the step runs in bf16 autocast by default and the case adds `mfu`, the FLOP rate over the GPU's bf16 matmul
rate measured in the same run (and over the nominal dense bf16 peak where the GPU is known).

The modes live in their own modules next to this one: `benchmark_step` (the cases and the table), `benchmark_inference`,
`benchmark_data`, `benchmark_quality`, `benchmark_time_to_psnr`, `benchmark_sigreg`, `benchmark_ssim`;
`benchmark_trainer` builds and takes the trainer's step, `benchmark_measure` holds the rates, FLOP counts and helpers
they share.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

# OpenMP threads that sleep at once when idle instead of spinning: on a machine shared with other processes, spinning
# threads wait for time slices at every parallel region (see docs/performance.md). Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import benchmark_quality  # noqa: E402
import benchmark_sigreg  # noqa: E402
import benchmark_ssim  # noqa: E402
import benchmark_step  # noqa: E402
import benchmark_time_to_psnr  # noqa: E402
from benchmark_measure import conv_gflops, write_report  # noqa: E402
from benchmark_time_to_psnr import crossing, curves_from_log, load_setup, time_to_psnr_variant  # noqa: E402

import leae_hub  # noqa: E402
from leae_hub.hardware import cpu_isa  # noqa: E402
from leae_hub.recipes import RECIPES  # noqa: E402

# What scripts and docs/performance.md use from here: `benchmark.cpu_isa()`, `benchmark.conv_gflops(...)`.
__all__ = ["conv_gflops", "cpu_isa", "crossing", "curves_from_log", "load_setup", "main", "time_to_psnr_variant"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags shared by the modes, then each mode's own (`add_arguments` of its module)."""
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
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--data_workers", type=int, default=0, help="DataLoader workers for the data-pipeline rate")
    parser.add_argument(
        "--data", nargs="+", default=None, help="data sources for the pipeline rate (default: synthetic-shapes cifar10)"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="--quality: 'same-math' or comma-separated bf16, compile, KEY=VALUE (the first is the reference); "
        "--time_to_psnr: plain, same-math, config or defaults, then bf16, fp32, compile, KEY=VALUE",
    )
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
    for mode in (benchmark_step, benchmark_quality, benchmark_time_to_psnr, benchmark_sigreg, benchmark_ssim):
        mode.add_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the mode the flags ask for (`--sigreg`, `--ssim`, `--time_to_psnr`, `--quality`, else the step benchmark),
    print its table, write its JSON report (`--json`) and return the report."""
    args = parse_args(argv)
    for enabled, run, render in (
        (args.sigreg, benchmark_sigreg.run_sigreg, benchmark_sigreg.format_sigreg),
        (args.ssim, benchmark_ssim.run_ssim, benchmark_ssim.format_ssim),
        (args.time_to_psnr, benchmark_time_to_psnr.run_time_to_psnr, benchmark_time_to_psnr.format_time_to_psnr),
        (args.quality, benchmark_quality.run_quality, benchmark_quality.format_quality),
    ):
        if enabled:
            report = run(args)
            print(render(report))
            write_report(args.json, report)
            return report
    report = benchmark_step.run_step_benchmark(args)
    write_report(args.json, report)
    return report


if __name__ == "__main__":
    main()
