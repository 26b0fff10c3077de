"""`training/benchmark.py`'s data-pipeline figures: the images per second a DataLoader delivers from each source."""

from __future__ import annotations

import time
from typing import Any


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
