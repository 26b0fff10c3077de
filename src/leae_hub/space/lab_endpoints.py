"""The callbacks of the Lab tab: the 2-D mixture and the noisy TV of docs/lab.md, trained live on the server's CPU
and streamed to the page (`/lab_mog`, `/lab_noisy_tv`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from leae_hub.lab import mog, noisy_tv
from leae_hub.lab import plots as lab_plots
from leae_hub.space.uploads import friendly_stream, png_file

LAB_MOG_STEPS = (50, 2000, 300)  # (min, max, default) optimiser steps of a 2-D run: 300 take 1–2 s on one CPU core
LAB_MOG_FRAMES = 10  # the landscape is redrawn this many times during a run
LAB_MOG_GRID = 100  # the landscape is evaluated on this grid (the docs' figures: 200), drawn 200 px square
LAB_MOG_PANEL = 200
LAB_MOG_STATS_POINTS = 2000  # training points the collapse measures are computed on
LAB_TV_STEPS = (50, 2000, 300)  # full-batch steps per noisy-TV model: 300 take about 5 s for all five models
LAB_TV_SIGMA = (0.0, 10.0, 8.0)  # the distractor scale σ (the seed's range, and the σ of its time-series figure)
LAB_MAX_SEED = 2**31 - 1


def _whole(value: Any, name: str, low: float, high: float) -> int:
    """`value` as an int in [low, high], or a message naming the value and the range."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}.") from None
    if not number.is_integer() or not low <= number <= high:
        raise ValueError(f"{name} must be a whole number from {low:g} to {high:g}, got {value!r}.")
    return int(number)


@friendly_stream
def run_lab_mog(method: str, steps: float, seed: float) -> Iterator[tuple[str, str]]:
    """Train one 2-D method of `leae_hub.lab.mog` live; yields (landscape PNG path, Markdown report) ten times."""
    if method not in mog.METHODS:
        raise ValueError(f"Unknown method {method!r}: choose one of {', '.join(mog.METHODS)}.")
    steps = _whole(steps, "Steps", *LAB_MOG_STEPS[:2])
    seed = _whole(seed, "Seed", 0, LAB_MAX_SEED)
    every = max(1, steps // LAB_MOG_FRAMES)
    for run in mog.train_steps(method, seed, steps, every):
        done = len(run.losses)
        recent = run.losses[-every:]
        title = f"{method}, step {done}"
        image = lab_plots.landscape_image(run.model, run.data, title, LAB_MOG_GRID, LAB_MOG_PANEL)
        stats = mog.embedding_stats(run.model, run.data[:LAB_MOG_STATS_POINTS])
        dim = run.model.embed(run.data[:1]).shape[1]
        report = (
            f"**{method}**, seed {seed}: step {done} of {steps} ({run.seconds:.1f} s), loss "
            f"{sum(recent) / len(recent):.4g} (mean of the last {len(recent)} steps). Normalised embedding "
            f"({dim}-d): std {stats['emb_std']:.3f} (0 = collapsed), effective rank {stats['rankme']:.2f} of {dim}."
        )
        yield png_file(image, "lab-landscape"), report


@friendly_stream
def run_lab_noisy_tv(sigma: float, steps: float, seed: float) -> Iterator[tuple[str | None, str]]:
    """Train the five noisy-TV models of `leae_hub.lab.noisy_tv` at one σ, one after the other; yields (s[0] figure
    PNG path or None until the last model, Markdown table of test R²) after each model."""
    try:
        sigma = float(sigma)
    except (TypeError, ValueError):
        raise ValueError(f"σ must be a number, got {sigma!r}.") from None
    if not LAB_TV_SIGMA[0] <= sigma <= LAB_TV_SIGMA[1]:
        raise ValueError(f"σ must be from {LAB_TV_SIGMA[0]:g} to {LAB_TV_SIGMA[1]:g}, got {sigma:g}.")
    steps = _whole(steps, "Steps", *LAB_TV_STEPS[:2])
    seed = _whole(seed, "Seed", 0, LAB_MAX_SEED)
    rows: list[str] = []
    for name, (result,), seconds in noisy_tv.sweep_steps([sigma], [seed], steps):
        rows.append(f"| {name} | {result.r2[name]:.3f} | {result.r2_current[name]:.3f} | {seconds[name]:.1f} |")
        table = "\n".join(
            [
                f"σ = {sigma:g}, seed {seed}, {steps} steps per model; environment SNR {result.snr_db:.1f} dB. Test R² "
                "of a linear readout from each model's latent at t:",
                "",
                "| model | R² of s_{t+1} | R² of s_t | train s |",
                "| --- | --- | --- | --- |",
                *rows,
                f"| *true s_t* | {result.oracle['true_state']:.3f} | | |",
                f"| *raw x_t (20-d)* | {result.oracle['raw_x']:.3f} | | |",
            ]
        )
        if name != noisy_tv.MODELS[-1]:
            yield None, table
    yield png_file(lab_plots.series_image(result), "lab-series"), table + "\n\nAll five models trained."
