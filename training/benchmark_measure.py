"""What `training/benchmark.py`'s modes measure with: the machine's matmul and conv rates, FLOP counts, memory, the
device's name, and the small helpers of the command line and the reports."""

from __future__ import annotations

import json
import os
import resource
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from leae_hub import LeaeModel
from leae_hub.speedups import fast_path

# Nominal dense bf16 tensor-core peaks (TFLOP/s), for MFU next to the measured matmul rate.
NOMINAL_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "A10G": 70.0}


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU), so that a timing covers it."""
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
        sync(device)
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        sync(device)
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
            sync(device)
            start = time.perf_counter()
            torch.nn.functional.conv2d(x, weight, padding=1)
            sync(device)
            best = max(best, 2 * batch * channels**2 * 9 * side**2 / (time.perf_counter() - start) / 1e9)
    return best


def count_flops(fn: Callable[[], Any], model: LeaeModel | None = None, plain: bool = False) -> int:
    """FLOPs of `fn()`; `plain=True` counts the plain formulation of the math (`model` without its fast path)."""
    with fast_path(model, enabled=False) if plain else nullcontext(), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, MB (`ru_maxrss`)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def autocast(device: torch.device, mixed_precision: str) -> Any:
    """bf16 autocast for `mixed_precision="bf16"`, else nothing."""
    if mixed_precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def timed(step: Callable[[], Any], device: torch.device) -> float:
    """Seconds `step()` takes, its device work included."""
    sync(device)
    start = time.perf_counter()
    step()
    sync(device)
    return time.perf_counter() - start


def nominal_bf16_gflops(device: torch.device) -> float | None:
    """The GPU's nominal dense bf16 peak in GFLOP/s where it is known (`NOMINAL_BF16_TFLOPS`), else None."""
    name = torch.cuda.get_device_name(device)
    nominal = next((value for key, value in NOMINAL_BF16_TFLOPS.items() if key in name), None)
    return None if nominal is None else nominal * 1e3


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model, its logical cores and the ISA PyTorch uses."""
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


def parse_options(items: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` recipe options, each value read as YAML (`crop_size=32` is an int)."""
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--option takes KEY=VALUE, got {item!r} (e.g. --option crop_size=32)")
        options[key] = yaml.safe_load(value)
    return options


def fmt(value: Any, digits: int = 1) -> str:
    """A table cell: `-` for None, floats to `digits` places."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def alternate(calls: dict[str, Callable[[], Any]], steps: int) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Call each of `calls` in turn, `steps` timed rounds after one untimed round, so that both sides of a comparison
    meet the same machine load: each call's times in seconds, and its last result."""
    timings: dict[str, list[float]] = {name: [] for name in calls}
    results: dict[str, Any] = {}
    for index in range(steps + 1):
        for name, call in calls.items():
            start = time.perf_counter()
            results[name] = call()
            if index:
                timings[name].append(time.perf_counter() - start)
    return timings, results


def shipped_and_plain_ms(timings: dict[str, list[float]]) -> dict[str, float]:
    """The best and median milliseconds of the `shipped` and `plain` timings of `alternate`, named as in reports."""
    return {
        "shipped_ms": 1e3 * min(timings["shipped"]),
        "plain_ms": 1e3 * min(timings["plain"]),
        "shipped_ms_median": 1e3 * statistics.median(timings["shipped"]),
        "plain_ms_median": 1e3 * statistics.median(timings["plain"]),
    }


def shipped_and_plain_cells(row: dict[str, Any]) -> str:
    """The `shipped ms (median) | plain ms (median)` cells of a report row of `shipped_and_plain_ms`."""
    return (
        f"| {row['shipped_ms']:.1f} ({row['shipped_ms_median']:.1f}) | {row['plain_ms']:.1f} "
        f"({row['plain_ms_median']:.1f}) "
    )


def write_report(path: Path | None, report: dict[str, Any]) -> None:
    """Write `report` as JSON to `path` (when given)."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2))
