"""`leae train` (and `training/train.py`): the parser of the trainer's settings dataclasses, `--config` YAML plus
flags, a bad setting reported once under a multi-process launch, then `leae_hub.trainer.train`."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: `leae --help` loads neither torch nor transformers
    from transformers import HfArgumentParser

    from ..trainer.settings import RunConfig


def build_train_parser(prog: str | None = None) -> HfArgumentParser:
    """The options of `leae train` / `training/train.py`: one group each for the model, the data, the recipe and its
    options, and the training (the dataclasses of `leae_hub.trainer.settings`)."""
    from transformers import HfArgumentParser

    from ..trainer.settings import DEFAULT_CONFIG, DataArguments, ModelArguments, TrainArguments, recipe_arguments

    return HfArgumentParser(
        (ModelArguments, DataArguments, recipe_arguments(), TrainArguments),
        prog=prog,
        description=(
            "Train a leae model. --config FILE reads these settings from a YAML file (default: the packaged "
            f"{DEFAULT_CONFIG.name}); flags override it. Every recipe option is also a flag."
        ),
        formatter_class=_TrainHelpFormatter,
    )


class _TrainHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a setting's default, except `None` (unset: the help says what happens then)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def parse_train_config(argv: Sequence[str] | None = None, prog: str | None = None) -> RunConfig:
    """The run `leae train` is asked for: the YAML `--config` (default: the packaged shapes-quick.yaml) overlaid with
    the flags, checked (`leae_hub.trainer.settings`: unknown keys, types and values are errors)."""
    from ..trainer import settings

    argv = _attach_negative_numbers(list(sys.argv[1:] if argv is None else argv))
    config_path = _pop_config_path(argv)
    config_path, values = settings.read_settings(config_path, required=not ("-h" in argv or "--help" in argv))
    parser = build_train_parser(prog)
    settings.check_config_file(values, parser.dataclass_types, config_path)
    parser.set_defaults(**values)
    config = settings.RunConfig.from_arguments(*parser.parse_args_into_dataclasses(args=argv))
    settings.validate(config)
    return config


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


REPORT_GRACE_S = 30.0  # how long a process other than the first waits for the first to report a bad setting


def parse_train_config_reported_once(argv: Sequence[str] | None = None, prog: str | None = None) -> RunConfig:
    """`parse_train_config`, where only the first process of a launch (RANK 0, or no launcher) reports a bad setting.

    Every process parses the same settings and fails alike. The others keep their message and wait: the first one
    names the error and exits, and the launcher then stops them, so the message is printed once. A process still alive
    after `REPORT_GRACE_S` (its settings failed where the first one's did not) prints its own and exits.
    """
    if int(os.environ.get("RANK", "0") or 0) == 0:
        return parse_train_config(argv, prog)
    message = io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(message):
            return parse_train_config(argv, prog)
    except (Exception, SystemExit) as error:
        if isinstance(error, SystemExit) and not error.code:  # --help: the first process prints it
            raise
        time.sleep(REPORT_GRACE_S)
        sys.stderr.write(message.getvalue())
        raise


def train_main(argv: Sequence[str] | None = None, prog: str | None = None) -> dict[str, float]:
    """`leae train` / `training/train.py`: parse the settings, train (`leae_hub.trainer.train`), and print the result
    line (on the main process) to stdout."""
    from ..trainer.loop import summary_line, train

    config = parse_train_config_reported_once(argv, prog)
    result = train(config)
    if result:
        print(summary_line(result, Path(config.train.output_dir) / "model"))
    return result
