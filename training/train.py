"""Train a leae model with any recipe, on one CPU, one GPU or many.

    accelerate launch training/train.py                                   # the embedded default: shapes-quick.yaml
    accelerate launch training/train.py --config training/configs/cifar10-32-masked.yaml --max_steps 2000
    accelerate launch --multi_gpu --num_processes 2 training/train.py ...  # 2 processes (add --cpu on CPU machines)
    accelerate launch training/train.py --config ... --resume_from_checkpoint latest

Every field below can be set in the YAML `--config` file and overridden on the command line (`--field value`).
Outputs in `output_dir`: `train_config.yaml`, `metrics.jsonl`, `samples/step-*.png`, `checkpoints/checkpoint-<step>/`
(written atomically, the last `keep_checkpoints` kept), and at the end `model/` (`save_pretrained` of the model and
its image processor, float32), a model card draft `model/README.md` and `final_metrics.json`.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

# Idle OpenMP threads sleep instead of spinning: on a CPU shared with other processes spinning threads wait for time
# slices at every parallel region (up to 4.5x slower steps, docs/performance.md); no cost on a quiet machine. It must
# be set before torch loads; an explicit OMP_WAIT_POLICY wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import yaml  # noqa: E402
from accelerate import Accelerator  # noqa: E402
from accelerate.utils import DataLoaderConfiguration, set_seed  # noqa: E402
from PIL import Image  # noqa: E402
from torch import nn  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402
from transformers import AutoModel, HfArgumentParser, get_scheduler  # noqa: E402

import leae_hub  # noqa: E402
from leae_hub import LeaeConfig, LeaeImageProcessor, LeaeModel  # noqa: E402
from leae_hub.data import build_dataset  # noqa: E402
from leae_hub.evaluation import evaluate_model, jsonable, sample_grid  # noqa: E402
from leae_hub.hub import publish, render_card, resolve_token, write_card  # noqa: E402
from leae_hub.recipes import RECIPES, Recipe, build_recipe  # noqa: E402

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "shapes-quick.yaml"


@dataclass
class ModelArguments:
    preset: str = field(default="leae-cifar", metadata={"help": f"architecture preset: {', '.join(leae_hub.PRESETS)}"})
    image_size: int | None = field(default=None, metadata={"help": "override the preset's image size"})
    hidden_channels: int | None = None
    latent_type: str | None = field(default=None, metadata={"help": "spatial or pooled"})
    latent_channels: int | None = None
    pooled_map_channels: int | None = None
    encoder_backbone: str | None = field(default=None, metadata={"help": "a timm model name for the encoder"})
    init_from: str | None = field(default=None, metadata={"help": "start from this saved model (dir or repo id)"})


@dataclass
class DataArguments:
    data: str = field(default="synthetic-shapes", metadata={"help": "data source spec (see leae_hub.data)"})
    train_split: str = "train"
    eval_data: str | None = field(default=None, metadata={"help": "held-out source; default: same as data"})
    eval_split: str = "test"
    eval_images: int = field(default=256, metadata={"help": "held-out images for the periodic evaluation"})
    num_workers: int = 0


@dataclass
class RecipeArguments:
    """The recipe and its options. Options left unset (None) take the recipe's upstream default."""

    recipe: str = field(default="self-teaching", metadata={"help": f"one of: {', '.join(RECIPES)}"})
    views: list[str] | None = None
    num_crops: int | None = None
    crop_ratio: float | None = None
    crop_size: int | None = None
    pixel_mask_ratio: float | None = None
    patch_size: int | None = None
    patch_mask_ratio: float | None = None
    sigreg_weight: float | None = None
    sigreg_slices: int | None = None
    judge: str | None = None
    judge_norm: str | None = None
    ema_decay: float | None = None
    hole_ratio: float | None = None
    hole_fill: str | None = None
    clean_inputs: bool | None = None
    augmentations: list[str] | None = None
    augment_probability: float | None = None
    predictor: str | None = None
    predictor_hidden: int | None = None
    target: str | None = None
    regularizer: str | None = None
    regularizer_weight: float | None = None
    coding_rate_alpha: float | None = None
    prediction_loss: str | None = None
    decoder_probe_steps: int = field(
        default=0, metadata={"help": "jepa: then train a decoder probe for this many steps on the frozen encoder"}
    )


