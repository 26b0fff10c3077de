"""The `leae` command: train, evaluate, write a model card, publish, and run the demo Space.

    leae train --config training/configs/cifar10-32-masked.yaml --max_steps 500
    leae evaluate --model runs/shapes-quick/model --data synthetic-shapes --json eval.json
    leae card --model runs/shapes-quick/model --metrics eval.json --recipe self-teaching --repo_id ORG/NAME
    leae publish --model runs/shapes-quick/model --repo_id ORG/NAME
    leae demo --model runs/shapes-quick/model

`leae COMMAND --help` lists each command's options. `train` is `training/train.py` (`leae_hub.trainer`), `evaluate`
is `training/evaluate.py`, `card` and `publish` are also `python -m leae_hub.hub card|publish`, and `demo` runs the
Space's app (`spaces/leae-demo/app.py` in a checkout, with its example faces; elsewhere the copy packaged as
`leae_hub/space/app.py`).

A command that fails prints one line, `leae COMMAND: error: <what and the fix>`, and exits with status 1; set
`LEAE_TRACEBACK=1` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .demo import demo_main, find_demo_app, parse_demo_args
from .evaluate import evaluate_main, parse_evaluate_args, summary_table
from .hub_commands import build_hub_parser, hub_main
from .running import COMMANDS, EXTRA_OF_MODULE, log_to_stderr, run_command
from .train import build_train_parser, parse_train_config, parse_train_config_reported_once, train_main

__all__ = [
    "COMMANDS",
    "EXTRA_OF_MODULE",
    "build_hub_parser",
    "build_parser",
    "build_train_parser",
    "demo_main",
    "evaluate_main",
    "find_demo_app",
    "hub_main",
    "log_to_stderr",
    "main",
    "parse_demo_args",
    "parse_evaluate_args",
    "parse_train_config",
    "parse_train_config_reported_once",
    "run_command",
    "summary_table",
    "train_main",
]


def build_parser() -> argparse.ArgumentParser:
    """`leae COMMAND ...`, for `leae --help` and for errors; each command parses its own arguments."""
    parser = argparse.ArgumentParser(
        prog="leae",
        description="Self-teaching autoencoders for the Hugging Face ecosystem. `leae COMMAND --help` for details.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        commands.add_parser(name, help=help_text, description=help_text)
    return parser


def _version() -> str:
    from .. import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Run `leae COMMAND ...` (`argv`: the arguments after `leae`; default: the command line)."""
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        build_parser().parse_args(argv)  # prints the help, or names the unknown command, and exits
    command, arguments = argv[0], argv[1:]
    log_to_stderr()
    if command == "train":
        if from_command_line and "OMP_WAIT_POLICY" not in os.environ:
            # Idle OpenMP threads must sleep, not spin, on a shared CPU (training/train.py, docs/performance.md); the
            # policy is read when torch loads (not yet, unless something imported it: then start again with it set).
            os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
            if "torch" in sys.modules:
                os.execv(sys.executable, [sys.executable, "-m", "leae_hub.cli", "train", *arguments])
        return run_command("leae train", lambda: train_main(arguments, prog="leae train"))
    if command == "evaluate":
        return run_command("leae evaluate", lambda: evaluate_main(arguments, prog="leae evaluate"))
    if command in ("card", "publish"):
        return run_command(f"leae {command}", lambda: hub_main([command, *arguments]))
    return demo_main(arguments)
