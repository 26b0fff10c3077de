"""`training/benchmark.py --sigreg`: SIGReg alone (forward + backward on random latents of each setup's shape) against
its plain formula (training/plain_reference.py), alternating call by call."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from benchmark_measure import alternate, shipped_and_plain_cells, shipped_and_plain_ms
from benchmark_time_to_psnr import TIME_TO_PSNR_SETUPS, load_setup
from plain_reference import plain_sigreg

from leae_hub import LeaeConfig, LeaeModel
from leae_hub.hardware import cpu_isa
from leae_hub.recipes import build_recipe


def _forward_backward(loss: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor) -> None:
    loss(z.clone().requires_grad_()).backward()


def run_sigreg(args: argparse.Namespace) -> dict[str, Any]:
    """SIGReg forward + backward on each setup's latents (random, at the setup's batch or `--batch`): the shipped
    `SIGReg` against `plain_sigreg` (the formula with its [locations, samples, slices, knots] tensor), alternating
    call by call in one process, `--steps` timed pairs after one untimed pair each."""
    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    for name in args.sigreg:
        setup = load_setup(name)
        shape = LeaeModel(LeaeConfig.from_preset(setup["preset"], image_size=setup["image_size"])).latent_shape
        batch = args.batch or setup["batch"]
        z = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(0))
        sigreg = build_recipe(setup["recipe"], **setup["options"]).sigreg  # the setup's own SIGReg
        calls = {
            "shipped": partial(_forward_backward, partial(sigreg, step=0), z),
            "plain": partial(_forward_backward, partial(plain_sigreg, sigreg, step=0), z),
        }
        times = shipped_and_plain_ms(alternate(calls, args.steps)[0])
        results.append(
            {
                "setup": name,
                "latents": [batch, *shape],
                **times,
                "speedup_over_plain": times["plain_ms"] / times["shipped_ms"],
            }
        )
    return {"sigreg": results, "cpu_isa": cpu_isa(), "threads": torch.get_num_threads(), "torch": torch.__version__}


def format_sigreg(report: dict[str, Any]) -> str:
    """The `--sigreg` table."""
    lines = [
        f"SIGReg forward + backward, ISA {report['cpu_isa']['isa']}, {report['threads']} thread(s)",
        "| setup | latents | shipped ms (median) | plain ms (median) | shipped over plain |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in report["sigreg"]:
        lines.append(
            f"| {r['setup']} | {'×'.join(map(str, r['latents']))} {shipped_and_plain_cells(r)}"
            f"| {r['speedup_over_plain']:.2f}× |"
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`--sigreg`'s own flag."""
    parser.add_argument(
        "--sigreg",
        nargs="+",
        choices=list(TIME_TO_PSNR_SETUPS),
        default=None,
        help="time SIGReg forward + backward on these setups' latents against its plain formula (--steps pairs)",
    )
