"""How every `leae` command runs: its log on stderr, and an error as one line that names the missing extra or
the bad value (no traceback unless `LEAE_TRACEBACK=1`)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

# The commands of `leae`, with the help line of each.
COMMANDS = {
    "train": "train a model with any recipe (training/train.py)",
    "evaluate": "measure a saved model on a data source and write the metrics as JSON (training/evaluate.py)",
    "card": "write a model card (README.md) for a saved model",
    "publish": "upload a saved model, its code and its card to the Hub in one commit",
    "demo": "run the Gradio demo Space (spaces/leae-demo/app.py) on a model",
}


def log_to_stderr(level: int = logging.INFO) -> None:
    """Show leae_hub's log messages on stderr, once (for command-line entry points; libraries leave logging alone)."""
    package = logging.getLogger("leae_hub")
    if not package.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        package.addHandler(handler)
    package.setLevel(level)


# The extra of pyproject.toml that installs each optional library (`pip install "leae-hub[EXTRA]"`).
EXTRA_OF_MODULE = {
    "accelerate": "train",
    "jinja2": "train",
    "timm": "timm",
    "datasets": "datasets",
    "pyarrow": "datasets",
    "tensorboard": "tracking",
    "gradio": "space",
    "matplotlib": "lab",
    "skimage": "lab",
}


def run_command(prog: str, command: Callable[[], object]) -> int:
    """Run `command`; on an error print one line naming it (no traceback unless `LEAE_TRACEBACK=1`) and return 1.

    The messages of leae-hub's own errors name the bad value and the fix; an exception of another kind is shown with
    its type.
    """
    try:
        result = command()
    except Exception as error:
        if os.environ.get("LEAE_TRACEBACK", "") not in ("", "0"):
            raise
        text = " ".join(str(error).split())
        missing = error.name.partition(".")[0] if isinstance(error, ModuleNotFoundError) and error.name else None
        if missing in EXTRA_OF_MODULE:
            extra = EXTRA_OF_MODULE[missing]
            print(f'{prog}: error: {missing} is not installed: pip install "leae-hub[{extra}]"', file=sys.stderr)
            return 1
        plain = isinstance(error, (ValueError, TypeError, OSError, RuntimeError)) and text
        print(f"{prog}: error: {text if plain else f'{type(error).__name__}: {text}'}", file=sys.stderr)
        return 1
    return result if isinstance(result, int) else 0
