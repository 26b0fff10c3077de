"""Resuming is safe and robust: nothing is unpickled, a damaged newest checkpoint falls back to the one before, a moved
run folder resumes, `metrics.jsonl` never holds a step twice, an output folder changes only once the config and the
data are known to be good, and `kill -9` at random moments still ends in bit-identical weights."""

import json
import logging
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image
from safetensors.torch import load_file, save_file

from leae_hub import cli
from leae_hub.trainer import checkpoints, loop, run_folder

ROOT = Path(__file__).resolve().parents[1]
SHAPES = ROOT / "training" / "configs" / "shapes-quick.yaml"
# A constant learning rate: a cosine one would depend on max_steps, which the tests below change between runs.
TINY = [
    "--config", str(SHAPES), "--data", "synthetic-shapes:64", "--hidden_channels", "16", "--latent_channels", "8",
    "--batch_size", "8", "--eval_images", "8", "--log_every", "1", "--sample_every", "100", "--eval_every", "100",
    "--checkpoint_every", "2", "--warmup_steps", "2", "--lr_schedule", "constant",
]  # fmt: skip
LATEST = ("--resume_from_checkpoint", "latest")


def _args(output_dir: Path, steps: int, *extra: str) -> list[str]:
    return [*TINY, "--output_dir", str(output_dir), "--max_steps", str(steps), *extra]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "model" / "model.safetensors")


