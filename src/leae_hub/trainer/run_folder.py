"""The run folder: a fresh start in a folder that holds a run refuses other settings unless `--overwrite`, then moves
the old run aside whole (`<output_dir>.old-<UTC time>`); a resumed run cuts `metrics.jsonl` back to its step; a lock
keeps a second run out of the folder while the first trains.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

try:
    import fcntl
except ImportError:  # Windows: runs are not locked
    fcntl = None

from ..hub import write_atomically
from ..recipes import RECIPES
from .checkpoints import list_checkpoints
from .settings import RESUMABLE_FIELDS, RUN_INDEPENDENT_FIELDS, RunConfig, plain

logger = logging.getLogger(__name__)


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
    return bool(list_checkpoints(output_dir / "checkpoints")) or (output_dir / "model" / "config.json").exists()


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
    own = {o.name: plain(o.default) for o in recipe_class.options()} if recipe_class else {}
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
