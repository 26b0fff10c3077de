"""Train a leae model with any recipe, on one CPU, one GPU or many: the code behind `leae train` and
`training/train.py`.

    leae train                                                            # the default: shapes-quick.yaml
    leae train --config training/configs/cifar10-32-masked.yaml --max_steps 2000
    accelerate launch training/train.py --config ...                      # the same, through Accelerate
    accelerate launch --multi_gpu --num_processes 2 training/train.py ...  # 2 processes (add --cpu on CPU machines)
    leae train --config ... --resume_from_checkpoint latest

Every field of `ModelArguments`, `DataArguments` and `TrainArguments`, `recipe`, and every option of every registered
recipe (its constructor's keyword arguments, see `leae_hub.recipes`) can be set in the YAML `--config` file and
overridden on the command line (`--field value`). A recipe may train in several stages (`Recipe.stages`): the last one
writes to `output_dir`, the others to subfolders of it.

Outputs in `output_dir`: `train_config.yaml` (the run's settings, recipe defaults filled in), `metrics.jsonl`,
`samples/step-*.png`, `checkpoints/checkpoint-<step>/` (written atomically, the last `keep_checkpoints` kept), with
`--report_to tensorboard` the TensorBoard events in `leae/`, and at the end `model/` (`save_pretrained` of the model
and its image processor, float32), a model card draft `model/README.md` and `final_metrics.json`.

Safety. Every setting is checked before any data is read, and the data (one full batch at least) before anything in
`output_dir` changes. A fresh start in a folder that holds a run (a checkpoint or a model) refuses other settings
unless `--overwrite` is given; the old run is then moved aside whole (with equal settings too), to
`<output_dir>.old-<UTC time>`, once the new run is under way. A checkpoint holds no pickle of ours: the recipe's state
is safetensors and `trainer_state.json` lists every file's size and SHA-256; resuming reads Accelerate's files with
`weights_only=True` (never its `custom_checkpoint_<i>.pkl`), and
`--resume_from_checkpoint latest` takes the newest checkpoint that is complete, loads and holds finite weights, warning
about each one it passes over. A resumed run cuts `metrics.jsonl` back to its step; a moved run folder resumes.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import errno
import hashlib
import io
import json
import logging
import math
import os
import pickle
import re
import shutil
import socket
import sys
import tempfile
import time
import types
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import yaml

try:
    import fcntl
except ImportError:  # Windows: runs are not locked
    fcntl = None
from accelerate import Accelerator
from accelerate.tracking import get_available_trackers
from accelerate.utils import DataLoaderConfiguration, set_seed
from huggingface_hub.utils import HFValidationError, validate_repo_id
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm
from transformers import AutoModel, HfArgumentParser, get_scheduler

from .configuration_leae import PRESETS, LeaeConfig
from .data import build_dataset, first_readable, readable_items
from .evaluation import evaluate_model, grid_array, hole_psnr, jsonable, mean_fill, psnr, sample_grid
from .hardware import choose_mixed_precision, cpu_isa
from .hub import (
    publish,
    render_card,
    repo_name,
    resolve_token,
    sha256_of_files,
    weights_sha256,
    write_atomically,
    write_card,
)
from .image_processing_leae import LeaeImageProcessor
from .modeling_leae import LeaeModel
from .recipes import RECIPES, Recipe, RecipeOption, Stage, build_recipe, check_options
from .speedups import enable_fast_path
from .views import centred_hole_mask

logger = logging.getLogger(__name__)

# The embedded default run, packaged (so `leae train` works from any folder); training/configs/ links to it.
DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "shapes-quick.yaml"
TRAINER_STATE = "trainer_state.json"  # a checkpoint's step and its files' sizes and SHA-256
RECIPE_STATE = "recipe_state.safetensors"
LEGACY_RECIPE_STATE = "custom_checkpoint_0.pkl"  # older checkpoints: read with weights_only=True
LEGACY_CHECKPOINT_FILES = ("model.safetensors", "optimizer.bin", "scheduler.bin")  # before trainer_state listed them


@dataclass
class ModelArguments:
    preset: str = field(default="leae-cifar", metadata={"help": f"architecture preset: {', '.join(PRESETS)}"})
    image_size: int | None = field(default=None, metadata={"help": "override the preset's image size"})
    hidden_channels: int | None = None
    latent_type: str | None = field(default=None, metadata={"help": "spatial or pooled"})
    latent_channels: int | None = None
    pooled_map_channels: int | None = None
    latent_norm: str | None = field(default=None, metadata={"help": "batchnorm, layernorm (pooled latents) or none"})
    latent_norm_layers: int | None = field(default=None, metadata={"help": "LayerNorms stacked with layernorm"})
    encoder_backbone: str | None = field(default=None, metadata={"help": "a timm model name for the encoder"})
    init_from: str | None = field(default=None, metadata={"help": "start from this saved model (dir or repo id)"})

    _argument_group_name = "model"


@dataclass
class DataArguments:
    data: str = field(default="synthetic-shapes", metadata={"help": "data source spec (see leae_hub.data)"})
    train_split: str = "train"
    eval_data: str | None = field(default=None, metadata={"help": "held-out source; default: same as data"})
    eval_split: str = "test"
    eval_images: int = field(default=256, metadata={"help": "held-out images for the periodic evaluation"})
    num_workers: int = 0

    _argument_group_name = "data"


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
    mixed_precision: Literal["no", "bf16", "fp16", "auto"] = field(
        default="no",
        metadata={
            "help": "auto: bf16 where the hardware computes it natively (a GPU with bf16, a CPU with AVX-512-BF16 or "
            "AMX), fp32 elsewhere (leae_hub.hardware)"
        },
    )
    compile: bool = field(
        default=False, metadata={"help": "torch.compile the training step (same math; docs/performance.md)"}
    )
    cpu: bool = field(default=False, metadata={"help": "force CPU (implied when no GPU is present)"})
    log_every: int = field(default=10, metadata={"help": "steps between loss records (metrics.jsonl, trackers)"})
    sample_every: int = field(default=200, metadata={"help": "steps between sample grids (samples/, trackers)"})
    eval_every: int = field(default=500, metadata={"help": "steps between held-out PSNR measurements"})
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    resume_from_checkpoint: str | None = field(default=None, metadata={"help": "'latest' or a checkpoint path"})
    overwrite: bool = field(default=False, metadata={"help": "replace a run with a different config in output_dir"})
    report_to: str | None = field(
        default=None, metadata={"help": "an Accelerate tracker, e.g. tensorboard (pip install 'leae-hub[tracking]')"}
    )
    push_to_hub: str | None = field(default=None, metadata={"help": "repo id to publish the final model to"})
    hub_private: bool = False

    _argument_group_name = "training"


ARGUMENT_CLASSES = (ModelArguments, DataArguments, TrainArguments)
# Fields that may change between a run and its resumption without making it "a different run".
# The run's folder is one of them: a moved run folder resumes.
RUN_INDEPENDENT_FIELDS = {
    *("resume_from_checkpoint", "overwrite", "compile", "push_to_hub", "hub_private", "num_workers", "output_dir"),
}
# Fields a resumed run may change as well: its length and how often it logs, evaluates and saves.
RESUMABLE_FIELDS = {
    *("max_steps", "num_epochs", "log_every", "sample_every", "eval_every", "eval_images"),
    *("checkpoint_every", "keep_checkpoints", "report_to"),
}


@dataclass
class RunConfig:
    """One run: the model, the data, the recipe with the options that were set, and the training settings."""

    model: ModelArguments
    data: DataArguments
    recipe: str
    recipe_options: dict[str, Any]
    train: TrainArguments

    def to_dict(self) -> dict[str, Any]:
        """Every setting as plain YAML values; the recipe's options that were not set show its defaults."""
        options = {option.name: option.default for option in RECIPES[self.recipe].options()}
        options.update(self.recipe_options)
        merged = {**dataclasses.asdict(self.model), **dataclasses.asdict(self.data), "recipe": self.recipe}
        merged.update({name: _plain(value) for name, value in options.items()})
        merged.update(dataclasses.asdict(self.train))
        return merged


