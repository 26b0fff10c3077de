"""The training loop: build the model, recipe and data, prepare them with Accelerate, step, log, evaluate, checkpoint,
and finish (the model saved with its image processor, `final_metrics.json`, the card draft). `train` runs the settings
that `leae train` (`leae_hub.cli.train_main`) parsed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, set_seed
from PIL import Image
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm
from transformers import AutoModel, get_scheduler

from ..data import build_dataset, first_readable, readable_items
from ..evaluation import grid_array, hole_psnr, mean_colour_psnr, mean_fill, psnr
from ..hardware import choose_mixed_precision, cpu_isa
from ..hub import MAX_SHARD_SIZE, publish, resolve_token, write_atomically
from ..image_processing_leae import LeaeImageProcessor
from ..modeling_leae import LeaeModel
from ..recipes import RECIPES, ObjectiveOutput, Recipe, Stage, build_recipe
from ..speedups import enable_fast_path
from ..views import centred_hole_mask
from .card_draft import write_card_draft
from .checkpoints import load_checkpoint, resolve_resume, save_checkpoint
from .run_folder import check_output_dir, prepare_output_dir, run_lock
from .settings import RunConfig, TrainArguments, check_data_size

logger = logging.getLogger(__name__)


def build_model(config: RunConfig, in_channels: int) -> LeaeModel:
    """The model to train: `init_from` when set, else the architecture of `ModelArguments.model_config` for images of
    `in_channels` channels."""
    if config.model.init_from:
        return AutoModel.from_pretrained(config.model.init_from)
    return LeaeModel(config.model.model_config(in_channels))


class TrainStep(nn.Module):
    """The module that Accelerate wraps (DDP): the autoencoder and the recipe's trainable parts.

    The recipe itself is held without registering it, so that its non-trained state (EMA judges and targets) stays
    outside DDP; it is checkpointed through `accelerator.register_for_checkpointing`.
    """

    def __init__(self, model: LeaeModel, recipe: Recipe):
        super().__init__()
        self.model = model
        self.recipe_modules = nn.ModuleList(
            module for module in recipe.children() if any(p.requires_grad for p in module.parameters())
        )
        object.__setattr__(self, "recipe", recipe)

    def forward(self, batch: dict[str, torch.Tensor], step: int):
        return self.recipe(self.model, batch, step)


def _collate_or_none(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor] | None:
    """The DataLoader's default collation, or None for a batch whose every image was unreadable (skipped)."""
    return torch.utils.data.default_collate(items) if items else None


def _unreadable_batch(batch: dict[str, torch.Tensor] | None, accelerator: Accelerator) -> bool:
    """Whether to skip this batch: none of its images could be read, on this process or (so that every process
    skips the same step together) on any other."""
    empty = batch is None
    if accelerator.num_processes > 1:
        flag = torch.tensor([float(empty)], device=accelerator.device)
        empty = bool(accelerator.gather(flag).max() > 0)
    return empty


def training_grid(images: dict[str, torch.Tensor], count: int = 8) -> np.ndarray:
    """uint8 [H, W, 3]: one row per available image kind: input, reconstruction, masked input and its
    reconstruction, or the two views (`evaluation.grid_array`'s layout)."""
    order = ["input", "reconstruction", "masked_input", "masked_reconstruction", "context_view", "target_view"]
    return grid_array([images[name][:count] for name in order if name in images])


def save_sample_grid(grid: np.ndarray, path: Path) -> None:
    """Write a `training_grid` as a PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)


@torch.inference_mode()
def evaluate_psnr(
    model: LeaeModel, images: torch.Tensor, batch_size: int = 128, hole_ratio: float | None = 0.25
) -> dict[str, float]:
    """Mean PSNR of the reconstructions and of the per-image-mean baseline (each image replaced by its mean colour),
    and inside a centred square hole of `hole_ratio` of the area: `model.inpaint`'s fill (`hole_psnr`) against the
    visible pixels' mean colour (`hole_baseline_psnr`), the floor any inpainter must beat. `hole_ratio=None` skips
    the hole (and its inpainting pass)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    names = ("psnr", "baseline_psnr") + (("hole_psnr", "hole_baseline_psnr") if hole_ratio is not None else ())
    sums: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    for start in range(0, images.shape[0], batch_size):
        x = images[start : start + batch_size].to(device)
        reconstruction = model.decoder(model.encoder(x)).float()
        sums["psnr"].append(psnr(reconstruction, x))
        sums["baseline_psnr"].append(mean_colour_psnr(x))
        if hole_ratio is not None:
            mask = centred_hole_mask(x.shape[0], x.shape[2], x.shape[3], hole_ratio).to(device, x.dtype)
            sums["hole_psnr"].append(hole_psnr(model.inpaint(x, mask).float(), x, mask))
            sums["hole_baseline_psnr"].append(hole_psnr(mean_fill(x, mask), x, mask))
    model.train(was_training)
    return {name: torch.cat(values).mean().item() for name, values in sums.items()}


