"""Checkpoints: written atomically (a temporary folder renamed into place, the last `keep_checkpoints` kept), with
`trainer_state.json` listing every file's size and SHA-256 and its own digest; `--resume_from_checkpoint latest` takes
the newest checkpoint that is complete, loads and holds finite weights. No pickle of ours: the recipe's state is
safetensors, and Accelerate's files are read with `weights_only=True`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import pickle
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from safetensors.torch import load_file, save_file

from ..hub import sha256_of_files
from ..modeling_leae import LeaeModel
from ..recipes import Recipe

logger = logging.getLogger(__name__)


TRAINER_STATE = "trainer_state.json"  # a checkpoint's step and its files' sizes and SHA-256
RECIPE_STATE = "recipe_state.safetensors"
LEGACY_RECIPE_STATE = "custom_checkpoint_0.pkl"  # older checkpoints: read with weights_only=True
LEGACY_CHECKPOINT_FILES = ("model.safetensors", "optimizer.bin", "scheduler.bin")  # before trainer_state listed them


def list_checkpoints(directory: Path) -> list[Path]:
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
        previous = list_checkpoints(checkpoints)
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
        files = {path.name: fingerprint(path) for path in sorted(tmp.iterdir()) if path.is_file()}
        state = {"step": step, "files": files}
        (tmp / TRAINER_STATE).write_text(json.dumps({**state, "sha256": state_digest(state)}))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in list_checkpoints(checkpoints)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def state_digest(state: dict[str, Any]) -> str:
    """SHA-256 of a trainer state's `step` and `files` (canonical JSON): the state file's own integrity check."""
    canonical = json.dumps({"step": state["step"], "files": state["files"]}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def fingerprint(path: Path) -> dict[str, Any]:
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
    if "sha256" in state and state["sha256"] != state_digest(state):
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
        if fingerprint(path)["sha256"] != expected["sha256"]:
            return f"{name} changed since it was written (SHA-256 differs)"
    return None


def resolve_resume(output_dir: Path, resume: str | None) -> list[Path]:
    """The checkpoints to try, in order: none; for 'latest' every checkpoint in `output_dir`, newest first (a
    damaged newest one falls back to the one before); or the one given, which must hold `trainer_state.json`."""
    if resume is None:
        return []
    if resume == "latest":
        found = list_checkpoints(output_dir / "checkpoints")
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