def recipe_arguments() -> type:
    """A dataclass for `HfArgumentParser`: `recipe`, and every registered recipe's options, unset (None) by default.

    An option shared by several recipes is one flag; its help names the recipes and their defaults.
    """
    owners: dict[str, list[tuple[str, RecipeOption]]] = {}
    for name, recipe_class in RECIPES.items():
        for option in recipe_class.options():
            owners.setdefault(option.name, []).append((name, option))
    taken = {f.name for cls in ARGUMENT_CLASSES for f in dataclasses.fields(cls)} | {"recipe", "config"}
    fields: list[tuple[str, Any, Any]] = [
        ("recipe", str, field(default="self-teaching", metadata={"help": f"one of: {', '.join(RECIPES)}"}))
    ]
    for option_name, declared in owners.items():
        if option_name in taken:
            raise TypeError(
                f"Option {option_name!r} of recipe {declared[0][0]!r} has the name of a training setting; rename it."
            )
        types = {(name, _flag_type(option)) for name, option in declared}
        if len({flag_type for _, flag_type in types}) > 1:
            raise TypeError(f"Recipes declare option {option_name!r} with different types: {sorted(map(str, types))}.")
        descriptions: dict[str, list[str]] = {}
        for name, option in declared:
            descriptions.setdefault(option.help.rstrip("."), []).append(name)
        text = "; ".join(f"[{', '.join(names)}] {description}".rstrip() for description, names in descriptions.items())
        defaults = {repr(_plain(option.default)) for _, option in declared}
        if len(defaults) == 1:
            text += f" (recipe default {defaults.pop()})"
        else:
            text += " (recipe defaults: " + ", ".join(f"{n} {_plain(o.default)!r}" for n, o in declared) + ")"
        text = text.replace("%", "%%")
        fields.append((option_name, _flag_type(declared[0][1]) | None, field(default=None, metadata={"help": text})))
    arguments = dataclasses.make_dataclass("RecipeArguments", fields)
    arguments._argument_group_name = "recipe and its options (unset: the recipe's default)"
    return arguments


def _flag_type(option: RecipeOption) -> Any:
    """The command-line type of a recipe option: its annotation without `None`, sequences as lists."""
    annotation = option.type
    arguments = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
    if type(None) in getattr(annotation, "__args__", ()) and len(arguments) == 1:
        annotation = arguments[0]
    origin = getattr(annotation, "__origin__", None)
    if origin is not None and isinstance(origin, type) and issubclass(origin, Sequence) and origin is not str:
        return list[annotation.__args__[0]]
    if annotation in (bool, int, float, str) or origin is Literal:
        return annotation
    raise TypeError(
        f"Option {option.name!r} has type {option.type}, which the command line cannot express; annotate it with "
        "bool, int, float, str, a Literal, a sequence of one of them, or one of these | None."
    )


def _plain(value: Any) -> Any:
    """A YAML-safe copy: tuples (sequence defaults) become lists."""
    return [_plain(item) for item in value] if isinstance(value, (list, tuple)) else value