@dataclass
class TrainArguments:
    output_dir: str = "runs/shapes-quick"
    seed: int = 0
    max_steps: int | None = field(default=None, metadata={"help": "optimiser steps; overrides num_epochs when set"})
    num_epochs: float | None = None
    batch_size: int = field(default=64, metadata={"help": "per process"})
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    lr_schedule: Literal["constant", "cosine"] = "constant"
    warmup_steps: int = 0
    max_grad_norm: float | None = 1.0
    gradient_accumulation_steps: int = 1
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    cpu: bool = field(default=False, metadata={"help": "force CPU (implied when no GPU is present)"})
    log_every: int = 10
    sample_every: int = 200
    eval_every: int = 500
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    resume_from_checkpoint: str | None = field(default=None, metadata={"help": "'latest' or a checkpoint path"})
    overwrite: bool = field(default=False, metadata={"help": "replace a run with a different config in output_dir"})
    report_to: str | None = field(default=None, metadata={"help": "tensorboard"})
    push_to_hub: str | None = field(default=None, metadata={"help": "repo id to publish the final model to"})
    hub_private: bool = False


ARGUMENT_CLASSES = (ModelArguments, DataArguments, RecipeArguments, TrainArguments)
# Fields that may change between a run and its resumption without making it "a different run".
RUN_INDEPENDENT_FIELDS = {"resume_from_checkpoint", "overwrite", "push_to_hub", "hub_private", "num_workers"}
# Fields a resumed run may change as well: its length and how often it logs, evaluates and saves.
RESUMABLE_FIELDS = {
    *("max_steps", "num_epochs", "log_every", "sample_every", "eval_every", "eval_images"),
    *("checkpoint_every", "keep_checkpoints", "report_to"),
}


@dataclass
class RunConfig:
    model: ModelArguments
    data: DataArguments
    recipe: RecipeArguments
    train: TrainArguments

    def to_dict(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for part in (self.model, self.data, self.recipe, self.train):
            merged.update(dataclasses.asdict(part))
        return merged


def parse_config(argv: list[str] | None = None) -> RunConfig:
    """YAML `--config` (default: shapes-quick.yaml) overlaid with command-line overrides; unknown keys are errors."""
    argv = list(sys.argv[1:] if argv is None else argv)
    config_path = DEFAULT_CONFIG
    if "--config" in argv:
        index = argv.index("--config")
        config_path = Path(argv[index + 1])
        del argv[index : index + 2]
    values = yaml.safe_load(config_path.read_text()) or {}
    known = {f.name for cls in ARGUMENT_CLASSES for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"Unknown key {key!r} in {config_path}.{hint}")
    parser = HfArgumentParser(ARGUMENT_CLASSES)
    parser.set_defaults(**values)
    parsed = parser.parse_args_into_dataclasses(args=argv)
    config = RunConfig(*parsed)
    validate(config)
    return config


def validate(config: RunConfig) -> None:
    if config.model.preset not in leae_hub.PRESETS:
        raise ValueError(f"Unknown preset {config.model.preset!r}. Valid presets: {', '.join(leae_hub.PRESETS)}.")
    if config.recipe.recipe not in RECIPES:
        raise ValueError(f"Unknown recipe {config.recipe.recipe!r}. Valid recipes: {', '.join(RECIPES)}.")
    if not (config.train.max_steps or config.train.num_epochs):
        raise ValueError("Set max_steps or num_epochs (max_steps wins when both are set, as in transformers).")
    if config.recipe.decoder_probe_steps and config.recipe.recipe != "jepa":
        raise ValueError("decoder_probe_steps only applies to recipe 'jepa'.")


def recipe_options(config: RunConfig, total_steps: int) -> dict[str, Any]:
    """The options that were set, checked against what the recipe accepts."""
    args = config.recipe
    options = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(args)
        if f.name not in ("recipe", "decoder_probe_steps") and getattr(args, f.name) is not None
    }
    options["seed"] = config.train.seed
    if args.recipe == "jepa":
        options["total_steps"] = total_steps
    return options


def build_model(config: RunConfig, in_channels: int) -> LeaeModel:
    if config.model.init_from:
        return AutoModel.from_pretrained(config.model.init_from)
    overrides = {
        key: value
        for key, value in dataclasses.asdict(config.model).items()
        if key not in ("preset", "init_from") and value is not None
    }
    return LeaeModel(LeaeConfig.from_preset(config.model.preset, in_channels=in_channels, **overrides))


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


