"""The training step that `training/benchmark.py` times: `leae train`'s own, built and stepped by the trainer's
functions (`leae_hub.trainer.loop.prepare_step` and `optimizer_step`: the trainable mask, AdamW, the learning-rate
schedule, forward, backward, gradient clipping, the optimiser and schedule steps, `zero_grad` and `recipe.update`), so
the benchmark cannot drift from the trainer. The plain reference formulation (training/plain_reference.py) runs
through the same step, with `PlainStep` as the forward pass, so their ratio stays like for like.

Also what the training modes (`--quality`, `--time_to_psnr`) share: the batches every variant trains on, a variant's
training state, a turn of its steps, and the held-out PSNR (the trainer's `evaluate_psnr`).
"""

from __future__ import annotations

import time
from typing import Any

import torch
from accelerate import Accelerator
from benchmark_measure import sync
from plain_reference import PlainStep

from leae_hub import LeaeModel
from leae_hub.evaluation import mean_colour_psnr
from leae_hub.recipes import Recipe
from leae_hub.trainer import TrainArguments
from leae_hub.trainer.loop import StepParts, evaluate_psnr, optimizer_step, prepare_step

# The length given to the learning-rate schedule: the benchmark's runs have no set length, and its schedule is
# `leae train`'s default, constant after the warm-up, which does not depend on it.
SCHEDULE_STEPS = 10**9


def trainer_step(
    model: LeaeModel,
    recipe: Recipe,
    device: torch.device,
    settings: TrainArguments,
    mixed_precision: str = "no",
    plain: bool = False,
    fused: bool = False,
) -> StepParts:
    """`leae train`'s step parts for `model` and `recipe` on `device` (`prepare_step` with `settings`: learning rate,
    weight decay, warm-up, schedule, `compile`); `plain`: the forward pass is the plain reference formulation
    (`PlainStep`); `fused`: AdamW's fused kernel.

    Accelerate fixes one mixed precision per process, and the benchmark compares precisions in one process, so its
    `Accelerator` runs in fp32 and the step's forward pass is wrapped in bf16 autocast here, as Accelerate's `prepare`
    wraps it for `--mixed_precision bf16`."""
    accelerator = Accelerator(cpu=device.type == "cpu", mixed_precision="no")
    objective = PlainStep(recipe) if plain else None
    parts, _ = prepare_step(accelerator, model, recipe, settings, SCHEDULE_STEPS, objective=objective, fused=fused)
    if mixed_precision == "bf16":
        parts.step_module.forward = torch.autocast(device.type, dtype=torch.bfloat16)(parts.step_module.forward)
    return parts


class SharedBatches:
    """Batch j of every variant is the same: batches are drawn once from the loader (epoch after epoch) and kept
    until every variant has trained on them."""

    def __init__(self, loader: Any):
        self.loader, self.batches, self.produced = loader, {}, 0
        self.source = self._stream()

    def _stream(self):
        while True:
            yield from self.loader

    def get(self, index: int) -> dict[str, torch.Tensor]:
        while index not in self.batches:
            self.batches[self.produced] = {"pixel_values": next(self.source)["pixel_values"]}
            self.produced += 1
        return self.batches[index]

    def release_before(self, index: int) -> None:
        for done in [i for i in self.batches if i < index]:
            del self.batches[done]


def variant_run(
    variant: dict[str, Any],
    model: LeaeModel,
    recipe: Recipe,
    device: torch.device,
    settings: TrainArguments,
    **fields: Any,
) -> dict[str, Any]:
    """One variant's training state: its step parts (`trainer_step`, with the variant's `mixed_precision`, `plain`
    and `fused_optimizer`), its settings and counters, plus `fields`."""
    parts = trainer_step(
        model,
        recipe,
        device,
        settings,
        variant["mixed_precision"],
        plain=variant.get("plain", False),
        fused=variant.get("fused_optimizer", False),
    )
    state = {"parts": parts, "model": parts.core, "settings": settings}
    return {**variant, **state, "steps": 0, "seconds": 0.0, "loss": None, **fields}


def train_chunk(run: dict[str, Any], batches: SharedBatches, steps: int, device: torch.device) -> None:
    """`steps` optimiser steps of one variant, as `leae train` takes them (`optimizer_step`: warm-up schedule,
    gradient clipping); only these steps count as its training time."""
    for _ in range(steps):
        batch = {"pixel_values": batches.get(run["steps"])["pixel_values"].to(device, non_blocking=True)}
        sync(device)
        start = time.perf_counter()
        out = optimizer_step(run["parts"], batch, run["steps"], run["settings"].max_grad_norm)
        sync(device)
        run["seconds"] += time.perf_counter() - start
        run["steps"] += 1
        run["loss"] = out.loss.item()


def held_out_psnr(model: LeaeModel, images: torch.Tensor) -> float:
    """Mean per-image PSNR of the reconstructions D(E(x)) (eval mode): the `psnr` of `leae train`'s evaluation
    (`evaluate_psnr`, without its hole)."""
    return evaluate_psnr(model, images, hole_ratio=None)["psnr"]


def held_out_psnr_mean_colour(images: torch.Tensor) -> float:
    """Mean PSNR of replacing every image by its mean colour (`mean_colour_psnr`): the floor a reconstruction has to
    beat."""
    return mean_colour_psnr(images).mean().item()