def find_default_config() -> Path | None:
    """The packaged default config (`leae_hub/configs/shapes-quick.yaml`), or None if the installation lacks it."""
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def build_parser(prog: str | None = None) -> HfArgumentParser:
    """The command-line parser: one group each for the model, the data, the recipe options and the training."""
    return HfArgumentParser(
        (ModelArguments, DataArguments, recipe_arguments(), TrainArguments),
        prog=prog,
        description=(
            "Train a leae model. --config FILE reads these settings from a YAML file (default: the packaged "
            f"{DEFAULT_CONFIG.name}); flags override it. Every recipe option is also a flag."
        ),
        formatter_class=_HelpFormatter,
    )


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a setting's default, except `None` (unset: the help says what happens then)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def parse_config(argv: list[str] | None = None, prog: str | None = None) -> RunConfig:
    """YAML `--config` (default: shapes-quick.yaml) overlaid with command-line overrides; unknown keys are errors."""
    argv = _attach_negative_numbers(list(sys.argv[1:] if argv is None else argv))
    config_path = _pop_config_path(argv)
    wants_help = "-h" in argv or "--help" in argv
    if config_path is None:
        config_path = find_default_config()
        if config_path is None and not wants_help:
            raise FileNotFoundError(
                f"No --config given and the packaged default {DEFAULT_CONFIG} is missing (a broken install: "
                "reinstall leae-hub). Pass --config FILE, e.g. one from "
                "https://github.com/leae-hub/leae-hub/tree/main/training/configs."
            )
    values = read_config_file(config_path) if config_path is not None else {}
    parser = build_parser(prog)
    known = {action.dest for action in parser._actions} - {"help"}
    for key in values or {}:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"Unknown key {key!r} in {config_path}.{hint}")
    check_config_types(values or {}, parser, config_path)
    parser.set_defaults(**(values or {}))
    model, data, recipe, train = parser.parse_args_into_dataclasses(args=argv)
    options = {k: v for k, v in dataclasses.asdict(recipe).items() if k != "recipe" and v is not None}
    config = RunConfig(model, data, recipe.recipe, options, train)
    validate(config)
    return config


def check_config_types(values: dict[str, Any], parser: HfArgumentParser, path: Path | None) -> None:
    """Refuse a YAML value of the wrong type before it is used: argparse applies no type to file values, so
    `max_steps: true` would train one step and `data: null` fail deep inside. Raises a `ValueError` naming the key,
    the value and what fits."""
    hints: dict[str, Any] = {}
    for dataclass_type in parser.dataclass_types:
        hints.update(typing.get_type_hints(dataclass_type))
    for key, value in values.items():
        hint = hints.get(key)
        if hint is not None and not _fits(value, hint):
            raise ValueError(
                f"{key} in {path} must be {_describe(hint)}, got {value!r} "
                f"({'null' if value is None else type(value).__name__})."
            )


def _fits(value: Any, hint: Any) -> bool:
    """Whether a YAML value fits a setting's annotation (bool is not a number here; an int is a float)."""
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, argument) for argument in arguments)
    if origin is Literal:
        return value in arguments
    if origin in (list, tuple, Sequence):
        return isinstance(value, list) and all(_fits(item, arguments[0]) for item in value if arguments)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True


