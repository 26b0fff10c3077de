"""The `leae` console script: subcommands, their help, a two-step training run, and where each command delegates."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tiny_config

from leae_hub import LeaeModel, cli

ROOT = Path(__file__).resolve().parents[1]
LEAE = Path(sys.executable).with_name("leae")
needs_script = pytest.mark.skipif(
    not LEAE.exists(), reason=f"{LEAE} is not installed; run pip install -e . to create the console script"
)


def _leae(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([str(LEAE), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@needs_script
def test_help_lists_the_subcommands():
    completed = _leae("--help")
    assert completed.returncode == 0, completed.stderr
    for command in ("train", "evaluate", "card", "publish", "demo"):
        assert f"    {command} " in completed.stdout


@pytest.mark.slow
@needs_script
def test_train_help_lists_the_training_options():
    completed = _leae("train", "--help")
    assert completed.returncode == 0, completed.stderr
    text = " ".join(completed.stdout.split())
    assert "usage: leae train" in text
    for flag in ("--max_steps", "--output_dir", "--recipe", "--crop_ratio", "--decoder_probe_steps", "--report_to"):
        assert flag in text


@pytest.mark.slow
@needs_script
def test_train_two_steps(tmp_path):
    """Outside the checkout (default config found next to the package), 32 px, into a temporary folder."""
    out = tmp_path / "run"
    args = ["train", "--data", "synthetic-shapes:64", "--image_size", "32", "--hidden_channels", "16"]
    args += ["--latent_channels", "8", "--batch_size", "8", "--eval_images", "16", "--max_steps", "2"]
    completed = _leae(*args, "--output_dir", str(out), cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "held-out PSNR" in completed.stdout and f"Model saved to {out / 'model'}" in completed.stdout
    assert json.loads((out / "final_metrics.json").read_text())["steps"] == 2

    assert (out / "model" / "model.safetensors").exists()


@needs_script
def test_unknown_command_is_named():
    completed = _leae("fit")
    assert completed.returncode == 2
    assert "invalid choice: 'fit'" in completed.stderr


def test_evaluate_writes_the_metrics(tmp_path, capsys):
    model_dir = tmp_path / "model"
    LeaeModel(tiny_config()).save_pretrained(model_dir)
    args = ["--model", str(model_dir), "--data", "synthetic-shapes", "--max_images", "16", "--batch_size", "16"]
    assert cli.main(["evaluate", *args, "--no_representation", "--json", str(tmp_path / "eval.json")]) == 0
    assert json.loads((tmp_path / "eval.json").read_text())["data"]["num_images"] == 16
    assert "PSNR (dB)" in capsys.readouterr().out
    crop = ["--image_crop", "0.1", "0.1", "0.9", "0.9"]
    assert cli.main(["evaluate", *args, *crop, "--json", str(tmp_path / "c.json")]) != 0
    assert "synthetic-shapes: procedural data takes no crop box" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["card", "publish"])
def test_card_and_publish_are_the_hub_commands(monkeypatch, command):
    calls = []
    monkeypatch.setattr(cli, "hub_main", lambda argv: calls.append(argv) or 0)
    assert cli.main([command, "--model", "m", "--repo_id", "org/x"]) == 0
    assert calls == [[command, "--model", "m", "--repo_id", "org/x"]]


def test_demo_without_a_checkout_says_where_to_get_it(monkeypatch, capsys):
    monkeypatch.setattr(cli.demo, "find_demo_app", lambda: None)
    assert cli.main(["demo", "--model", "m"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "the demo app is missing from this installation" in error and "pip install 'leae-hub[space]'" in error


@pytest.mark.slow
@needs_script
def test_demo_runs_from_any_folder_with_the_packaged_app(tmp_path):
    assert (
        cli.demo.PACKAGED_DEMO_APP.is_file()
        and (ROOT / "spaces" / "leae-demo" / "app.py").resolve() == cli.demo.PACKAGED_DEMO_APP
    )
    completed = _leae("demo", "--help", cwd=tmp_path)  # not a checkout: the packaged copy of the app
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("usage: leae demo ")


def test_demo_runs_the_space_app_of_the_checkout(monkeypatch):
    calls = []
    monkeypatch.setattr(cli.os, "execve", lambda path, argv, env: calls.append((argv, env["LEAE_DEMO_PROG"])))
    cli.main(["demo", "--model", "m", "--port", "7861"])
    app = str(ROOT / "spaces" / "leae-demo" / "app.py")
    assert calls == [([sys.executable, app, "--model", "m", "--port", "7861"], "leae demo")]


@pytest.mark.slow
@needs_script
def test_demo_help_names_the_command():
    completed = _leae("demo", "--help")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("usage: leae demo ")


@pytest.mark.slow
def test_python_m_hub_fails_in_one_line_without_a_token(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "LEAE_TRACEBACK": "0"}
    env.pop("HF_TOKEN", None)
    folder = Path(__file__).resolve().parents[1] / "model_cards" / "leae-celeba-64"
    command = [
        sys.executable,
        "-m",
        "leae_hub.hub",
        "publish",
        "--model",
        str(folder),
        "--repo_id",
        "me/leae-celeba-64",
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith("leae publish: error: No Hugging Face token found, nothing was uploaded.")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("module", "extra"), [("accelerate", "train"), ("jinja2", "train"), ("timm", "timm")])
def test_a_missing_optional_library_names_its_extra(module, extra, capsys):
    def needs_it():
        raise ModuleNotFoundError(f"No module named '{module}'", name=module)

    assert cli.run_command("leae x", needs_it) == 1
    assert capsys.readouterr().err == f'leae x: error: {module} is not installed: pip install "leae-hub[{extra}]"\n'
    assert cli.EXTRA_OF_MODULE[module] == extra


def test_the_core_install_is_light_and_every_named_extra_exists():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {re.split(r"[<>=!~ \[]", requirement)[0].lower() for requirement in project["dependencies"]}
    assert core == {"torch", "transformers", "huggingface_hub", "safetensors", "numpy", "pillow"}
    extras = project["optional-dependencies"]
    assert set(cli.EXTRA_OF_MODULE.values()) <= set(extras)
    for module, extra in cli.EXTRA_OF_MODULE.items():
        names = {re.split(r"[<>=!~ \[]", requirement)[0].lower() for requirement in extras[extra]}
        assert {"skimage": "scikit-image"}.get(module, module) in names, (module, extra)