def train(config: RunConfig) -> dict[str, Any]:
    """Run every stage the recipe declares (`Recipe.stages`; usually one) and return the last one's final metrics.

    A stage in a subfolder whose model is already saved is skipped, so a stopped multi-stage run restarts where it
    stopped (with `--resume_from_checkpoint latest`, from the stage's last checkpoint); a fresh start with
    `--overwrite` trains every stage again.
    """
    stages = RECIPES[config.recipe].stages(config.recipe_options)
    if stages[-1].output_subdir is not None or any(stage.output_subdir is None for stage in stages[:-1]):
        raise ValueError(
            f"Recipe {config.recipe!r} declares stages {[s.recipe for s in stages]}: every stage but the last needs "
            "an output_subdir, and the last one writes to the run's output_dir (output_subdir=None)."
        )
    with run_lock(Path(config.train.output_dir)):
        return _train_stages(config, stages)


def _train_stages(config: RunConfig, stages: list[Stage]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    previous_model: Path | None = None
    retrain = config.train.overwrite and config.train.resume_from_checkpoint is None
    earlier = frozenset(Path(stage.output_subdir).parts[0] for stage in stages[:-1])
    for stage in stages:
        stage_config = _stage_config(config, stage, previous_model)
        model_dir = Path(stage_config.train.output_dir) / "model"
        if stage.output_subdir is not None and (model_dir / "config.json").exists() and not retrain:
            logger.info("stage %s: already trained, using %s", stage.recipe, model_dir)
        else:
            result = _train_stage(stage_config, keep=earlier if stage.output_subdir is None else frozenset())
            if stage.output_subdir is not None and result:
                logger.info("stage %s: %s", stage.recipe, summary_line(result, model_dir))
        previous_model = model_dir
    return result


def _stage_config(config: RunConfig, stage: Stage, previous_model: Path | None) -> RunConfig:
    """The run config of one stage: its recipe and options, its folder, its length and its starting model."""
    model, train_args = config.model, config.train
    if stage.init_from_previous:
        if previous_model is None:
            raise ValueError(f"Stage {stage.recipe!r} starts from the previous stage's model, but it is the first.")
        model = dataclasses.replace(model, init_from=str(previous_model))
    if stage.output_subdir is not None:  # an intermediate stage: its own folder, never published
        output_dir = str(Path(train_args.output_dir) / stage.output_subdir)
        train_args = dataclasses.replace(train_args, output_dir=output_dir, push_to_hub=None)
    if stage.max_steps is not None:
        train_args = dataclasses.replace(train_args, max_steps=stage.max_steps, num_epochs=None)
    return RunConfig(model, config.data, stage.recipe, dict(stage.options), train_args)


def _recipe_arguments(recipe_class: type[Recipe], config: RunConfig, total_steps: int) -> dict[str, Any]:
    """The recipe's options plus what the training loop provides (`RUN_ARGUMENTS`), where the recipe takes them."""
    provided = {"seed": config.train.seed, "total_steps": total_steps}
    taken = recipe_class.run_arguments()
    return {**config.recipe_options, **{name: provided[name] for name in taken}}


def _train_stage(config: RunConfig, keep: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Train one stage into `config.train.output_dir` (`keep`: its subfolders that earlier stages of this run wrote).

    Every setting is checked and the data read before the output folder changes; the steps are `_take_steps`."""
    args = config.train
    output_dir = Path(args.output_dir)
    accelerator, precision = _accelerator(args, output_dir)
    set_seed(args.seed)
    if args.push_to_hub:
        resolve_token()  # a missing token fails now, not after the training
    candidates = resolve_resume(output_dir, args.resume_from_checkpoint)
    check_output_dir(config, output_dir, resuming=bool(candidates))  # reads only; the folder changes after the data
    dataset, eval_images, in_channels = _read_data(config, accelerator.num_processes)
    parts = _prepare(config, accelerator, dataset, in_channels)
    step = 0
    if candidates:
        explicit = args.resume_from_checkpoint != "latest"
        resumed, step = load_checkpoint(accelerator, parts.core, parts.recipe, candidates, explicit, parts.max_steps)
        if accelerator.is_main_process:
            logger.info("resumed from %s at step %d", resumed, step)
    if accelerator.is_main_process:
        prepare_output_dir(config, output_dir, step, keep)
    accelerator.wait_for_everyone()
    if args.report_to:
        accelerator.init_trackers("leae", config=_flat_scalars(config.to_dict()))
    tally = _take_steps(config, parts, eval_images, step)
    return _end_stage(config, parts, eval_images, tally, getattr(dataset, "num_skipped", 0), precision)


def _accelerator(args: TrainArguments, output_dir: Path) -> tuple[Accelerator, str]:
    """The run's `Accelerator`, and the mixed precision it trains in (`auto` chosen from the hardware; fp16 on a CPU
    falls back to fp32)."""
    on_cpu = args.cpu or not torch.cuda.is_available()
    precision = args.mixed_precision
    if precision == "auto":
        isa = cpu_isa() if on_cpu else None
        precision = choose_mixed_precision(torch.device("cpu" if on_cpu else "cuda"), isa)
        logger.info("mixed_precision auto: %s (%s)", precision.replace("no", "fp32"), isa["isa"] if isa else "GPU")
    if on_cpu and precision == "fp16":
        logger.warning("--mixed_precision fp16 needs a GPU: on the CPU this run trains in fp32 (bf16 works on CPUs)")
        precision = "no"
    accelerator = Accelerator(
        cpu=on_cpu,
        mixed_precision=precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with=args.report_to,
        project_dir=str(output_dir),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )
    return accelerator, precision


def _read_data(config: RunConfig, processes: int) -> tuple[Dataset, torch.Tensor, int]:
    """The training data (checked to fill a batch), the held-out images of the periodic evaluation, and the channel
    count: the image size is the model's (`ModelArguments.model_config`), the channels the source's (3 for colour, 1
    for MNIST) unless the model fixes them (`init_from`)."""
    data, seed = config.data, config.train.seed
    architecture = config.model.model_config()
    channels = architecture.in_channels if config.model.init_from else None
    crop = {"crop": data.image_crop} if data.image_crop else {}  # a source without the option is never asked
    dataset = build_dataset(data.data, data.train_split, architecture.image_size, channels, seed=seed, **crop)
    check_data_size(len(dataset), config.train.batch_size, processes, data.train_split)
    in_channels = channels or int(first_readable(dataset)["pixel_values"].shape[0])
    eval_source = build_dataset(
        data.eval_data or data.data, data.eval_split, architecture.image_size, in_channels, seed=seed, **crop
    )
    eval_count = min(data.eval_images, len(eval_source))
    eval_items = readable_items(eval_source, range(eval_count))
    if not eval_items:
        raise ValueError(f"None of the first {eval_count} {data.eval_split!r} images is readable; check the data.")
    return dataset, torch.stack([item["pixel_values"] for item in eval_items]), in_channels


def trainable_parameters(model: LeaeModel, recipe: Recipe) -> list[nn.Parameter]:
    """The parameters the recipe trains (asking may create recipe parts, such as the JEPA predictor); every other
    parameter of the model stops keeping gradients (`requires_grad` off), so only these are optimised."""
    trainable = list(recipe.trainable_parameters(model))
    trainable_ids = {id(p) for p in trainable}
    for parameter in model.parameters():
        parameter.requires_grad_(id(parameter) in trainable_ids)
    return trainable


def build_optimizer(trainable: list[nn.Parameter], args: TrainArguments, fused: bool = False) -> torch.optim.AdamW:
    """AdamW over `trainable` at the run's `learning_rate` and `weight_decay`; `fused`: PyTorch's fused kernel (an
    option of `training/benchmark.py`, not of `leae train`)."""
    kernel = {"fused": True} if fused else {}
    return torch.optim.AdamW(trainable, lr=args.learning_rate, weight_decay=args.weight_decay, **kernel)


def build_scheduler(optimizer: torch.optim.Optimizer, args: TrainArguments, max_steps: int, processes: int) -> Any:
    """The learning-rate schedule: linear warm-up over `warmup_steps`, then cosine decay to 0 at `max_steps`
    (`lr_schedule: cosine`) or constant. A scheduler prepared by Accelerate steps once per process per optimiser step,
    so both lengths count `processes` steps for each optimiser step."""
    return get_scheduler(
        "cosine" if args.lr_schedule == "cosine" else "constant_with_warmup",
        optimizer,
        num_warmup_steps=args.warmup_steps * processes,
        num_training_steps=max_steps * processes,
    )


@dataclass
class StepParts:
    """What one optimiser step (`optimizer_step`) works with, prepared by Accelerate."""

    accelerator: Accelerator
    step_module: nn.Module  # a `TrainStep`, maybe wrapped (DDP)
    core: LeaeModel  # the autoencoder, unwrapped
    recipe: Recipe
    trainable: list[nn.Parameter]
    optimizer: torch.optim.Optimizer
    scheduler: Any


def prepare_step(
    accelerator: Accelerator,
    model: LeaeModel,
    recipe: Recipe,
    args: TrainArguments,
    max_steps: int,
    loader: Any = None,
    objective: nn.Module | None = None,
    fused: bool = False,
) -> tuple[StepParts, Any]:
    """The step's parts for `model` and `recipe`, prepared by Accelerate together with `loader` (returned prepared;
    None stays None): the trainable mask (`trainable_parameters`), the `TrainStep` (compiled in place with
    `args.compile`), the optimiser (`build_optimizer`) and the schedule (`build_scheduler`). `objective` replaces the
    recipe in the forward pass (the benchmark's plain reference formulation); the recipe still gives the trainable
    parameters and the updates."""
    trainable = trainable_parameters(model, recipe)
    recipe.to(accelerator.device)
    step_module = TrainStep(model, recipe if objective is None else objective)
    if args.compile:
        step_module.compile()  # in place: the same parameters and state-dict keys
    optimizer = build_optimizer(trainable, args, fused)
    scheduler = build_scheduler(optimizer, args, max_steps, accelerator.num_processes)
    step_module, optimizer, loader, scheduler = accelerator.prepare(step_module, optimizer, loader, scheduler)
    core = accelerator.unwrap_model(step_module).model
    return StepParts(accelerator, step_module, core, recipe, trainable, optimizer, scheduler), loader


def optimizer_step(
    parts: StepParts, batch: dict[str, torch.Tensor], micro_step: int, max_grad_norm: float | None
) -> ObjectiveOutput:
    """One micro-batch as `leae train` runs it: the recipe's loss and its gradients, then, at the last micro-batch of
    an optimiser step (inside `accumulate`), the gradients clipped to `max_grad_norm` (when set), the optimiser's
    step, the schedule's step, the gradients cleared and the recipe's update (EMA judges and targets) for optimiser
    step `micro_step // gradient_accumulation_steps`."""
    accelerator = parts.accelerator
    with accelerator.accumulate(parts.step_module):
        out = parts.step_module(batch, micro_step)
        accelerator.backward(out.loss)
        if accelerator.sync_gradients and max_grad_norm:
            accelerator.clip_grad_norm_(parts.trainable, max_grad_norm)
        parts.optimizer.step()
        parts.scheduler.step()
        parts.optimizer.zero_grad(set_to_none=True)
    if accelerator.sync_gradients:
        parts.recipe.update(parts.core, micro_step // accelerator.gradient_accumulation_steps)
    return out


@dataclass
class _StageParts(StepParts):
    """What a stage trains with, prepared by Accelerate, and how long it runs."""

    loader: Any  # Accelerate's DataLoader
    steps_per_epoch: int
    max_steps: int


def _prepare(config: RunConfig, accelerator: Accelerator, dataset: Dataset, in_channels: int) -> _StageParts:
    """The loader, the stage's length, the model and the recipe (only what the recipe trains keeps gradients), the
    optimiser and the learning-rate schedule, prepared by Accelerate."""
    args = config.train
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=args.batch_size,
        collate_fn=_collate_or_none,
        shuffle=True,
        drop_last=True,
        num_workers=config.data.num_workers,
        generator=torch.Generator().manual_seed(args.seed),
        pin_memory=torch.cuda.is_available(),
        persistent_workers=config.data.num_workers > 0,
    )
    batches_per_epoch = len(loader) // accelerator.num_processes
    steps_per_epoch = max(1, batches_per_epoch // args.gradient_accumulation_steps)
    max_steps = args.max_steps or math.ceil(args.num_epochs * steps_per_epoch)

    model = enable_fast_path(build_model(config, in_channels))  # same math, faster (leae_hub.speedups)
    recipe = build_recipe(config.recipe, **_recipe_arguments(RECIPES[config.recipe], config, max_steps))
    step, loader = prepare_step(accelerator, model, recipe, args, max_steps, loader)
    return _StageParts(**vars(step), loader=loader, steps_per_epoch=steps_per_epoch, max_steps=max_steps)


@dataclass
class _Tally:
    """The steps' running account: the step, the images since the last loss record and when that was, the batches
    skipped as unreadable, the last step checkpointed, and when the steps began."""

    step: int
    last_saved: int
    last_time: float = field(default_factory=time.perf_counter)
    images_since: int = 0
    empty_batches: int = 0
    start_time: float = field(default_factory=time.perf_counter)


def _take_steps(config: RunConfig, parts: _StageParts, eval_images: torch.Tensor, step: int) -> _Tally:
    """Step from `step` to `max_steps`, epoch by epoch, logging, evaluating and checkpointing on the way.

    A resumed run re-enters its epoch where the step says; an epoch with batches skipped as unreadable ends early, and
    the next one starts afresh (its own shuffle)."""
    accelerator, accumulation = parts.accelerator, config.train.gradient_accumulation_steps
    progress = tqdm(total=parts.max_steps, initial=step, desc=config.recipe, disable=not accelerator.is_main_process)
    tally = _Tally(step=step, last_saved=step)
    epoch, skip = step // parts.steps_per_epoch, (step % parts.steps_per_epoch) * accumulation
    while tally.step < parts.max_steps:
        parts.loader.set_epoch(epoch)
        epoch_loader = accelerator.skip_first_batches(parts.loader, skip) if skip else parts.loader
        micro, used = skip, 0
        for batch in epoch_loader:
            if _unreadable_batch(batch, accelerator):
                tally.empty_batches += 1
                continue
            used += 1
            micro_step = tally.step * accumulation + micro % accumulation
            out = optimizer_step(parts, batch, micro_step, config.train.max_grad_norm)
            micro += 1
            tally.images_since += batch["pixel_values"].shape[0] * accelerator.num_processes
            if not accelerator.sync_gradients:
                continue
            tally.step += 1
            progress.update(1)
            _after_step(config, parts, eval_images, tally, out, epoch, progress)
            if tally.step >= parts.max_steps:
                break
        if used == 0:  # not one batch this epoch: without this check the loop would spin forever
            raise RuntimeError(
                f"Epoch {epoch} of {config.data.data!r} gave no batch (every image unreadable?); check the data."
            )
        epoch, skip = epoch + 1, 0
    progress.close()
    return tally


def _after_step(
    config: RunConfig,
    parts: _StageParts,
    eval_images: torch.Tensor,
    tally: _Tally,
    out: ObjectiveOutput,
    epoch: int,
    progress: tqdm,
) -> None:
    """What follows an optimiser step when its turn comes: the loss record, the sample grid, the held-out PSNR, the
    checkpoint (the last step's grid and record too; its evaluation and checkpoint are the stage's end)."""
    args, accelerator, step = config.train, parts.accelerator, tally.step
    output_dir, last = Path(args.output_dir), step == parts.max_steps
    if step % args.log_every == 0 or last:
        now = time.perf_counter()
        rate = tally.images_since / (now - tally.last_time)
        tally.last_time, tally.images_since = now, 0
        record = {"step": step, "epoch": epoch, "lr": parts.scheduler.get_last_lr()[0], "img_per_s": rate}
        record.update({"processes": accelerator.num_processes, **out.logs})
        progress.set_postfix(loss=f"{out.logs['loss']:.4f}", img_s=f"{rate:.0f}")
        if accelerator.is_main_process:
            _append_record(output_dir / "metrics.jsonl", record)
        accelerator.log(record, step=step)
    if accelerator.is_main_process and (step % args.sample_every == 0 or last):
        grid = training_grid(out.images)
        save_sample_grid(grid, output_dir / "samples" / f"step-{step:06d}.png")
        log_images(accelerator, {"samples": grid}, step)
    if step % args.eval_every == 0 and not last and accelerator.is_main_process:
        result = {f"eval_{k}": v for k, v in evaluate_psnr(parts.core, eval_images).items()}
        _append_record(output_dir / "metrics.jsonl", {"step": step, **result})
        accelerator.log(result, step=step)
    if step % args.checkpoint_every == 0 and not last:
        save_checkpoint(accelerator, output_dir, step, args.keep_checkpoints, parts.recipe)
        tally.last_saved = step


def _append_record(path: Path, record: dict[str, Any]) -> None:
    """One line of `metrics.jsonl`."""
    with path.open("a") as handle:
        handle.write(json.dumps(record) + "\n")


def _end_stage(
    config: RunConfig, parts: _StageParts, eval_images: torch.Tensor, tally: _Tally, skipped: int, precision: str
) -> dict[str, Any]:
    """The stage's last checkpoint (unless its last step was saved), then `finish` on the main process; `skipped`:
    the unreadable training images of this process."""
    args, accelerator, step = config.train, parts.accelerator, tally.step
    wall_time = time.perf_counter() - tally.start_time
    if skipped:
        logger.warning(
            "skipped %d unreadable training image(s) (this process) and %d batch(es) with none readable; the log "
            "above names them",
            skipped,
            tally.empty_batches,
        )
    if tally.last_saved != step:
        save_checkpoint(accelerator, Path(args.output_dir), step, args.keep_checkpoints, parts.recipe)
    accelerator.wait_for_everyone()
    result: dict[str, Any] = {}
    if accelerator.is_main_process:
        result = finish(config, parts.core, eval_images, Path(args.output_dir), step, wall_time, precision)
        accelerator.log({f"final_{k}": v for k, v in result.items() if k in ("psnr", "baseline_psnr")}, step=step)
    accelerator.end_training()
    return result


def log_images(accelerator: Accelerator, images: dict[str, np.ndarray], step: int) -> None:
    """Send uint8 [H, W, 3] images to the trackers that take images (TensorBoard, as one-image batches)."""
    for tracker in accelerator.trackers:
        if tracker.name == "tensorboard":
            tracker.log_images({name: image[None] for name, image in images.items()}, step=step, dataformats="NHWC")


def finish(
    config: RunConfig,
    model: LeaeModel,
    eval_images: torch.Tensor,
    output_dir: Path,
    steps: int,
    wall_time: float,
    mixed_precision: str,
) -> dict[str, Any]:
    """Save the model (float32; in shards of at most `MAX_SHARD_SIZE`) and its processor, measure the held-out PSNR,
    write the card draft, maybe publish. `final_metrics.json` records `mixed_precision` as trained ("no", "bf16",
    "fp16": what `auto` chose)."""
    model_dir = output_dir / "model"
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    model = model.float()
    model.save_pretrained(model_dir, max_shard_size=MAX_SHARD_SIZE)
    processor = LeaeImageProcessor(image_size=model.config.image_size, num_channels=model.config.in_channels)
    processor.save_pretrained(model_dir)
    result = evaluate_psnr(model, eval_images)
    result.update({"steps": steps, "train_wall_time_s": wall_time, "eval_images": int(eval_images.shape[0])})
    result["mixed_precision"] = mixed_precision
    write_atomically(output_dir / "final_metrics.json", json.dumps(result, indent=2))
    write_card_draft(config, model, eval_images, model_dir, steps, wall_time)
    if config.train.push_to_hub:
        url = publish(model_dir, config.train.push_to_hub, private=config.train.hub_private)
        logger.info("published to %s", url)
    return result


def _flat_scalars(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in values.items()}


def summary_line(result: dict[str, float], model_dir: Path) -> str:
    """The one-line result of a run: held-out PSNR against the per-image-mean baseline, steps, time, where."""
    return (
        f"held-out PSNR {result['psnr']:.2f} dB vs per-image-mean baseline {result['baseline_psnr']:.2f} dB "
        f"({result['psnr'] - result['baseline_psnr']:+.2f} dB) on {result['eval_images']} images; "
        f"{result['steps']} steps in {result['train_wall_time_s']:.0f} s. Model saved to {model_dir}"
    )
