"""The GPU benchmark in one prepared command: the step matrix and a time-to-PSNR run at 128 px in bf16, JSON into docs/.

    python training/gpu_benchmark.py                                  # on a CUDA GPU: < 10 minutes, writes
                                                                      # docs/results/gpu-benchmark.json
    python training/gpu_benchmark.py --device cpu --dry_run --out /tmp/gpu.json   # the same path, tiny, on a CPU

Two parts, each through `training/benchmark.py` with the GPU's settings (bf16 autocast, img/s, MFU against the bf16
matmul rate measured in the same run and against the GPU's nominal dense bf16 peak where it is known):

1. the standard matrix (`benchmark.py --all`, every case in a fresh process), `--steps` timed steps per case;
2. `benchmark.py --time_to_psnr utkface128` (self-teaching leae-2m on UTKFace at 128 px, the leae-faces-128 zoo
   config): the plain reference formulation in fp32, the same-math step in bf16 and the zoo config's options, trained
   interleaved until mean-image PSNR + 8 and + 10 dB or `--ttp_seconds` of training each.

`--dry_run` shrinks both to seconds (one small case; the CIFAR-10 setup on synthetic shapes, a few steps), so the
CPU test in tests/test_benchmark.py runs the very code the GPU run does. Each part has a wall-clock limit, so the whole
command ends within `--budget_s` (default 570 s) even if a part hangs; a part that fails or runs out is recorded in
the JSON with its error.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCHMARK = ROOT / "training" / "benchmark.py"
DEFAULT_OUT = ROOT / "docs" / "results" / "gpu-benchmark.json"


def matrix_arguments(args: argparse.Namespace) -> list[str]:
    """benchmark.py arguments of part 1."""
    if args.dry_run:
        return [
            *("--recipe", "masked", "--preset", "leae-cifar", "--batch", "4", "--steps", "1", "--warmup", "0"),
            *("--skip_inference", "--skip_data", "--no_isolate", "--threads", "1"),
        ]
    return ["--all", "--steps", str(args.steps), "--warmup", "3", "--data_seconds", "5", "--inference_seconds", "3"]


def time_to_psnr_arguments(args: argparse.Namespace) -> list[str]:
    """benchmark.py arguments of part 2."""
    variants = ["plain", "same-math,bf16", "config"]
    common = [arg for variant in variants for arg in ("--variant", variant)]
    if args.dry_run:
        return [
            *("--time_to_psnr", "cifar32", "--data", "synthetic-shapes", "--batch", "4", "--chunk_steps", "1"),
            *("--max_images", "8", "--eval_images", "8", "--warmup_steps", "1", "--threads", "1", *common),
        ]
    return [
        *("--time_to_psnr", "utkface128", "--chunk_steps", "20", "--eval_images", "1000"),
        *("--max_seconds", str(args.ttp_seconds), "--data_workers", "4", *common),
    ]


def run_part(name: str, arguments: list[str], device: str, limit_s: float) -> dict[str, Any]:
    """Run benchmark.py with `arguments` in a fresh process, at most `limit_s` seconds; its JSON report, or why not."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / f"{name}.json"
        command = [sys.executable, str(BENCHMARK), *arguments, "--device", device, "--json", str(out)]
        print(f"[{name}] {' '.join(command[1:])}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            completed = subprocess.run(command, capture_output=True, text=True, timeout=max(1.0, limit_s), cwd=ROOT)
        except subprocess.TimeoutExpired as error:
            tail = (error.stderr or b"")[-3000:]
            tail = tail.decode(errors="replace") if isinstance(tail, bytes) else tail
            return {"error": f"stopped after the {limit_s:.0f} s limit", "log_tail": tail}
        seconds = time.perf_counter() - start
        print(completed.stdout, flush=True)
        if completed.returncode != 0 or not out.exists():
            return {"error": f"exit status {completed.returncode}", "log_tail": completed.stderr[-3000:]}
        return {**json.loads(out.read_text()), "wall_seconds": seconds, "command": command[1:]}


def device_description(device: str) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"device": device, "torch": torch.__version__, "cuda": torch.version.cuda}
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda needs a CUDA GPU; none is visible (use --device cpu --dry_run to test)")
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (the run this script is for) or cpu (with --dry_run)")
    parser.add_argument("--dry_run", action="store_true", help="tiny settings: checks the whole path in seconds")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the JSON report")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per matrix case")
    parser.add_argument("--ttp_seconds", type=float, default=60.0, help="training seconds per time-to-PSNR variant")
    parser.add_argument("--budget_s", type=float, default=570.0, help="wall-clock limit of the whole command")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.device != "cuda" and not args.dry_run:
        raise SystemExit(f"--device {args.device} runs only with --dry_run; the full run is for a CUDA GPU")
    start = time.perf_counter()
    report: dict[str, Any] = {"dry_run": args.dry_run, **device_description(args.device)}
    # The matrix gets at most 45 % of the budget, the time-to-PSNR run what is left.
    report["matrix"] = run_part("matrix", matrix_arguments(args), args.device, 0.45 * args.budget_s)
    left = args.budget_s - (time.perf_counter() - start)
    report["time_to_psnr"] = run_part("time_to_psnr", time_to_psnr_arguments(args), args.device, left)
    report["wall_seconds"] = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    failed = [part for part in ("matrix", "time_to_psnr") if "error" in report[part]]
    print(f"wrote {args.out} in {report['wall_seconds']:.0f} s" + (f"; failed: {failed}" if failed else ""))
    if failed:
        raise SystemExit(1)
    return report


if __name__ == "__main__":
    main()