def _identical(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def _steps(run: Path) -> list[int]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [row["step"] for row in rows if "loss" in row]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted 6-step run: what every interrupted and resumed run below must reproduce bit for bit."""
    run = tmp_path_factory.mktemp("reference") / "run"
    cli.train_main(_args(run, 6))
    return run


@pytest.fixture(scope="module")
def stopped(tmp_path_factory) -> Path:
    """A run stopped after step 4 (checkpoints 2 and 4 kept), to be copied and damaged by each test."""
    run = tmp_path_factory.mktemp("stopped") / "run"
    cli.train_main(_args(run, 4))
    return run


def _copy(stopped: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(stopped, run)
    return run


class _Payload:
    """Unpickling this creates the file `marker`: what an attacker's checkpoint file would do with arbitrary code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.mark.slow
def test_a_planted_pickle_payload_is_never_run(stopped, reference, tmp_path, caplog):
    run = _copy(stopped, tmp_path)
    marker = tmp_path / "pwned"
    for name in (checkpoints.LEGACY_RECIPE_STATE, "custom_checkpoint_1.pkl"):  # what Accelerate would unpickle
        torch.save(_Payload(marker), run / "checkpoints" / "checkpoint-4" / name)
    with caplog.at_level(logging.INFO, logger="leae_hub"):
        assert cli.train_main(_args(run, 6, *LATEST))["steps"] == 6
    assert not marker.exists()
    assert any("resumed from" in r.getMessage() and "checkpoint-4 at step 4" in r.getMessage() for r in caplog.records)
    assert _identical(_weights(run), _weights(reference))


@pytest.mark.parametrize("file", [checkpoints.LEGACY_RECIPE_STATE, "optimizer.bin"])
def test_an_older_checkpoint_with_a_payload_is_refused_without_running_it(stopped, tmp_path, file):
    """A checkpoint without the file list (written before it existed): every pickle is read with weights_only=True."""
    run = _copy(stopped, tmp_path)
    for checkpoint in checkpoints.list_checkpoints(run / "checkpoints"):
        (checkpoint / checkpoints.TRAINER_STATE).write_text(json.dumps({"step": int(checkpoint.name.split("-")[-1])}))
        (checkpoint / checkpoints.RECIPE_STATE).rename(checkpoint / checkpoints.LEGACY_RECIPE_STATE)  # the older layout
        torch.save(_Payload(tmp_path / "pwned"), checkpoint / file)
    with pytest.raises(ValueError, match="No usable checkpoint.*checkpoint-4.*does not load.*checkpoint-2"):
        cli.train_main(_args(run, 6, *LATEST))
    assert not (tmp_path / "pwned").exists()


@pytest.mark.slow
def test_an_older_checkpoint_resumes_with_its_recipe_state(stopped, reference, tmp_path):
    run = _copy(stopped, tmp_path)
    checkpoint = run / "checkpoints" / "checkpoint-4"
    state = load_file(checkpoint / checkpoints.RECIPE_STATE)
    torch.save(state, checkpoint / checkpoints.LEGACY_RECIPE_STATE)  # accelerate's register_for_checkpointing layout
    (checkpoint / checkpoints.RECIPE_STATE).unlink()
    (checkpoint / checkpoints.TRAINER_STATE).write_text(json.dumps({"step": 4}))
    assert cli.train_main(_args(run, 6, *LATEST))["steps"] == 6
    assert _identical(_weights(run), _weights(reference))


def _truncate(checkpoint: Path) -> None:
    weights = checkpoint / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _non_finite(checkpoint: Path) -> None:
    """NaN weights in a checkpoint whose file list agrees (a run that diverged and saved them)."""
    weights = load_file(checkpoint / "model.safetensors")
    name = sorted(weights)[0]
    weights[name].view(-1)[0] = float("nan")
    save_file(weights, checkpoint / "model.safetensors", metadata={"format": "pt"})
    _edit_state(checkpoint, files={"model.safetensors": checkpoints.fingerprint(checkpoint / "model.safetensors")})


def _edit_state(checkpoint: Path, step: int | None = None, files: dict | None = None, digest: bool = True) -> None:
    """Change `trainer_state.json`'s step or file list, with its own SHA-256 recomputed (`digest`) or left stale."""
    state = json.loads((checkpoint / checkpoints.TRAINER_STATE).read_text())
    state["step"] = state["step"] if step is None else step
    state["files"].update(files or {})
    if digest:
        state["sha256"] = checkpoints.state_digest(state)
    (checkpoint / checkpoints.TRAINER_STATE).write_text(json.dumps(state))


def _flip_a_bit_and_hide_it(checkpoint: Path) -> None:
    """A bit flipped in the weights, and the file's SHA-256 in the state recomputed (the state's own left stale)."""
    weights = checkpoint / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    _edit_state(checkpoint, files={"model.safetensors": checkpoints.fingerprint(weights)}, digest=False)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_truncate, "model.safetensors has .* bytes, .* were written"),
        (lambda c: (c / "optimizer.bin").unlink(), "missing optimizer.bin"),
        (lambda c: (c / "scheduler.bin").write_bytes(b"\0" * (c / "scheduler.bin").stat().st_size), "SHA-256"),
        (_non_finite, "holds NaN or inf"),
        (_flip_a_bit_and_hide_it, "trainer_state.json changed since it was written"),
        (lambda c: _edit_state(c, step=1_000_000), "says step 1000000, its folder name step 4"),
        (lambda c: _edit_state(c, step=-4), "says step -4, not a positive whole number"),
        (lambda c: _edit_state(c, step=True), "says step True, not a positive whole number"),
    ],
    ids=["truncated", "missing file", "overwritten", "NaN weights", "hidden bit flip", "step", "negative", "bool"],
)
@pytest.mark.slow
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(
    stopped, reference, tmp_path, caplog, damage, reason
):
    run = _copy(stopped, tmp_path)
    damage(run / "checkpoints" / "checkpoint-4")
    with caplog.at_level(logging.WARNING, logger="leae_hub"):
        assert cli.train_main(_args(run, 6, *LATEST))["steps"] == 6
    assert any("skipping checkpoint" in r.getMessage() and "checkpoint-4" in r.getMessage() for r in caplog.records)
    assert any(re.search(reason, record.getMessage()) for record in caplog.records)
    assert _identical(_weights(run), _weights(reference))  # resumed at step 2, finished at 6
    assert _steps(run) == [1, 2, 3, 4, 5, 6]  # the rows of steps 3-4 after checkpoint-2 were cut back, not doubled


def test_a_checkpoint_beyond_the_run_is_refused(stopped, tmp_path):
    run = _copy(stopped, tmp_path)
    far = run / "checkpoints" / "checkpoint-1000"
    (run / "checkpoints" / "checkpoint-4").rename(far)
    _edit_state(far, step=1000)
    with pytest.raises(ValueError, match="it is at step 1000, beyond this run's 6 steps"):
        cli.train_main(_args(run, 6, "--resume_from_checkpoint", str(far)))


def test_a_second_run_in_the_same_folder_is_refused_and_the_lock_goes_with_the_run(tmp_path):
    run = tmp_path / "run"
    with run_folder.run_lock(run):  # a first run, still training
        with pytest.raises(RuntimeError, match=r"run is in use by another run \(pid \d+ on .*\): wait for it"):
            cli.train_main(_args(run, 2))
        assert not run.exists()  # refused before anything was written
    assert cli.train_main(_args(run, 2))["steps"] == 2  # the first run ended: its lock is gone


