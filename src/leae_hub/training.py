"""Old import path of the trainer, kept for code that imports it: everything lives in `leae_hub.trainer` now, except
`main` and `parse_config`, which parse the command line: `leae_hub.cli`'s `train_main` and `parse_train_config`."""

from .cli import parse_train_config as parse_config
from .cli import train_main as main
from .trainer.checkpoints import (
    RECIPE_STATE,
    TRAINER_STATE,
    checkpoint_problem,
    load_checkpoint,
    resolve_resume,
    save_checkpoint,
)
from .trainer.loop import TrainStep, build_model, evaluate_psnr, train
from .trainer.run_folder import run_lock
from .trainer.settings import (
    DEFAULT_CONFIG,
    RESUMABLE_FIELDS,
    RUN_INDEPENDENT_FIELDS,
    DataArguments,
    ModelArguments,
    RunConfig,
    TrainArguments,
    card_repo_id,
    find_default_config,
    validate,
)

__all__ = [
    "DEFAULT_CONFIG",
    "RECIPE_STATE",
    "RESUMABLE_FIELDS",
    "RUN_INDEPENDENT_FIELDS",
    "TRAINER_STATE",
    "DataArguments",
    "ModelArguments",
    "RunConfig",
    "TrainArguments",
    "TrainStep",
    "build_model",
    "card_repo_id",
    "checkpoint_problem",
    "evaluate_psnr",
    "find_default_config",
    "load_checkpoint",
    "main",
    "parse_config",
    "resolve_resume",
    "run_lock",
    "save_checkpoint",
    "train",
    "validate",
]
