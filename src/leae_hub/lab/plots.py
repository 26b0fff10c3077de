"""Figures of the lab: energy landscapes (PNG, matplotlib) and their sweeps (GIF, Pillow), and the noisy-TV plots.

matplotlib is imported inside the functions that need it, so the rest of the lab runs without it. The GIF frames and
the images of the Space's Lab tab (`landscape_image`, `series_image`) need only Pillow and NumPy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from .mog import GRID_SIZE, GRID_X, GRID_Y, MEANS, EnergyMethod, Method, grid_points, langevin, uniform_box
from .noisy_tv import MODELS, SigmaResult

CMAP = "inferno"
# matplotlib's inferno at 17 evenly spaced levels (RGB, 0–255); `colorize` interpolates between them linearly, within
# 7 of 255 of the full 256-level table, so the landscapes look the same with or without matplotlib.
INFERNO: tuple[tuple[int, int, int], ...] = (
    (0, 0, 4), (11, 7, 36), (33, 12, 74), (61, 9, 101), (87, 16, 110), (113, 25, 110), (138, 34, 106), (163, 44, 97),
    (188, 55, 84), (210, 70, 68), (228, 90, 49), (241, 115, 29), (249, 142, 9), (252, 172, 17), (249, 203, 53),
    (242, 234, 105), (252, 255, 164),
)  # fmt: skip
# Line colours of the noisy-TV models in `series_image` (matplotlib's default cycle, in `MODELS` order).
MODEL_COLOURS: dict[str, str] = dict(zip(MODELS, ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"), strict=True))
TITLE_HEIGHT = 14


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@torch.no_grad()
def landscape_values(model: Method, reference: Tensor, resolution: int = GRID_SIZE) -> np.ndarray:
    """The landscape on the seed's grid, [resolution (x), resolution (y)]: −cos similarity to `reference` for the
    joint-embedding methods, the energy U for the energy models (reference ignored)."""
    model.eval()
    values = model.landscape(grid_points(resolution), reference).reshape(resolution, resolution)
    model.train()
    return values.numpy()


def reference_path(frames: int) -> Tensor:
    """Reference points along the data: straight segments (−5, 5) → (0, 0) → (5, 5) through the three means."""
    a, b, c = (torch.tensor(m) for m in (MEANS[2], MEANS[0], MEANS[1]))
    t = torch.linspace(0, 2, frames)[:, None]
    return torch.where(t <= 1, a + t * (b - a), b + (t - 1) * (c - b))


def save_landscape_png(model: Method, data: Tensor, path: Path, title: str, samples: Tensor | None = None) -> None:
    """Joint-embedding methods: three panels, the reference at each component mean. Energy models: U with the data,
    and U with Langevin `samples`."""
    plt = _pyplot()
    xs, ys = np.linspace(*GRID_X, GRID_SIZE), np.linspace(*GRID_Y, GRID_SIZE)
    shown = data[:1500].numpy()
    if isinstance(model, EnergyMethod):
        values = landscape_values(model, torch.zeros(2))
        panels = [("U(x) and data", shown, "white"), ("U(x) and Langevin samples", samples[:1500].numpy(), "cyan")]
        fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.6), dpi=72)
        lo, hi = np.percentile(values, [1, 99])
        for ax, (label, points, color) in zip(axes, panels, strict=True):
            cs = ax.contourf(xs, ys, np.clip(values, lo, hi).T, levels=30, cmap=CMAP)
            ax.scatter(points[:, 0], points[:, 1], s=0.5, c=color, alpha=0.4)
            ax.set(xlim=GRID_X, ylim=GRID_Y)
            ax.set_title(label, fontsize=9)
        fig.colorbar(cs, ax=axes, shrink=0.8)
    else:
        # Each panel spans its own range (printed in its title), so that a nearly collapsed embedding still shows its
        # structure while the numbers show how little of [−1, 1] it uses.
        fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), dpi=72)
        for ax, mean in zip(axes, MEANS, strict=True):
            values = landscape_values(model, torch.tensor(mean))
            ax.contourf(xs, ys, values.T, levels=30, cmap=CMAP)
            ax.scatter(shown[:, 0], shown[:, 1], s=0.5, c="white", alpha=0.25)
            ax.scatter([mean[0]], [mean[1]], s=50, c="cyan", marker="*")
            ax.set_title(f"ref {mean}: −cos ∈ [{values.min():.3f}, {values.max():.3f}]", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.savefig(path)
    plt.close(fig)


def colorize(values: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """`values` [..] mapped through `INFERNO` on [vmin, vmax] (clipped): uint8 RGB [.., 3]."""
    level = np.clip((values - vmin) / max(vmax - vmin, 1e-12), 0.0, 1.0)
    anchors = np.asarray(INFERNO, dtype=np.float64)
    where = np.linspace(0.0, 1.0, len(anchors))
    rgb = np.stack([np.interp(level, where, anchors[:, k]) for k in range(3)], axis=-1)
    return np.round(rgb).astype(np.uint8)


def _frame(
    values: np.ndarray, vmin: float, vmax: float, title: str, dots: dict[str, np.ndarray], size: int | None = None
) -> Image.Image:
    """One GIF frame: the landscape (x right, y up) through the colormap, enlarged (bilinear) to `size` pixels if
    given, with coloured dots, and a title band."""
    rgb = colorize(values, vmin, vmax).transpose(1, 0, 2)[::-1]  # rows = y descending
    panel = Image.fromarray(np.ascontiguousarray(rgb))
    if size is not None:
        panel = panel.resize((size, size), Image.Resampling.BILINEAR)
    image = Image.new("RGB", (panel.width, panel.height + TITLE_HEIGHT), "white")
    image.paste(panel, (0, TITLE_HEIGHT))
    draw = ImageDraw.Draw(image)
    draw.text((3, 1), title, fill="black")
    n = panel.width
    for color, points in dots.items():
        col = (points[:, 0] - GRID_X[0]) / (GRID_X[1] - GRID_X[0]) * (n - 1)
        row = (GRID_Y[1] - points[:, 1]) / (GRID_Y[1] - GRID_Y[0]) * (n - 1) + TITLE_HEIGHT
        if len(points) == 1:  # the reference point: a disc
            draw.ellipse((col[0] - 3, row[0] - 3, col[0] + 3, row[0] + 3), fill=color)
        else:
            draw.point(list(zip(col.tolist(), row.tolist(), strict=True)), fill=color)
    return image


def landscape_image(
    model: Method, data: Tensor, title: str, resolution: int = GRID_SIZE, size: int | None = None
) -> Image.Image:
    """The landscape as one image without matplotlib (the Space's Lab tab), headed by `title`, evaluated on a
    `resolution`² grid and drawn `size` pixels square (default: `resolution`): for the energy models
    one panel of U (coloured between its 1st and 99th percentiles) with 400 data points; for the joint-embedding
    methods three panels of −cos similarity, the reference (cyan disc) at each component mean, each coloured over its
    own range (printed above the panel)."""
    shown = data[:400].numpy()
    if isinstance(model, EnergyMethod):
        values = landscape_values(model, torch.zeros(2), resolution)
        lo, hi = (float(v) for v in np.percentile(values, [1, 99]))
        panels = [_frame(values, lo, hi, f"U in [{lo:.2f}, {hi:.2f}]", {"white": shown}, size)]
    else:
        panels = []
        for mean in MEANS:
            reference = torch.tensor(mean)
            values = landscape_values(model, reference, resolution)
            lo, hi = float(values.min()), float(values.max())
            label = f"ref ({mean[0]:g}, {mean[1]:g}): -cos in [{lo:.2f}, {hi:.2f}]"
            panels.append(_frame(values, lo, hi, label, {"white": shown, "cyan": reference[None].numpy()}, size))
    gap = 6
    width = sum(p.width for p in panels) + gap * (len(panels) - 1)
    image = Image.new("RGB", (width, panels[0].height + TITLE_HEIGHT), "white")
    ImageDraw.Draw(image).text((3, 1), title, fill="black")
    for index, panel in enumerate(panels):
        image.paste(panel, (index * (panel.width + gap), TITLE_HEIGHT))
    return image


def save_landscape_gif(model: Method, data: Tensor, path: Path, title: str, seed: int, frames: int = 24) -> None:
    """Joint-embedding methods: the −cos landscape (each frame over its own range, printed in the frame) as the
    reference point moves along `reference_path`. Energy
    models: the energy U with a Langevin chain (300 particles) moving on it from uniform noise."""
    shown = data[:400].numpy()
    images = []
    if isinstance(model, EnergyMethod):
        values = landscape_values(model, torch.zeros(2))
        lo, hi = np.percentile(values, [1, 99])
        every = 960 // (frames - 1)
        generator = torch.Generator().manual_seed(seed)
        _, chain = langevin(model.score, uniform_box(300, generator), 0.02, every * (frames - 1), generator, every)
        for step, particles in enumerate(chain):
            label = f"{title}: Langevin step {step * every}"
            images.append(_frame(values, lo, hi, label, {"cyan": particles.numpy()}))
    else:
        for reference in reference_path(frames):
            values = landscape_values(model, reference)
            lo, hi = float(values.min()), float(values.max())
            label = f"{title}: ref ({reference[0]:.1f}, {reference[1]:.1f}), -cos in [{lo:.2f}, {hi:.2f}]"
            images.append(_frame(values, lo, hi, label, {"white": shown, "cyan": reference[None].numpy()}))
    palette = [im.quantize(colors=48, method=Image.Quantize.MEDIANCUT) for im in images]
    palette[0].save(path, save_all=True, append_images=palette[1:], duration=160, loop=0, optimize=True)


# --------------------------------------------------------------------------------------------------------------------
# Noisy TV


def save_r2_vs_sigma(r2: dict[str, dict[float, list[float]]], path: Path) -> None:
    """Test R² of the s_{t+1} readout against σ, mean ± std over seeds. r2[model][sigma] = [values per seed]."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=90)
    for name, per_sigma in r2.items():
        sigmas = sorted(per_sigma)
        mean = np.array([np.mean(per_sigma[s]) for s in sigmas])
        std = np.array([np.std(per_sigma[s]) for s in sigmas])
        ax.plot(sigmas, mean, marker="o", label=name)
        ax.fill_between(sigmas, mean - std, mean + std, alpha=0.15)
    ax.set_xlabel("distractor scale σ")
    ax.set_ylabel("test R² of s_{t+1} (linear readout)")
    ax.set_title("Noisy TV: R² vs σ (mean ± std over seeds)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def save_series(result: SigmaResult, path: Path, dim: int = 0) -> None:
    """s_{t+1}[dim] over the 299 test steps and each model's readout of it, at one σ and seed."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 3.6), dpi=80)
    ax.plot(result.s_next_test[:, dim].numpy(), color="black", linewidth=2.5, label="true")
    for name in MODELS:
        if name in result.predictions:
            r2 = result.r2[name]
            ax.plot(result.predictions[name][:, dim].numpy(), linewidth=1.3, alpha=0.85, label=f"{name} (R² {r2:.2f})")
    ax.set_title(
        f"σ = {result.sigma:g}, seed {result.seed} (SNR {result.snr_db:.1f} dB): s_{{t+1}}[{dim}]", fontsize=10
    )
    ax.set_xlabel("test step t")
    ax.grid(alpha=0.25)
    ax.legend(fontsize=7, ncol=6, loc="lower left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def series_image(result: SigmaResult, dim: int = 0, size: tuple[int, int] = (720, 260)) -> Image.Image:
    """`save_series` without matplotlib (the Space's Lab tab): s_{t+1}[dim] over the test steps (black, thick) and each
    model's linear readout of it (`MODEL_COLOURS`), with a legend of the models' R² and the value range on the left."""
    width, height = size
    left, right, top, bottom = 46, 8, 2 * TITLE_HEIGHT + 4, 8
    true = result.s_next_test[:, dim].numpy()
    lines = {name: result.predictions[name][:, dim].numpy() for name in MODELS if name in result.predictions}
    lo = float(min(true.min(), *(line.min() for line in lines.values())))
    hi = float(max(true.max(), *(line.max() for line in lines.values())))
    span = max(hi - lo, 1e-12)

    def xy(series: np.ndarray) -> list[tuple[float, float]]:
        xs = left + np.arange(len(series)) / max(len(series) - 1, 1) * (width - left - right)
        ys = top + (hi - series) / span * (height - top - bottom)
        return list(zip(xs.tolist(), ys.tolist(), strict=True))

    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((left, top, width - right, height - bottom), outline=(180, 180, 180))
    if lo < 0 < hi:
        zero = top + hi / span * (height - top - bottom)
        draw.line([(left, zero), (width - right, zero)], fill=(220, 220, 220))
    draw.text((2, top), f"{hi:.2f}", fill="black")
    draw.text((2, height - bottom - 11), f"{lo:.2f}", fill="black")
    draw.line(xy(true), fill="black", width=3)
    for name, line in lines.items():
        draw.line(xy(line), fill=MODEL_COLOURS[name], width=1)
    title = f"sigma = {result.sigma:g}, seed {result.seed} (SNR {result.snr_db:.1f} dB): s_(t+1)[{dim}], test steps"
    draw.text((left, 1), title, fill="black")
    x = left
    draw.text((x, TITLE_HEIGHT + 1), "true", fill="black")
    x += 40
    for name in lines:
        label = f"{name} (R2 {result.r2[name]:.2f})"
        draw.text((x, TITLE_HEIGHT + 1), label, fill=MODEL_COLOURS[name])
        x += int(draw.textlength(label)) + 14
    return image


def save_phase_plane(results: list[SigmaResult], path: Path) -> None:
    """Phase plane (s[0], s[1]) of the test trajectory, true (grey) and read out of each model (colour); one row per
    σ in `results`."""
    plt = _pyplot()
    names = [n for n in MODELS if n in results[0].predictions]
    fig, axes = plt.subplots(len(results), len(names), figsize=(2.4 * len(names), 2.4 * len(results)), dpi=56)
    axes = np.atleast_2d(axes)
    for row, result in zip(axes, results, strict=True):
        true = result.s_next_test.numpy()
        for ax, name in zip(row, names, strict=True):
            pred = result.predictions[name].numpy()
            ax.plot(true[:, 0], true[:, 1], color="0.6", linewidth=1)
            ax.plot(pred[:, 0], pred[:, 1], linewidth=1)
            ax.set_title(f"{name}, σ={result.sigma:g}: R² {result.r2[name]:.2f}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