@pytest.mark.slow
def test_a_full_disk_during_a_checkpoint_says_so_and_the_run_resumes_bit_exact(stopped, reference, tmp_path):
    run = _copy(stopped, tmp_path)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))  # checkpoint-6's files are larger: EFBIG
    try:
        with pytest.raises(
            OSError, match=r"Writing checkpoint-6 into .* failed: the disk is full or a file-size limit"
        ):
            cli.train_main(_args(run, 6, *LATEST))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert [c.name for c in (run / "checkpoints").iterdir()] == ["checkpoint-2", "checkpoint-4"]  # no torn one
    assert cli.train_main(_args(run, 6, *LATEST))["steps"] == 6
    assert _identical(_weights(run), _weights(reference))


def test_batches_whose_every_image_is_unreadable_are_skipped_and_the_run_ends(tmp_path, caplog):
    data = tmp_path / "data"
    for split in ("train", "test"):
        (data / split).mkdir(parents=True)
        Image.new("RGB", (32, 32), (200, 30, 30)).save(data / split / "good.png")
    (data / "train" / "bad.png").write_bytes(b"not an image" * 10)
    run = tmp_path / "run"
    argv = _args(run, 4, "--data", str(data), "--batch_size", "1", "--eval_images", "1")
    with caplog.at_level(logging.WARNING, logger="leae_hub"), pytest.warns(RuntimeWarning, match="bad.png"):
        assert cli.train_main(argv)["steps"] == 4  # 4 steps on the readable image, over 4 epochs of 2 batches
    assert any(re.search(r"and [1-9]\d* batch\(es\) with none readable", r.getMessage()) for r in caplog.records)
    assert _steps(run) == [1, 2, 3, 4]


def test_a_given_damaged_checkpoint_is_refused(stopped, tmp_path):
    run = _copy(stopped, tmp_path)
    _truncate(run / "checkpoints" / "checkpoint-4")
    with pytest.raises(ValueError, match="Cannot resume from .*checkpoint-4: model.safetensors has"):
        cli.train_main(_args(run, 6, "--resume_from_checkpoint", str(run / "checkpoints" / "checkpoint-4")))


def test_a_moved_run_folder_resumes_and_metrics_are_cut_back(stopped, reference, tmp_path):
    moved = _copy(stopped, tmp_path / "elsewhere")
    with (moved / "metrics.jsonl").open("a") as handle:  # rows past the checkpoint, and a line torn by a crash
        handle.write(json.dumps({"step": 5, "loss": 1.0}) + '\n{"step": 6, "lo')
    assert cli.train_main(_args(moved, 6, *LATEST))["steps"] == 6
    assert _steps(moved) == [1, 2, 3, 4, 5, 6]
    assert _identical(_weights(moved), _weights(reference))
    assert yaml.safe_load((moved / "train_config.yaml").read_text())["output_dir"] == str(moved)
    assert not list(moved.glob(".train_config.yaml.*"))  # written through a temporary file, then renamed


