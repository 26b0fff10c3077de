"""`training/benchmark.py`'s inference figures: reconstruction (`model(pixel_values)` under inference mode), batch 1
latency and batch 32 throughput, with the FLOP rate and fraction of peak."""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
from benchmark_measure import autocast, count_flops, matmul_gflops, sync

from leae_hub import LeaeModel


def measure_inference(model: LeaeModel, case: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Reconstruction (`model(pixel_values)`) under inference mode: batch 1 latency and batch 32 throughput."""
    model.eval()
    size, channels = model.config.image_size, model.config.in_channels

    def run(pixel_values: torch.Tensor) -> float:
        sync(device)
        start = time.perf_counter()
        with torch.inference_mode(), autocast(device, case["mixed_precision"]):
            model(pixel_values)
        sync(device)
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
