"""A run's settings: the argument dataclasses (every recipe option is one too), the YAML `--config` file, the types and
values checked before anything is read or written, the model's architecture, and the repo id of the run's card. The
command line (`leae_hub.cli`: `leae train`, `training/train.py`) parses the flags into these dataclasses.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from accelerate.tracking import get_available_trackers
from huggingface_hub.utils import HFValidationError, validate_repo_id

from ..configuration_leae import PRESETS, LeaeConfig
from ..data import check_crop
from ..hub import repo_name
from ..recipes import RECIPES, RecipeOption, build_recipe, check_options

# The embedded default run, packaged (so `leae train` works from any folder); training/configs/ links to it.
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "shapes-quick.yaml"


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

    def model_config(self, channels: int | None = None) -> LeaeConfig:
        """The architecture these settings describe, resolved in this one place: the saved config of `init_from`
        (its image size and channels fixed), else the preset with the fields that were set and `channels` (those of
        the data; None: the preset's). Its image size is the data's; the data's channel count is the model's."""
        if self.init_from:
            return LeaeConfig.from_pretrained(self.init_from)
        fields = dataclasses.asdict(self)
        overrides = {k: v for k, v in fields.items() if k not in ("preset", "init_from") and v is not None}
        if channels is not None:
            overrides["in_channels"] = channels
        return LeaeConfig.from_preset(self.preset, **overrides)


@dataclass
class DataArguments:
    data: str = field(default="synthetic-shapes", metadata={"help": "data source spec (see leae_hub.data)"})
    train_split: str = "train"
    eval_data: str | None = field(default=None, metadata={"help": "held-out source; default: same as data"})
    eval_split: str = "test"
    eval_images: int = field(default=256, metadata={"help": "held-out images for the periodic evaluation"})
    num_workers: int = 0
    image_crop: list[float] | None = field(
        default=None,
        metadata={
            "help": "left top right bottom: the box of each training and held-out image kept before the resize, in "
            "fractions of its width and height (e.g. upstream's CelebA framing, CenterCrop(128) of 178x218 photos: "
            "0.140449 0.206422 0.859551 0.793578)"
        },
    )

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

    @classmethod
    def from_arguments(
        cls, model: ModelArguments, data: DataArguments, recipe: Any, train: TrainArguments
    ) -> RunConfig:
        """The run of the parsed argument dataclasses; `recipe`, a `recipe_arguments()` instance, names the recipe,
        and its options left unset (None) take the recipe's defaults."""
        options = {k: v for k, v in dataclasses.asdict(recipe).items() if k != "recipe" and v is not None}
        return cls(model, data, recipe.recipe, options, train)

    def to_dict(self) -> dict[str, Any]:
        """Every setting as plain YAML values; the recipe's options that were not set show its defaults."""
        options = {option.name: option.default for option in RECIPES[self.recipe].options()}
        options.update(self.recipe_options)
        merged = {**dataclasses.asdict(self.model), **dataclasses.asdict(self.data), "recipe": self.recipe}
        merged.update({name: plain(value) for name, value in options.items()})
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
        defaults = {repr(plain(option.default)) for _, option in declared}
        if len(defaults) == 1:
            text += f" (recipe default {defaults.pop()})"
        else:
            text += " (recipe defaults: " + ", ".join(f"{n} {plain(o.default)!r}" for n, o in declared) + ")"
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


def plain(value: Any) -> Any:
    """A YAML-safe copy: tuples (sequence defaults) become lists."""
    return [plain(item) for item in value] if isinstance(value, (list, tuple)) else value


def find_default_config() -> Path | None:
    """The packaged default config (`leae_hub/configs/shapes-quick.yaml`), or None if the installation lacks it."""
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def read_settings(path: Path | None, required: bool = True) -> tuple[Path | None, dict[str, Any]]:
    """The YAML `--config` file to read, `path` or else the packaged default, and its settings. A missing default is
    an error when the file is `required` (`--help` needs none: then no path and no settings)."""
    if path is None:
        path = find_default_config()
        if path is None:
            if required:
                raise FileNotFoundError(
                    f"No --config given and the packaged default {DEFAULT_CONFIG} is missing (a broken install: "
                    "reinstall leae-hub). Pass --config FILE, e.g. one from "
                    "https://github.com/leae-hub/leae-hub/tree/main/training/configs."
                )
            return None, {}
    return path, read_config_file(path)


def check_config_file(values: dict[str, Any], argument_classes: Sequence[type], path: Path | None) -> None:
    """Refuse a key of the YAML file that names no setting (with the closest one that does) or a value of the wrong
    type (`check_config_types`); `argument_classes`: the dataclasses of the settings, `recipe_arguments()` among
    them."""
    known = {f.name for cls in argument_classes for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"Unknown key {key!r} in {path}.{hint}")
    check_config_types(values, argument_classes, path)


def check_config_types(values: dict[str, Any], argument_classes: Sequence[type], path: Path | None) -> None:
    """Refuse a YAML value of the wrong type before it is used: argparse applies no type to file values, so
    `max_steps: true` would train one step and `data: null` fail deep inside. Raises a `ValueError` naming the key,
    the value and what fits."""
    hints: dict[str, Any] = {}
    for dataclass_type in argument_classes:
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
    try:
        check_crop(config.data.image_crop)
    except ValueError as error:
        raise ValueError(f"image_crop: {error}") from None
    for name, value in (("warmup_steps", train.warmup_steps), ("num_workers", config.data.num_workers)):
        if value < 0:
            raise ValueError(f"{name} must be 0 or more, got {value}.")
    if not config.model.init_from:  # the architecture's own checks (sizes, types), without building weights
        model_config = config.model.model_config()
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