def _describe(hint: Any) -> str:
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(argument) for argument in arguments)
    if origin is Literal:
        return "one of " + ", ".join(map(repr, arguments))
    if origin in (list, tuple, Sequence):
        return f"a list of {_describe(arguments[0])}s" if arguments else "a list"
    names = {type(None): "null", bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
    return names.get(hint, str(hint))


_NUMBER = re.compile(r"-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|-inf|-nan", re.IGNORECASE)


def _attach_negative_numbers(argv: list[str]) -> list[str]:
    """`--flag -1e-3` → `--flag=-1e-3`: argparse takes "-1e-3" for an option, so the value would be missing; this way
    it reaches `validate`, which names the value and the fix."""
    joined: list[str] = []
    for argument in argv:
        if joined and joined[-1].startswith("--") and "=" not in joined[-1] and _NUMBER.fullmatch(argument):
            joined[-1] = f"{joined[-1]}={argument}"
        else:
            joined.append(argument)
    return joined


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings of a YAML `--config` file; a missing file names the configs that exist, bad YAML its line."""
    if not path.is_file():
        folders = [path.parent] if path.parent.is_dir() else []
        default = find_default_config()
        folders += [default.parent] if default is not None and default.parent not in folders else []
        found = sorted(str(f) for folder in folders for f in folder.glob("*.yaml"))
        listing = f" Configs that exist: {', '.join(found)}." if found else ""
        raise FileNotFoundError(f"--config {path}: no such file.{listing}")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ValueError(f"--config {path} is not valid YAML: {' '.join(str(error).split())}") from error
    if values is not None and not isinstance(values, dict):
        raise ValueError(f"--config {path} must hold `setting: value` lines, got a {type(values).__name__}")
    return values or {}


def _pop_config_path(argv: list[str]) -> Path | None:
    """Remove `--config FILE` (or `--config=FILE`) from `argv` and return the path."""
    for index, argument in enumerate(argv):
        if argument.startswith("--config="):
            del argv[index]
            return Path(argument.split("=", 1)[1])
        if argument == "--config":
            if index + 1 == len(argv):
                raise ValueError("--config needs a YAML file, e.g. --config training/configs/shapes-quick.yaml.")
            path = Path(argv[index + 1])
            del argv[index : index + 2]
            return path
    return None


# Settings that count something: each must be a whole number of at least 1.
POSITIVE_SETTINGS = (
    *("batch_size", "gradient_accumulation_steps", "log_every", "sample_every", "eval_every"),
    *("checkpoint_every", "keep_checkpoints", "eval_images"),
)


def validate(config: RunConfig) -> None:
    """Refuse settings that do not fit, naming the value and the fix, before any data is loaded or file written."""
    if config.model.preset not in PRESETS:
        raise ValueError(f"Unknown preset {config.model.preset!r}. Valid presets: {', '.join(PRESETS)}.")
    check_options(config.recipe, config.recipe_options)
    _check_recipe_counts(config.recipe, config.recipe_options)
    build_recipe(config.recipe, **config.recipe_options)  # the recipe checks its option values
    train = config.train
    if not str(train.output_dir).strip():
        raise ValueError("output_dir is empty: name the run's folder, e.g. --output_dir runs/my-run.")
    if train.push_to_hub:
        try:
            validate_repo_id(train.push_to_hub)
        except HFValidationError as error:
            raise ValueError(
                f"push_to_hub {train.push_to_hub!r} is not a Hub repo id ({error}); "
                "e.g. --push_to_hub your-name/leae-faces."
            ) from None
    if train.max_steps is None and train.num_epochs is None:
        raise ValueError("Set max_steps or num_epochs (max_steps wins when both are set, as in transformers).")
    if train.max_steps is not None and train.max_steps < 1:
        raise ValueError(f"max_steps must be at least 1, got {train.max_steps}; or leave it unset and set num_epochs.")
    if train.max_steps is None and not (math.isfinite(train.num_epochs) and train.num_epochs > 0):
        raise ValueError(f"num_epochs must be a positive number, got {train.num_epochs}; e.g. --num_epochs 1.")
    settings = {**dataclasses.asdict(train), **dataclasses.asdict(config.data)}
    for name in POSITIVE_SETTINGS:
        if settings[name] < 1:
            raise ValueError(f"{name} must be at least 1, got {settings[name]}; e.g. --{name} 1.")
    if not (math.isfinite(train.learning_rate) and train.learning_rate > 0):
        raise ValueError(
            f"learning_rate must be a positive number, got {train.learning_rate}; e.g. --learning_rate 1e-3."
        )
    if not (math.isfinite(train.weight_decay) and train.weight_decay >= 0):
        raise ValueError(f"weight_decay must be 0 or more, got {train.weight_decay}; e.g. --weight_decay 0.01.")
    if train.max_grad_norm is not None and not (math.isfinite(train.max_grad_norm) and train.max_grad_norm >= 0):
        raise ValueError(f"max_grad_norm must be 0 (no clipping) or more, got {train.max_grad_norm}; e.g. 1.0.")
    for name, value in (("warmup_steps", train.warmup_steps), ("num_workers", config.data.num_workers)):
        if value < 0:
            raise ValueError(f"{name} must be 0 or more, got {value}.")
    if not config.model.init_from:  # the architecture's own checks (sizes, types), without building weights
        overrides = {k: v for k, v in dataclasses.asdict(config.model).items() if k not in ("preset", "init_from")}
        model_config = LeaeConfig.from_preset(
            config.model.preset, **{k: v for k, v in overrides.items() if v is not None}
        )
        crop_size = config.recipe_options.get("crop_size")
        if model_config.latent_type == "pooled" and crop_size not in (None, model_config.image_size):
            raise ValueError(
                f"crop_size {crop_size} does not fit a pooled latent: its linear layer takes "
                f"{model_config.image_size}-px images only, so the judge's crops must be resized back to "
                f"{model_config.image_size} px; leave --crop_size unset (or set it to {model_config.image_size})."
            )
    available = sorted(str(tracker) for tracker in get_available_trackers())
    if config.train.report_to and config.train.report_to not in available:
        raise ValueError(
            f"report_to {config.train.report_to!r} is not installed (installed trackers: "
            f"{', '.join(available) or 'none'}). For TensorBoard: pip install 'leae-hub[tracking]'."
        )


def card_repo_id(config: RunConfig) -> str:
    """The repo id a run's card is written for: `push_to_hub`, else `org/leae-<the output folder's name>` made safe
    for the Hub (`hub.repo_name`), so that any folder name gives a card."""
    if config.train.push_to_hub:
        return config.train.push_to_hub
    return f"org/leae-{repo_name(Path(config.train.output_dir).resolve().name, fallback='run')}"


def _check_recipe_counts(recipe: str, options: dict[str, Any]) -> None:
    """Whole-number recipe options are counts (crops, slices, hidden units, steps): never negative, and at least 1
    unless the recipe's default is 0 (e.g. `decoder_probe_steps`, where 0 means "no such stage")."""
    for option in RECIPES[recipe].options():
        value = options.get(option.name)
        if _flag_type(option) is not int or value is None:
            continue
        lowest = 0 if option.default == 0 else 1
        if value < lowest:
            raise ValueError(
                f"{option.name} must be at least {lowest}, got {value}; e.g. --{option.name} "
                f"{option.default if option.default is not None else lowest} (the recipe's default)."
            )


def check_data_size(size: int, batch_size: int, processes: int, split: str) -> None:
    """Every step takes a full batch per process (`drop_last`): refuse data that cannot fill one, instead of looping
    over empty epochs."""
    if size < batch_size * processes:
        per_process = size // processes
        fix = f"lower --batch_size to {per_process} or less" if per_process else "use more images"
        raise ValueError(
            f"The {split!r} split has {size} image(s), fewer than one batch (batch_size {batch_size} x {processes} "
            f"process(es)); batches are full (drop_last), so no step could run: {fix}."
        )


def build_model(config: RunConfig, in_channels: int) -> LeaeModel:
    """The model to train: `init_from` when set, else the preset with the overrides that were given."""
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


def _checkpoints(directory: Path) -> list[Path]:
    found = [p for p in directory.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def save_checkpoint(accelerator: Accelerator, output_dir: Path, step: int, keep: int, recipe: Recipe) -> None:
    """`save_state` on every rank into a temporary folder, then an atomic rename: a crash never leaves a torn one.

    The recipe's state (EMA judges and targets, predictors) goes to `recipe_state.safetensors`, not to a pickle, and
    `trainer_state.json` lists every file's size and SHA-256, so a resumption can tell a complete checkpoint from a
    truncated or damaged one (`checkpoint_problem`).
    """
    checkpoints = output_dir / "checkpoints"
    tmp = checkpoints / f"tmp-checkpoint-{step}"
    try:
        _write_checkpoint(accelerator, checkpoints, step, keep, recipe)
    except Exception as error:  # torch, safetensors and accelerate each report a failed write in their own type
        if not _is_write_failure(error):
            raise
        shutil.rmtree(tmp, ignore_errors=True)
        previous = _checkpoints(checkpoints)
        intact = f"{previous[-1].name} is intact" if previous else "no earlier checkpoint was kept"
        raise OSError(
            f"Writing checkpoint-{step} into {checkpoints} failed: the disk is full or a file-size limit (ulimit -f) "
            f"was hit ({' '.join(str(error).split())[:200]}). Free space or raise the limit, then run the same command "
            f"with --resume_from_checkpoint latest ({intact})."
        ) from error


_WRITE_FAILURES = (
    "No space left on device",
    "File too large",
    "Disk quota exceeded",
    "unexpected pos",
    "file write failed",
)


def _is_write_failure(error: BaseException) -> bool:
    """A failed write for lack of space or a file-size limit: errno ENOSPC, EFBIG or EDQUOT, the same reported in
    words (safetensors' "File too large (os error 27)"), or torch's zip writer reporting a short write ("unexpected
    pos", "file write failed")."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return True
    text = str(error)
    if any(words in text for words in _WRITE_FAILURES):
        return True
    return error.__cause__ is not None and _is_write_failure(error.__cause__)


def _write_checkpoint(accelerator: Accelerator, checkpoints: Path, step: int, keep: int, recipe: Recipe) -> None:
    final = checkpoints / f"checkpoint-{step}"
    tmp = checkpoints / f"tmp-checkpoint-{step}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        state = {name: tensor.detach().cpu().contiguous().clone() for name, tensor in recipe.state_dict().items()}
        save_file(state, tmp / RECIPE_STATE)
        files = {path.name: _fingerprint(path) for path in sorted(tmp.iterdir()) if path.is_file()}
        state = {"step": step, "files": files}
        (tmp / TRAINER_STATE).write_text(json.dumps({**state, "sha256": _state_digest(state)}))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in _checkpoints(checkpoints)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def _state_digest(state: dict[str, Any]) -> str:
    """SHA-256 of a trainer state's `step` and `files` (canonical JSON): the state file's own integrity check."""
    canonical = json.dumps({"step": state["step"], "files": state["files"]}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _fingerprint(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": sha256_of_files([path])}


def checkpoint_problem(checkpoint: Path, max_steps: int | None = None) -> str | None:
    """Why `checkpoint` cannot be resumed from, or None when it is complete: a missing, truncated or changed file,
    a `trainer_state.json` changed since it was written (its own SHA-256), or a step that is not a positive whole
    number, differs from the folder's `checkpoint-<step>`, or lies beyond the run's `max_steps`.

    Checkpoints written before `trainer_state.json` listed its files are checked for their main files only, and
    those written before it held its own SHA-256 for their files only.
    """
    try:
        state = json.loads((checkpoint / TRAINER_STATE).read_text())
        step = state["step"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"no readable {TRAINER_STATE} ({error})"
    if not isinstance(step, int) or isinstance(step, bool) or step < 1:
        return f"its {TRAINER_STATE} says step {step!r}, not a positive whole number"
    suffix = checkpoint.name.rsplit("-", 1)[-1]
    if checkpoint.name.startswith("checkpoint-") and suffix.isdigit() and int(suffix) != step:
        return f"its {TRAINER_STATE} says step {step}, its folder name step {suffix}"
    if max_steps is not None and step > max_steps:
        return f"it is at step {step}, beyond this run's {max_steps} steps"
    if "sha256" in state and state["sha256"] != _state_digest(state):
        return f"{TRAINER_STATE} changed since it was written (its SHA-256 differs)"
    files = state.get("files")
    if files is None:
        missing = [name for name in LEGACY_CHECKPOINT_FILES if not (checkpoint / name).exists()]
        return f"missing {', '.join(missing)}" if missing else None
    for name, expected in files.items():
        path = checkpoint / name
        if not path.is_file():
            return f"missing {name}"
        if path.stat().st_size != expected["bytes"]:
            return f"{name} has {path.stat().st_size} bytes, {expected['bytes']} were written (truncated?)"
        if _fingerprint(path)["sha256"] != expected["sha256"]:
            return f"{name} changed since it was written (SHA-256 differs)"
    return None


def resolve_resume(output_dir: Path, resume: str | None) -> list[Path]:
    """The checkpoints to try, in order: none; for 'latest' every checkpoint in `output_dir`, newest first (a
    damaged newest one falls back to the one before); or the one given, which must hold `trainer_state.json`."""
    if resume is None:
        return []
    if resume == "latest":
        found = _checkpoints(output_dir / "checkpoints")
        if not found:
            logger.warning(
                "--resume_from_checkpoint latest: no checkpoint in %s, so this run starts fresh at step 0",
                output_dir / "checkpoints",
            )
        return found[::-1]
    path = Path(resume)
    if not (path / TRAINER_STATE).exists():
        raise FileNotFoundError(
            f"{path} is not a complete checkpoint (no {TRAINER_STATE}); pass a checkpoints/checkpoint-<step> folder "
            "or 'latest'."
        )
    return [path]


def load_checkpoint(
    accelerator: Accelerator,
    model: LeaeModel,
    recipe: Recipe,
    candidates: list[Path],
    explicit: bool,
    max_steps: int | None = None,
) -> tuple[Path, int]:
    """Load the first of `candidates` that is complete (`checkpoint_problem`), loads, and holds finite weights;
    warn about each one skipped. Nothing is unpickled: Accelerate reads the optimiser, scheduler and RNG states with
    `weights_only=True`, and the recipe's state comes from safetensors (older checkpoints: its
    `custom_checkpoint_0.pkl`, read with `weights_only=True`). Returns the checkpoint and its step."""
    problems = []
    for checkpoint in candidates:
        problem = checkpoint_problem(checkpoint, max_steps)
        if problem is None:
            try:
                _load_accelerator_state(accelerator, checkpoint)
                _load_recipe_state(recipe, checkpoint)
            except (OSError, RuntimeError, ValueError, KeyError, EOFError, pickle.UnpicklingError) as error:
                problem = f"it does not load ({type(error).__name__}: {' '.join(str(error).split())[:300]})"
        if problem is None:
            bad = next((name for name, p in model.named_parameters() if not torch.isfinite(p).all()), None)
            bad = bad or next((name for name, t in recipe.state_dict().items() if not torch.isfinite(t).all()), None)
            problem = f"its weight {bad} holds NaN or inf" if bad else None
        if problem is None:
            return checkpoint, int(json.loads((checkpoint / TRAINER_STATE).read_text())["step"])
        if explicit:
            raise ValueError(f"Cannot resume from {checkpoint}: {problem}. Pass another checkpoint or 'latest'.")
        problems.append(f"{checkpoint.name} ({problem})")
        if accelerator.is_main_process:
            logger.warning("skipping checkpoint %s: %s; trying the one before", checkpoint, problem)
    raise ValueError(
        f"No usable checkpoint in {candidates[0].parent}: {'; '.join(problems)}. Remove them to start fresh, or "
        "pass --overwrite without --resume_from_checkpoint."
    )


def _load_accelerator_state(accelerator: Accelerator, checkpoint: Path) -> None:
    """`accelerator.load_state` on a view of `checkpoint` (links in a temporary folder) without its pickles of custom
    objects: Accelerate would unpickle any `custom_checkpoint_<i>.pkl` it finds with `weights_only=False`, or refuse
    the folder when their number differs from the objects registered (here none: the recipe state is ours)."""
    with tempfile.TemporaryDirectory(prefix="leae-resume-") as view:
        for path in checkpoint.iterdir():
            if not re.fullmatch(r"custom_checkpoint_\d+\.pkl", path.name):
                os.symlink(path.resolve(), Path(view) / path.name)
        accelerator.load_state(view)


def _load_recipe_state(recipe: Recipe, checkpoint: Path) -> None:
    if (checkpoint / RECIPE_STATE).exists():
        state = load_file(checkpoint / RECIPE_STATE)
    elif (checkpoint / LEGACY_RECIPE_STATE).exists():  # checkpoints written by accelerate's register_for_checkpointing
        state = torch.load(checkpoint / LEGACY_RECIPE_STATE, map_location="cpu", weights_only=True)
    else:
        raise FileNotFoundError(f"missing {RECIPE_STATE}")
    recipe.load_state_dict(state)


def check_output_dir(config: RunConfig, output_dir: Path, resuming: bool = False) -> None:
    """Refuse to mix two different runs in one folder (a fresh start or a resumption with other settings), unless
    `--overwrite` is given. Reads only: the folder changes in `prepare_output_dir`, once the data has been checked.

    A folder whose run saved nothing (no checkpoint, no model: it failed at start-up) does not refuse a new command.
    The run's folder itself (`output_dir`, and paths below it) is not part of the comparison: a moved run resumes.
    """
    saved = output_dir / "train_config.yaml"
    if config.train.overwrite or not saved.exists() or not _holds_work(output_dir):
        return
    ignored = RUN_INDEPENDENT_FIELDS | (RESUMABLE_FIELDS if resuming else set())
    current = _comparable(config.to_dict(), ignored)
    previous = _comparable(yaml.safe_load(saved.read_text()) or {}, ignored)
    changed = sorted(k for k in current.keys() | previous.keys() if current.get(k) != previous.get(k))
    if changed:
        raise ValueError(
            f"{output_dir} holds a run with a different config (differs in: {', '.join(changed)}). "
            "Pass --overwrite to replace it (or, when resuming, to go on with the new settings), "
            "or choose another --output_dir."
        )


def _holds_work(output_dir: Path) -> bool:
    return bool(_checkpoints(output_dir / "checkpoints")) or (output_dir / "model" / "config.json").exists()


def prepare_output_dir(config: RunConfig, output_dir: Path, step: int, keep: frozenset[str] = frozenset()) -> None:
    """Make `output_dir` the new run's folder (main process, once the config and the data have been checked).

    A fresh start (`step` 0) in a folder that holds a run's work moves that run aside as a whole, to
    `<output_dir>.old-<UTC time>` (the folders named in `keep`, earlier stages of this same run, stay). Then
    `train_config.yaml` is written atomically and `metrics.jsonl` is cut back to the rows up to `step`, so a resumed
    run never holds two rows for one step.
    """
    if step == 0 and _holds_work(output_dir):
        aside = _aside_name(output_dir)
        os.replace(output_dir, aside)
        output_dir.mkdir(parents=True)
        for name in keep:
            if (aside / name).exists():
                os.replace(aside / name, output_dir / name)
        logger.warning("%s held an earlier run: moved it to %s", output_dir, aside)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(output_dir / "train_config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
    metrics = output_dir / "metrics.jsonl"
    if metrics.exists():
        rows = [line for line in metrics.read_text().splitlines(keepends=True) if _row_step(line) <= step]
        write_atomically(metrics, "".join(rows))


def _aside_name(output_dir: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    aside = output_dir.with_name(f"{output_dir.name}.old-{stamp}")
    number = 1
    while aside.exists():
        number += 1
        aside = output_dir.with_name(f"{output_dir.name}.old-{stamp}-{number}")
    return aside


def _row_step(line: str) -> float:
    """The step of a `metrics.jsonl` row; a torn last line (a crash while writing) counts as past every step."""
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return math.inf


def _comparable(values: dict[str, Any], ignored: set[str]) -> dict[str, Any]:
    """A run's settings as two runs are compared: without `ignored`, the recipe's unset options as its defaults,
    without other recipes' options (older `train_config.yaml` files list every recipe's options, unset as null), and
    with paths inside the run's own folder (a later stage's `init_from`) relative to it."""
    recipe_class = RECIPES.get(values.get("recipe"))
    own = {o.name: _plain(o.default) for o in recipe_class.options()} if recipe_class else {}
    others = {o.name for cls in RECIPES.values() for o in cls.options()} - own.keys()
    comparable = {k: v for k, v in values.items() if k not in ignored and k not in others}
    for name, default in own.items():
        if comparable.get(name) is None:
            comparable[name] = default
    run_folder = Path(str(values.get("output_dir")))
    init_from = comparable.get("init_from")
    if init_from and Path(init_from).is_relative_to(run_folder):
        comparable["init_from"] = Path(init_from).relative_to(run_folder).as_posix()
    return comparable


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
    model: LeaeModel, images: torch.Tensor, batch_size: int = 128, hole_ratio: float = 0.25
) -> dict[str, float]:
    """Mean PSNR of the reconstructions and of the per-image-mean baseline (each image replaced by its mean colour),
    and inside a centred square hole of `hole_ratio` of the area: `model.inpaint`'s fill (`hole_psnr`) against the
    visible pixels' mean colour (`hole_baseline_psnr`), the floor any inpainter must beat."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    sums: dict[str, list[torch.Tensor]] = {"psnr": [], "baseline_psnr": [], "hole_psnr": [], "hole_baseline_psnr": []}
    for start in range(0, images.shape[0], batch_size):
        x = images[start : start + batch_size].to(device)
        reconstruction = model.decoder(model.encoder(x)).float()
        mean = x.mean(dim=(2, 3), keepdim=True).expand_as(x)
        mask = centred_hole_mask(x.shape[0], x.shape[2], x.shape[3], hole_ratio).to(device, x.dtype)
        sums["psnr"].append(psnr(reconstruction, x))
        sums["baseline_psnr"].append(psnr(mean, x))
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


@contextlib.contextmanager
def run_lock(output_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the run folder `output_dir` while a run trains in it, so that a second run started in
    the same folder fails at once, naming the first, instead of both writing into it.

    The lock is `flock` on a hidden file beside the folder (`.<name>.lock`: the folder itself may be moved aside by
    `prepare_output_dir`), taken by the main process only (`RANK` 0). The kernel drops it when the process ends, so a
    killed run never blocks its own resumption. Where `fcntl` does not exist (Windows) there is no lock.
    """
    if fcntl is None or int(os.environ.get("RANK", "0")) != 0:
        yield
        return
    folder = output_dir.resolve()
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RuntimeError(
                f"{output_dir} is in use by another run ({holder}): wait for it to end, or choose another --output_dir."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
    """Train one stage into `config.train.output_dir` (`keep`: its subfolders that earlier stages of this run wrote)."""
    args = config.train
    output_dir = Path(args.output_dir)
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
    set_seed(args.seed)
    if args.push_to_hub:
        resolve_token()  # a missing token fails now, not after the training
    candidates = resolve_resume(output_dir, args.resume_from_checkpoint)
    check_output_dir(config, output_dir, resuming=bool(candidates))  # reads only; the folder changes after the data

    # Data: the channel count comes from the source (3 for colour, 1 for MNIST) unless the model fixes it.
    image_size = config.model.image_size or LeaeConfig.from_preset(config.model.preset).image_size
    if config.model.init_from:
        init_config = LeaeConfig.from_pretrained(config.model.init_from)
        image_size, channels = init_config.image_size, init_config.in_channels
    else:
        channels = None
    dataset = build_dataset(config.data.data, config.data.train_split, image_size, channels, seed=args.seed)
    check_data_size(len(dataset), args.batch_size, accelerator.num_processes, config.data.train_split)
    in_channels = channels or int(first_readable(dataset)["pixel_values"].shape[0])
    eval_source = build_dataset(
        config.data.eval_data or config.data.data, config.data.eval_split, image_size, in_channels, seed=args.seed
    )
    eval_count = min(config.data.eval_images, len(eval_source))
    eval_items = readable_items(eval_source, range(eval_count))
    if not eval_items:
        raise ValueError(
            f"None of the first {eval_count} {config.data.eval_split!r} images is readable; check the data."
        )
    eval_images = torch.stack([item["pixel_values"] for item in eval_items])
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
    trainable = list(recipe.trainable_parameters(model))  # may create recipe parts (the JEPA predictor)
    trainable_ids = {id(p) for p in trainable}
    for parameter in model.parameters():
        parameter.requires_grad_(id(parameter) in trainable_ids)
    recipe.to(accelerator.device)
    step_module = TrainStep(model, recipe)
    if args.compile:
        step_module.compile()  # in place: the same parameters and state-dict keys
    optimizer = torch.optim.AdamW(trainable, lr=args.learning_rate, weight_decay=args.weight_decay)
    # A scheduler prepared by Accelerate steps once per process per optimiser step.
    scheduler = get_scheduler(
        "cosine" if args.lr_schedule == "cosine" else "constant_with_warmup",
        optimizer,
        num_warmup_steps=args.warmup_steps * accelerator.num_processes,
        num_training_steps=max_steps * accelerator.num_processes,
    )
    step_module, optimizer, loader, scheduler = accelerator.prepare(step_module, optimizer, loader, scheduler)
    core = accelerator.unwrap_model(step_module).model

    step = 0
    if candidates:
        explicit = args.resume_from_checkpoint != "latest"
        resumed, step = load_checkpoint(accelerator, core, recipe, candidates, explicit, max_steps)
        if accelerator.is_main_process:
            logger.info("resumed from %s at step %d", resumed, step)
    if accelerator.is_main_process:
        prepare_output_dir(config, output_dir, step, keep)
    accelerator.wait_for_everyone()
    if args.report_to:
        accelerator.init_trackers("leae", config=_flat_scalars(config.to_dict()))

    metrics_path = output_dir / "metrics.jsonl"
    progress = tqdm(total=max_steps, initial=step, desc=config.recipe, disable=not accelerator.is_main_process)
    last_time, images_since = time.perf_counter(), 0
    empty_batches = 0
    last_saved = step
    start_time = time.perf_counter()
    # A resumed run re-enters its epoch where the step says; an epoch with batches skipped as unreadable ends early,
    # and the next one starts afresh (its own shuffle).
    epoch, skip = step // steps_per_epoch, (step % steps_per_epoch) * args.gradient_accumulation_steps
    while step < max_steps:
        loader.set_epoch(epoch)
        epoch_loader = accelerator.skip_first_batches(loader, skip) if skip else loader
        micro, used = skip, 0
        for batch in epoch_loader:
            if _unreadable_batch(batch, accelerator):
                empty_batches += 1
                continue
            used += 1
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
                grid = training_grid(out.images)
                save_sample_grid(grid, output_dir / "samples" / f"step-{step:06d}.png")
                log_images(accelerator, {"samples": grid}, step)
            if step % args.eval_every == 0 and step != max_steps and accelerator.is_main_process:
                result = {f"eval_{k}": v for k, v in evaluate_psnr(core, eval_images).items()}
                with metrics_path.open("a") as handle:
                    handle.write(json.dumps({"step": step, **result}) + "\n")
                accelerator.log(result, step=step)
            if step % args.checkpoint_every == 0 and step != max_steps:
                save_checkpoint(accelerator, output_dir, step, args.keep_checkpoints, recipe)
                last_saved = step
            if step >= max_steps:
                break
        if used == 0:  # not one batch this epoch: without this check the loop would spin forever
            raise RuntimeError(
                f"Epoch {epoch} of {config.data.data!r} gave no batch (every image unreadable?); check the data."
            )
        epoch, skip = epoch + 1, 0
    progress.close()
    wall_time = time.perf_counter() - start_time
    skipped = getattr(dataset, "num_skipped", 0)
    if skipped:
        logger.warning(
            "skipped %d unreadable training image(s) (this process) and %d batch(es) with none readable; the log "
            "above names them",
            skipped,
            empty_batches,
        )
    if last_saved != step:
        save_checkpoint(accelerator, output_dir, step, args.keep_checkpoints, recipe)
    accelerator.wait_for_everyone()
    result: dict[str, Any] = {}
    if accelerator.is_main_process:
        result = finish(config, core, eval_images, output_dir, step, wall_time, precision)
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
    """Save the model (float32) and its processor, measure the held-out PSNR, write the card draft, maybe publish.
    `final_metrics.json` records `mixed_precision` as trained ("no", "bf16", "fp16": what `auto` chose)."""
    model_dir = output_dir / "model"
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    model = model.float()
    model.save_pretrained(model_dir)
    processor = LeaeImageProcessor(image_size=model.config.image_size, num_channels=model.config.in_channels)
    processor.save_pretrained(model_dir)
    result = evaluate_psnr(model, eval_images)
    result.update({"steps": steps, "train_wall_time_s": wall_time, "eval_images": int(eval_images.shape[0])})
    result["mixed_precision"] = mixed_precision
    (output_dir / "final_metrics.json").write_text(json.dumps(result, indent=2))
    write_card_draft(config, model, eval_images, model_dir, steps, wall_time)
    if config.train.push_to_hub:
        url = publish(model_dir, config.train.push_to_hub, private=config.train.hub_private)
        logger.info("published to %s", url)
    return result


def write_card_draft(
    config: RunConfig, model: LeaeModel, eval_images: torch.Tensor, model_dir: Path, steps: int, wall_time: float
) -> None:
    """A model card from a quick held-out evaluation (no representation metrics; run evaluate.py for the full set).

    The card's recipe section comes from the recipe class's `card`: for a recipe without one, only the evaluation
    (`eval.json`) and `samples.png` are written.
    """
    metrics = evaluate_model(
        model,
        [{"pixel_values": image} for image in eval_images],
        representation=False,
        data_spec=config.data.eval_data or config.data.data,
        split=config.data.eval_split,
    )
    metrics["model"]["weights_sha256"] = weights_sha256(model_dir)
    (model_dir / "eval.json").write_text(json.dumps(jsonable(metrics), indent=2, allow_nan=False))
    with torch.inference_mode():
        sample_grid(model, eval_images[:8]).save(model_dir / "samples.png")
    if RECIPES[config.recipe].card is None:
        logger.warning("no model card draft: recipe %r has no `card` text (leae_hub.recipes.RecipeCard)", config.recipe)
        return
    run_config = Path(config.train.output_dir) / "train_config.yaml"
    training = {
        "command": f"accelerate launch training/train.py --config {run_config}",
        "config": run_config.read_text(),
        "steps": steps,
        "images_seen": steps
        * config.train.batch_size
        * config.train.gradient_accumulation_steps
        * int(os.environ.get("WORLD_SIZE", "1")),
        "wall_time_s": round(wall_time, 1),
        "seed": config.train.seed,
    }
    card = render_card(
        model_dir,
        repo_id=card_repo_id(config),
        recipe=config.recipe,
        datasets=[config.data.data],
        metrics=metrics,
        training=training,
        sample_grid="samples.png",
    )
    write_card(model_dir, card)


def _flat_scalars(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in values.items()}


def summary_line(result: dict[str, float], model_dir: Path) -> str:
    """The one-line result of a run: held-out PSNR against the per-image-mean baseline, steps, time, where."""
    return (
        f"held-out PSNR {result['psnr']:.2f} dB vs per-image-mean baseline {result['baseline_psnr']:.2f} dB "
        f"({result['psnr'] - result['baseline_psnr']:+.2f} dB) on {result['eval_images']} images; "
        f"{result['steps']} steps in {result['train_wall_time_s']:.0f} s. Model saved to {model_dir}"
    )


REPORT_GRACE_S = 30.0  # how long a process other than the first waits for the first to report a bad setting


def _parse_config_reported_once(argv: list[str] | None = None, prog: str | None = None) -> RunConfig:
    """`parse_config`, where only the first process of a launch (RANK 0, or no launcher) reports a bad setting.

    Every process parses the same settings and fails alike. The others keep their message and wait: the first one
    names the error and exits, and the launcher then stops them, so the message is printed once. A process still alive
    after `REPORT_GRACE_S` (its settings failed where the first one's did not) prints its own and exits.
    """
    if int(os.environ.get("RANK", "0") or 0) == 0:
        return parse_config(argv, prog)
    message = io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(message):
            return parse_config(argv, prog)
    except (Exception, SystemExit) as error:
        if isinstance(error, SystemExit) and not error.code:  # --help: the first process prints it
            raise
        time.sleep(REPORT_GRACE_S)
        sys.stderr.write(message.getvalue())
        raise


def main(argv: list[str] | None = None, prog: str | None = None) -> dict[str, float]:
    """Parse the settings, train, and print the result line (on the main process) to stdout."""
    config = _parse_config_reported_once(argv, prog)
    result = train(config)
    if result:
        print(summary_line(result, Path(config.train.output_dir) / "model"))
    return result