def _checkpoints(directory: Path) -> list[Path]:
    found = [p for p in directory.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def save_checkpoint(accelerator: Accelerator, output_dir: Path, step: int, keep: int) -> None:
    """`save_state` on every rank into a temporary folder, then an atomic rename: a crash never leaves a torn one."""
    checkpoints = output_dir / "checkpoints"
    final = checkpoints / f"checkpoint-{step}"
    tmp = checkpoints / f"tmp-checkpoint-{step}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / "trainer_state.json").write_text(json.dumps({"step": step}))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in _checkpoints(checkpoints)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def resolve_resume(output_dir: Path, resume: str | None) -> Path | None:
    if resume is None:
        return None
    if resume == "latest":
        found = _checkpoints(output_dir / "checkpoints")
        return found[-1] if found else None
    path = Path(resume)
    if not (path / "trainer_state.json").exists():
        raise FileNotFoundError(f"{path} is not a complete checkpoint (no trainer_state.json).")
    return path


def check_output_dir(config: RunConfig, output_dir: Path, is_main: bool, resuming: bool = False) -> None:
    """Refuse to mix two different runs in one folder (a fresh start or a resumption with other settings), unless
    `--overwrite` is given: then a fresh start clears the old run, and a resumption continues with the new settings."""
    saved = output_dir / "train_config.yaml"
    ignored = RUN_INDEPENDENT_FIELDS | (RESUMABLE_FIELDS if resuming else set())
    current = {k: v for k, v in config.to_dict().items() if k not in ignored}
    if saved.exists() and not config.train.overwrite:
        previous = {k: v for k, v in (yaml.safe_load(saved.read_text()) or {}).items() if k not in ignored}
        changed = sorted(k for k in current.keys() | previous.keys() if current.get(k) != previous.get(k))
        if changed:
            raise ValueError(
                f"{output_dir} holds a run with a different config (differs in: {', '.join(changed)}). "
                "Pass --overwrite to replace it (or, when resuming, to go on with the new settings), "
                "or choose another --output_dir."
            )
    if is_main:
        if config.train.overwrite and not resuming and output_dir.exists():
            shutil.rmtree(output_dir / "checkpoints", ignore_errors=True)
            (output_dir / "metrics.jsonl").unlink(missing_ok=True)
        output_dir.mkdir(parents=True, exist_ok=True)
        saved.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))


