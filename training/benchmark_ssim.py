"""`training/benchmark.py --ssim`: the evaluation's SSIM (`leae_hub.evaluation.ssim`, its Gaussian window a float64
matrix product) against its plain form (training/plain_reference.py `plain_ssim`, the window a depthwise float64
convolution), alternating call by call on the same seeded image pairs."""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any

import torch
from benchmark_measure import alternate, shipped_and_plain_cells, shipped_and_plain_ms
from plain_reference import plain_ssim

from leae_hub.evaluation import ssim
from leae_hub.hardware import cpu_isa


def run_ssim(args: argparse.Namespace) -> dict[str, Any]:
    """SSIM of `--batch` (default 32) RGB image pairs at each size of `--ssim`: a seeded image and a noisy copy, the
    shipped `ssim` and `plain_ssim` alternating, `--steps` timed calls each after one untimed call each; the ratio is
    median over median, and the largest difference between the two forms' values is reported beside it."""
    if args.threads:
        torch.set_num_threads(args.threads)
    batch = args.batch or 32
    results = []
    for size in args.ssim:
        generator = torch.Generator().manual_seed(0)
        x = torch.rand(batch, 3, size, size, generator=generator)
        y = (x + 0.1 * torch.randn(x.shape, generator=generator)).clamp(0, 1)
        timings, values = alternate({"shipped": partial(ssim, x, y), "plain": partial(plain_ssim, x, y)}, args.steps)
        times = shipped_and_plain_ms(timings)
        results.append(
            {
                "images": [batch, 3, size, size],
                **times,
                "speedup_over_plain": times["plain_ms_median"] / times["shipped_ms_median"],
                "max_abs_difference": float((values["shipped"] - values["plain"]).abs().max()),
            }
        )
    return {"ssim": results, "cpu_isa": cpu_isa(), "threads": torch.get_num_threads(), "torch": torch.__version__}


def format_ssim(report: dict[str, Any]) -> str:
    """The `--ssim` table."""
    lines = [
        f"SSIM (float64, 11×11 Gaussian window), ISA {report['cpu_isa']['isa']}, {report['threads']} thread(s)",
        "| images | shipped ms (median) | plain ms (median) | shipped over plain (medians) | largest difference |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in report["ssim"]:
        lines.append(
            f"| {'×'.join(map(str, r['images']))} {shipped_and_plain_cells(r)}"
            f"| {r['speedup_over_plain']:.2f}× | {r['max_abs_difference']:.1e} |"
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`--ssim`'s own flag."""
    parser.add_argument(
        "--ssim",
        nargs="+",
        type=int,
        default=None,
        metavar="SIZE",
        help="time the evaluation's SSIM on --batch image pairs of these sizes against its plain form (--steps calls)",
    )