@pytest.mark.slow
def test_nothing_changes_until_config_and_data_are_checked_and_overwrite_moves_the_old_run_aside(stopped, tmp_path):
    run = _copy(stopped, tmp_path)
    before = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    for bad in (
        ["--data", "folder:/nonexistent", "--overwrite", "true"],
        ["--batch_size", "100", "--overwrite", "true"],  # more than the 64 images: not one full batch
    ):
        with pytest.raises((FileNotFoundError, ValueError)):
            cli.train_main(_args(run, 2, *bad))
        assert {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    cli.train_main(_args(run, 1, "--learning_rate", "0.01", "--overwrite", "true"))
    (aside,) = tmp_path.glob("run.old-*")
    assert {p.relative_to(aside): p.read_bytes() for p in aside.rglob("*") if p.is_file()} == before
    assert _steps(run) == [1] and [p.name for p in checkpoints.list_checkpoints(run / "checkpoints")] == [
        "checkpoint-1"
    ]
    assert yaml.safe_load((run / "train_config.yaml").read_text())["learning_rate"] == 0.01


@pytest.mark.slow
def test_a_failed_start_up_does_not_refuse_the_corrected_command(tmp_path, monkeypatch):
    run = tmp_path / "run"
    with pytest.raises(ValueError, match="fewer than one batch"):
        cli.train_main(_args(run, 2, "--data", "synthetic-shapes:4"))
    assert not run.exists()

    def fail(*args, **kwargs):
        raise RuntimeError("out of memory (simulated)")

    monkeypatch.setattr(loop.TrainStep, "forward", fail)  # fails after the folder was prepared
    with pytest.raises(RuntimeError, match="simulated"):
        cli.train_main(_args(run, 2, "--learning_rate", "0.5"))
    assert (run / "train_config.yaml").exists()
    monkeypatch.undo()
    assert cli.train_main(_args(run, 2, "--learning_rate", "0.01"))["steps"] == 2  # another lr: not refused


def test_a_dataset_smaller_than_a_batch_fails_within_seconds(tmp_path):
    started = time.perf_counter()
    with pytest.raises(ValueError, match=r"'train' split has 5 image\(s\), fewer than one batch.*batch_size to 5"):
        cli.train_main(_args(tmp_path / "run", 2, "--data", "synthetic-shapes:5"))
    assert time.perf_counter() - started < 30
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_latest_without_a_checkpoint_and_fp16_on_cpu_say_what_happens(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="leae_hub"):
        result = cli.train_main(_args(tmp_path / "run", 1, *LATEST, "--mixed_precision", "fp16", "--cpu", "true"))
    assert result["steps"] == 1
    text = " ".join(record.getMessage() for record in caplog.records)
    assert "no checkpoint in" in text and "starts fresh at step 0" in text
    assert "fp16 needs a GPU: on the CPU this run trains in fp32" in text


@pytest.mark.slow
@pytest.mark.parametrize(("isa", "native", "chosen"), [("AVX2", False, "fp32"), ("AMX", True, "bf16")])
def test_mixed_precision_auto_follows_the_cpu(tmp_path, caplog, monkeypatch, isa, native, chosen):
    """`auto` trains in bf16 only where the CPU computes it natively (leae_hub.hardware); the config keeps `auto`."""
    monkeypatch.setattr("leae_hub.trainer.loop.cpu_isa", lambda: {"isa": isa, "native_bf16": native})
    with caplog.at_level(logging.INFO, logger="leae_hub"):
        result = cli.train_main(_args(tmp_path / "run", 1, "--mixed_precision", "auto", "--cpu", "true"))
    assert result["steps"] == 1
    assert f"mixed_precision auto: {chosen} ({isa})" in " ".join(record.getMessage() for record in caplog.records)
    assert "mixed_precision: auto" in (tmp_path / "run" / "train_config.yaml").read_text()
    trained = json.loads((tmp_path / "run" / "final_metrics.json").read_text())["mixed_precision"]
    assert trained == {"fp32": "no", "bf16": "bf16"}[chosen] == result["mixed_precision"]


# ------------------------------------------------------------------------------------------------- kill -9, many times

KILLS = 10
KILL_STEPS = 60


def sigkill_driver(reference: str, killed: str, steps: int, kills: int, seed: int) -> None:
    """Train `reference` uninterrupted, then train `killed` with `kill -9` `kills` times (each restart resumes from
    the latest checkpoint), then let it finish. A kill comes at a random moment (up to 0.1 s) after the restarted run
    has saved one more checkpoint, so every restart makes progress and kills land in steps, checkpoint writes and log
    writes alike. Runs in its own process: leae_hub is imported once and every run is a forked child, so a restart
    costs no import. Prints {"kills": n}."""
    import random

    torch.set_num_threads(1)

    def start(output_dir: str, *extra: str) -> int:
        pid = os.fork()
        if pid == 0:  # the child: one training run, then exit without running the parent's cleanup
            code = 0
            try:
                cli.train_main(_args(Path(output_dir), steps, "--checkpoint_every", "1", *extra))
            except BaseException as error:  # noqa: BLE001  (reported through the exit status)
                print(f"training failed: {error!r}", file=sys.stderr)
                code = 1
            os._exit(code)
        return pid

    def finish(pid: int) -> None:
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise SystemExit(f"a training run failed with status {status}")

    def newest(folder: Path) -> int:
        return max((int(p.name.split("-")[-1]) for p in checkpoints.list_checkpoints(folder)), default=0)

    def running(pid: int) -> bool:
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            raise SystemExit("a run ended before its kill: raise KILL_STEPS")
        return True

    finish(start(reference))
    rng, done, folder = random.Random(seed), 0, Path(killed) / "checkpoints"
    while done < kills:
        before = newest(folder)
        pid = start(killed, *LATEST)
        while running(pid) and newest(folder) <= before:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.1))
        running(pid)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        done += 1
    finish(start(killed, *LATEST))
    print(json.dumps({"kills": done}))


@pytest.mark.slow
def test_kill_9_at_random_moments_still_gives_bit_identical_weights(tmp_path):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_resume; "
        f"test_resume.sigkill_driver({str(reference)!r}, {str(killed)!r}, {KILL_STEPS}, {KILLS}, 0)"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == {"kills": KILLS}
    assert _identical(_weights(killed), _weights(reference))
    assert _steps(killed) == list(range(1, KILL_STEPS + 1))  # every step logged once, none twice