def save_sample_grid(images: dict[str, torch.Tensor], path: Path, count: int = 8) -> None:
    """One row per available image kind: input, reconstruction, masked input, masked reconstruction (or views)."""
    order = ["input", "reconstruction", "masked_input", "masked_reconstruction", "context_view", "target_view"]
    rows = [images[name][:count].float().cpu().clamp(0, 1) for name in order if name in images]
    grid = make_grid(torch.cat(rows), nrow=rows[0].shape[0], padding=2, pad_value=1.0)
    array = (grid.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@torch.inference_mode()
def evaluate_psnr(model: LeaeModel, images: torch.Tensor, batch_size: int = 128) -> dict[str, float]:
    """Mean PSNR of the reconstructions, and of the per-image-mean baseline (each image replaced by its mean colour)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    psnrs, baselines = [], []
    for start in range(0, images.shape[0], batch_size):
        x = images[start : start + batch_size].to(device)
        reconstruction = model.decoder(model.encoder(x)).float()
        mean = x.mean(dim=(2, 3), keepdim=True).expand_as(x)
        psnrs.append(_psnr(reconstruction, x))
        baselines.append(_psnr(mean, x))
    model.train(was_training)
    return {"psnr": torch.cat(psnrs).mean().item(), "baseline_psnr": torch.cat(baselines).mean().item()}


def _psnr(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    mse = (prediction - target).square().flatten(1).mean(1).clamp_min(1e-10)
    return -10 * torch.log10(mse)


def train(config: RunConfig) -> dict[str, float]:
    """Run one training stage (and, for jepa with `decoder_probe_steps`, the decoder-probe stage after it)."""
    if config.recipe.recipe == "jepa" and config.recipe.decoder_probe_steps:
        return _train_jepa_with_probe(config)
    return _train_stage(config)


def _train_jepa_with_probe(config: RunConfig) -> dict[str, float]:
    output_dir = Path(config.train.output_dir)
    encoder_stage = dataclasses.replace(
        config,
        recipe=dataclasses.replace(config.recipe, decoder_probe_steps=0),
        train=dataclasses.replace(config.train, output_dir=str(output_dir / "jepa"), push_to_hub=None),
    )
    if not (output_dir / "jepa" / "model" / "config.json").exists():
        _train_stage(encoder_stage)
    probe_stage = RunConfig(
        model=dataclasses.replace(config.model, init_from=str(output_dir / "jepa" / "model")),
        data=config.data,
        recipe=RecipeArguments(recipe="decoder-probe"),
        train=dataclasses.replace(config.train, max_steps=config.recipe.decoder_probe_steps, num_epochs=None),
    )
    return _train_stage(probe_stage)


def _train_stage(config: RunConfig) -> dict[str, float]:
    args = config.train
    output_dir = Path(args.output_dir)
    accelerator = Accelerator(
        cpu=args.cpu or not torch.cuda.is_available(),
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with=args.report_to,
        project_dir=str(output_dir),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )
    set_seed(args.seed)
    if args.push_to_hub:
        resolve_token()  # a missing token fails now, not after the training
    resume = resolve_resume(output_dir, args.resume_from_checkpoint)
    check_output_dir(config, output_dir, accelerator.is_main_process, resuming=resume is not None)
    accelerator.wait_for_everyone()

    # Data: the channel count comes from the source (3 for colour, 1 for MNIST) unless the model fixes it.
    image_size = config.model.image_size or LeaeConfig.from_preset(config.model.preset).image_size
    if config.model.init_from:
        init_config = LeaeConfig.from_pretrained(config.model.init_from)
        image_size, channels = init_config.image_size, init_config.in_channels
    else:
        channels = None
    dataset = build_dataset(config.data.data, config.data.train_split, image_size, channels, seed=args.seed)
    in_channels = channels or int(dataset[0]["pixel_values"].shape[0])
    eval_source = build_dataset(
        config.data.eval_data or config.data.data, config.data.eval_split, image_size, in_channels, seed=args.seed
    )
    eval_count = min(config.data.eval_images, len(eval_source))
    eval_images = torch.stack([eval_source[i]["pixel_values"] for i in range(eval_count)])
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=args.batch_size,
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

    model = build_model(config, in_channels)
    recipe = build_recipe(config.recipe.recipe, **recipe_options(config, max_steps))
    trainable = list(recipe.trainable_parameters(model))  # may create recipe parts (the JEPA predictor)
    trainable_ids = {id(p) for p in trainable}
    for parameter in model.parameters():
        parameter.requires_grad_(id(parameter) in trainable_ids)
    recipe.to(accelerator.device)
    step_module = TrainStep(model, recipe)
    optimizer = torch.optim.AdamW(trainable, lr=args.learning_rate, weight_decay=args.weight_decay)
    # A scheduler prepared by Accelerate steps once per process per optimiser step.
    scheduler = get_scheduler(
        "cosine" if args.lr_schedule == "cosine" else "constant_with_warmup",
        optimizer,
        num_warmup_steps=args.warmup_steps * accelerator.num_processes,
        num_training_steps=max_steps * accelerator.num_processes,
    )
    step_module, optimizer, loader, scheduler = accelerator.prepare(step_module, optimizer, loader, scheduler)
    accelerator.register_for_checkpointing(recipe)
    if args.report_to:
        accelerator.init_trackers("leae", config=_flat_scalars(config.to_dict()))

    step = 0
    if resume is not None:
        accelerator.load_state(str(resume))
        step = json.loads((resume / "trainer_state.json").read_text())["step"]
        accelerator.print(f"resumed from {resume} at step {step}")

    core = accelerator.unwrap_model(step_module).model
    metrics_path = output_dir / "metrics.jsonl"
    progress = tqdm(total=max_steps, initial=step, desc=config.recipe.recipe, disable=not accelerator.is_main_process)
    last_time, images_since = time.perf_counter(), 0
    last_saved = step
    start_time = time.perf_counter()
    while step < max_steps:
        epoch = step // steps_per_epoch
        loader.set_epoch(epoch)
        skip = (step % steps_per_epoch) * args.gradient_accumulation_steps
        epoch_loader = accelerator.skip_first_batches(loader, skip) if skip else loader
        micro = skip
        for batch in epoch_loader:
            with accelerator.accumulate(step_module):
                out = step_module(
                    batch, step * args.gradient_accumulation_steps + micro % args.gradient_accumulation_steps
                )
                accelerator.backward(out.loss)
                if accelerator.sync_gradients and args.max_grad_norm:
                    accelerator.clip_grad_norm_(trainable, args.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            micro += 1
            images_since += batch["pixel_values"].shape[0] * accelerator.num_processes
            if not accelerator.sync_gradients:
                continue
            recipe.update(core, step)
            step += 1
            progress.update(1)
            if step % args.log_every == 0 or step == max_steps:
                now = time.perf_counter()
                rate = images_since / (now - last_time)
                last_time, images_since = now, 0
                record = {"step": step, "epoch": epoch, "lr": scheduler.get_last_lr()[0], "img_per_s": rate}
                record.update({"processes": accelerator.num_processes, **out.logs})
                progress.set_postfix(loss=f"{out.logs['loss']:.4f}", img_s=f"{rate:.0f}")
                if accelerator.is_main_process:
                    with metrics_path.open("a") as handle:
                        handle.write(json.dumps(record) + "\n")
                accelerator.log(record, step=step)
            if accelerator.is_main_process and (step % args.sample_every == 0 or step == max_steps):
                save_sample_grid(out.images, output_dir / "samples" / f"step-{step:06d}.png")
            if step % args.eval_every == 0 and step != max_steps and accelerator.is_main_process:
                result = evaluate_psnr(core, eval_images)
                with metrics_path.open("a") as handle:
                    handle.write(json.dumps({"step": step, **{f"eval_{k}": v for k, v in result.items()}}) + "\n")
            if step % args.checkpoint_every == 0 and step != max_steps:
                save_checkpoint(accelerator, output_dir, step, args.keep_checkpoints)
                last_saved = step
            if step >= max_steps:
                break
    progress.close()
    wall_time = time.perf_counter() - start_time
    if last_saved != step:
        save_checkpoint(accelerator, output_dir, step, args.keep_checkpoints)
    accelerator.wait_for_everyone()
    result: dict[str, float] = {}
    if accelerator.is_main_process:
        result = finish(config, core, eval_images, output_dir, step, wall_time)
    accelerator.end_training()
    return result


def finish(
    config: RunConfig, model: LeaeModel, eval_images: torch.Tensor, output_dir: Path, steps: int, wall_time: float
) -> dict[str, float]:
    """Save the model (float32) and its processor, measure the held-out PSNR, write the card draft, maybe publish."""
    model_dir = output_dir / "model"
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    model = model.float()
    model.save_pretrained(model_dir)
    processor = LeaeImageProcessor(image_size=model.config.image_size, num_channels=model.config.in_channels)
    processor.save_pretrained(model_dir)
    result = evaluate_psnr(model, eval_images)
    result.update({"steps": steps, "train_wall_time_s": wall_time, "eval_images": int(eval_images.shape[0])})
    (output_dir / "final_metrics.json").write_text(json.dumps(result, indent=2))
    print(
        f"\nheld-out PSNR {result['psnr']:.2f} dB vs per-image-mean baseline {result['baseline_psnr']:.2f} dB "
        f"({result['psnr'] - result['baseline_psnr']:+.2f} dB) on {result['eval_images']} images; "
        f"{steps} steps in {wall_time:.0f} s. Model saved to {model_dir}"
    )
    write_card_draft(config, model, eval_images, model_dir, steps, wall_time)
    if config.train.push_to_hub:
        url = publish(model_dir, config.train.push_to_hub, private=config.train.hub_private)
        print(f"published to {url}")
    return result


def write_card_draft(
    config: RunConfig, model: LeaeModel, eval_images: torch.Tensor, model_dir: Path, steps: int, wall_time: float
) -> None:
    """A model card from a quick held-out evaluation (no representation metrics; run evaluate.py for the full set)."""
    metrics = evaluate_model(
        model,
        [{"pixel_values": image} for image in eval_images],
        representation=False,
        data_spec=config.data.eval_data or config.data.data,
        split=config.data.eval_split,
    )
    (model_dir / "eval.json").write_text(json.dumps(jsonable(metrics), indent=2, allow_nan=False))
    with torch.inference_mode():
        sample_grid(model, eval_images[:8]).save(model_dir / "samples.png")
    run_config = Path(config.train.output_dir) / "train_config.yaml"
    training = {
        "command": f"accelerate launch training/train.py --config {run_config}",
        "config": run_config.read_text(),
        "steps": steps,
        "wall_time_s": round(wall_time, 1),
        "seed": config.train.seed,
    }
    repo_id = config.train.push_to_hub or f"org/leae-{Path(config.train.output_dir).name}"
    card = render_card(
        model_dir,
        repo_id=repo_id,
        recipe=config.recipe.recipe,
        datasets=[config.data.data],
        metrics=metrics,
        training=training,
        sample_grid="samples.png",
    )
    write_card(model_dir, card)


def _flat_scalars(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in values.items()}


def main(argv: list[str] | None = None) -> dict[str, float]:
    return train(parse_config(argv))


if __name__ == "__main__":
    main()
