"""The training script: configs, every recipe, exact resume, and a real 2-process CPU run (crash safety and damaged
checkpoints: test_resume.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from fakehub import FakeHub, fake_hub_fixture  # noqa: F401  (fake_hub_fixture registers `fake_hub`)
from PIL import Image
from safetensors.torch import load_file
from transformers import AutoModel

from leae_hub import cli, hub, trainer
from leae_hub.recipes import RECIPES, ObjectiveOutput, Recipe, Stage, register_recipe
from leae_hub.trainer import checkpoints, loop, run_folder, settings

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "training" / "configs").glob("*.yaml"))
TINY = [
    "--data", "synthetic-shapes:64", "--hidden_channels", "16", "--latent_channels", "8", "--batch_size", "8",
    "--eval_images", "16", "--log_every", "1", "--sample_every", "2", "--eval_every", "2", "--checkpoint_every", "2",
]  # fmt: skip
RESUME = ("--resume_from_checkpoint", "latest")


def _tiny_args(config: Path, output_dir: Path, steps: int, *extra: str) -> list[str]:
    args = ["--config", str(config), *TINY, "--output_dir", str(output_dir), "--max_steps", str(steps)]
    args += ["--image_size", "32"] if "celeba" in config.name else []
    if "image_crop" in yaml.safe_load(config.read_text()):  # a crop box needs photos: a small folder of them
        args += ["--data", str(_photo_folder(output_dir.with_name(output_dir.name + "-photos")))]
    if "jepa" in config.name:
        args += ["--decoder_probe_steps", "2", "--predictor_hidden", "32"]
    if "celeba" in config.name or "mnist" in config.name:
        args += ["--preset", "leae-cifar"] if "celeba" in config.name else []
    return [*args, *extra]


def _photo_folder(root: Path) -> Path:
    """16 training and 16 test photos of 36×44 px (random pixels, seeded) in the `<split>/<class>/` layout."""
    generator = np.random.default_rng(0)
    for split in ("train", "test"):
        (root / split / "face").mkdir(parents=True, exist_ok=True)
        for index in range(16):
            pixels = generator.integers(0, 256, (44, 36, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / split / "face" / f"{index}.png")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_every_config_parses_and_runs_a_few_steps(tmp_path, config):
    parsed = cli.parse_train_config(["--config", str(config)])
    assert parsed.recipe in loop.RECIPES
    result = cli.train_main(_tiny_args(config, tmp_path, 3))
    assert set(result) >= {"psnr", "baseline_psnr", "steps"}
    model = AutoModel.from_pretrained(tmp_path / "model")
    assert model.dtype == torch.float32
    assert (tmp_path / "model" / "preprocessor_config.json").exists()
    assert (tmp_path / "metrics.jsonl").read_text().count("\n") >= 2
    assert list((tmp_path / "samples").glob("step-*.png"))
    recorded = yaml.safe_load((tmp_path / "train_config.yaml").read_text())
    assert recorded["image_crop"] == yaml.safe_load(config.read_text()).get("image_crop")


def test_default_config_is_shapes_quick(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # any folder: the default is packaged, not read from a checkout
    assert cli.parse_train_config([]).train.output_dir == "runs/shapes-quick"
    assert (
        settings.find_default_config() == settings.DEFAULT_CONFIG and settings.DEFAULT_CONFIG.parent.name == "configs"
    )
    assert "configs/*.yaml" in (ROOT / "pyproject.toml").read_text()  # package data: it goes into the wheel
    linked = ROOT / "training" / "configs" / "shapes-quick.yaml"  # the checkout's list of configs shows it too
    assert linked.resolve() == settings.DEFAULT_CONFIG


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--preset", "leae-3m"], "Unknown preset 'leae-3m'. Valid presets: leae-2m"),
        (["--recipe", "mae"], "Unknown recipe 'mae'. Valid recipes: baseline, decoder-probe, jepa, masked, self-"),
        (["--max_steps", "0"], "max_steps must be at least 1, got 0"),
        (
            ["--config", str(ROOT / "training" / "configs" / "faces128-masked.yaml"), "--preset", "leae-36m"],
            "crop_size 64 does not fit a pooled latent: its linear layer takes 128-px images only",
        ),
        (
            ["--config", str(ROOT / "training" / "configs" / "faces128-masked.yaml"), "--hole_shape", "ring"],
            "hole_shape must be 'square' or 'random', got 'ring'",
        ),
    ],
)
def test_bad_config_values_are_named(argv, message):
    with pytest.raises(ValueError, match=message):
        cli.parse_train_config(argv)


def test_misspelled_yaml_key_is_named(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("recipe: masked\nlearning_rte: 0.001\nmax_steps: 3\n")
    with pytest.raises(ValueError, match="Unknown key 'learning_rte'.*Did you mean 'learning_rate'"):
        cli.parse_train_config(["--config", str(config)])


def test_option_that_does_not_fit_the_recipe(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown option\(s\) \['views'\] for recipe 'masked'"):
        cli.train_main(_tiny_args(ROOT / "training/configs/cifar10-32-masked.yaml", tmp_path, 1, "--views", "crop"))


@pytest.mark.slow
def test_refuses_to_mix_runs(tmp_path):
    shapes = ROOT / "training" / "configs" / "shapes-quick.yaml"
    cli.train_main(_tiny_args(shapes, tmp_path, 1))
    with pytest.raises(ValueError, match="holds a run with a different config.*learning_rate.*--overwrite"):
        cli.train_main(_tiny_args(shapes, tmp_path, 1, "--learning_rate", "0.1"))
    cli.train_main(_tiny_args(shapes, tmp_path, 1, "--learning_rate", "0.1", "--overwrite", "true"))
    # Resuming with other settings would mix two runs as well.
    resume = ("--resume_from_checkpoint", "latest", "--checkpoint_every", "1")
    cli.train_main(_tiny_args(shapes, tmp_path / "resumed", 1, "--learning_rate", "0.1", *resume))
    with pytest.raises(ValueError, match="holds a run with a different config.*learning_rate.*--overwrite"):
        cli.train_main(_tiny_args(shapes, tmp_path / "resumed", 2, "--learning_rate", "0.2", *resume))


@pytest.mark.parametrize(
    ("config", "extra"),
    [("cifar10-32-masked", ["--judge", "ema"]), ("cifar10-32-jepa", ["--decoder_probe_steps", "0"])],
)
@pytest.mark.slow
def test_resume_is_exact(tmp_path, monkeypatch, config, extra):
    """Stopped at step 4 and resumed, a run reaches bit-identical weights at step 10 (past an epoch: data order too).

    The EMA judge / teacher, the optimiser, the cosine schedule and the step counter all come back from the checkpoint.
    """
    config = ROOT / "training" / "configs" / f"{config}.yaml"
    extra = [*extra, "--checkpoint_every", "4", "--warmup_steps", "2"]
    reference = tmp_path / "uninterrupted"
    cli.train_main(_tiny_args(config, reference, 10, *extra))

    save_checkpoint = checkpoints.save_checkpoint

    def save_then_stop(accelerator, output_dir, step, keep, recipe):
        save_checkpoint(accelerator, output_dir, step, keep, recipe)
        raise KeyboardInterrupt  # the run is stopped right after its first checkpoint

    resumed = tmp_path / "resumed"
    monkeypatch.setattr(loop, "save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        cli.train_main(_tiny_args(config, resumed, 10, *extra))
    monkeypatch.setattr(loop, "save_checkpoint", save_checkpoint)
    assert [p.name for p in checkpoints.list_checkpoints(resumed / "checkpoints")] == ["checkpoint-4"]
    cli.train_main(_tiny_args(config, resumed, 10, *extra, "--resume_from_checkpoint", "latest"))
    expected = load_file(reference / "model" / "model.safetensors")
    got = load_file(resumed / "model" / "model.safetensors")
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def _run_script(args, env=None, **kwargs):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, **kwargs)


@pytest.mark.slow
def test_two_process_cpu_run(tmp_path):
    """A real 2-rank run (torchrun, gloo): both ranks train, SIGReg sees the global batch, rank 0 saves the model."""
    masked = ROOT / "training" / "configs" / "cifar10-32-masked.yaml"
    args = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533"]
    args += ["training/train.py", *_tiny_args(masked, tmp_path, 4)]
    completed = _run_script(args)
    assert completed.returncode == 0, completed.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3, 4]
    assert all(r["processes"] == 2 for r in records if "loss" in r)  # SIGReg all-reduces over both ranks
    model = AutoModel.from_pretrained(tmp_path / "model")
    assert sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.slow
def test_push_to_hub_publishes_one_commit(tmp_path, fake_hub):
    shapes = ROOT / "training" / "configs" / "shapes-quick.yaml"
    cli.train_main(_tiny_args(shapes, tmp_path / "run", 2, "--push_to_hub", "org/leae-shapes"))
    commits = fake_hub.commits_touching("org/leae-shapes", "README.md")
    assert len(commits) == 1
    files = set(commits[0].files)
    assert {"README.md", "config.json", "model.safetensors", "modeling_leae.py", "preprocessor_config.json"} <= files
    card = commits[0].files["README.md"].decode()
    assert "leae" in card and "self-teaching" in card and "model-index" in card
    pulled = AutoModel.from_pretrained("org/leae-shapes")
    expected = load_file(tmp_path / "run" / "model" / "model.safetensors")
    assert all(torch.equal(tensor, pulled.state_dict()[key]) for key, tensor in expected.items())


@pytest.mark.slow
def test_a_model_over_the_shard_size_is_saved_in_shards_that_load_and_publish(tmp_path, fake_hub, monkeypatch):
    from leae_hub.space import catalogue  # imports gradio: only here

    monkeypatch.setattr(loop, "MAX_SHARD_SIZE", "20KB")  # as leae-36m's 145 MB against the 80 MB limit
    shapes = ROOT / "training" / "configs" / "shapes-quick.yaml"
    cli.train_main(_tiny_args(shapes, tmp_path / "run", 2, "--push_to_hub", "org/leae-shapes"))
    folder = tmp_path / "run" / "model"
    shards = hub.weight_files(folder)
    assert len(shards) > 1 and not (folder / "model.safetensors").exists(), shards
    assert (folder / "model.safetensors.index.json").is_file()
    assert catalogue.local_models([tmp_path / "run"]) == [str(folder)]  # the Space offers a sharded folder
    saved = {key: tensor for shard in shards for key, tensor in load_file(shard).items()}
    for model in (AutoModel.from_pretrained(folder), AutoModel.from_pretrained("org/leae-shapes")):
        assert saved.keys() == model.state_dict().keys()
        assert all(torch.equal(tensor, model.state_dict()[key]) for key, tensor in saved.items())


def test_push_to_hub_without_token_fails_before_training(tmp_path, monkeypatch):

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("leae_hub.hub.publishing.get_token", lambda: None)  # no login cache either
    shapes = ROOT / "training" / "configs" / "shapes-quick.yaml"
    with pytest.raises(RuntimeError, match="HF_TOKEN"):
        cli.train_main(_tiny_args(shapes, tmp_path, 2, "--push_to_hub", "org/leae-shapes"))
    assert not (tmp_path / "metrics.jsonl").exists()


@pytest.mark.slow
def test_saved_model_reproduces_the_printed_psnr(tmp_path, capsys):
    shapes = ROOT / "training" / "configs" / "shapes-quick.yaml"
    result = cli.train_main(_tiny_args(shapes, tmp_path, 3))
    assert f"held-out PSNR {result['psnr']:.2f} dB vs per-image-mean baseline {result['baseline_psnr']:.2f}" in (
        capsys.readouterr().out
    )
    held_out = loop.build_dataset("synthetic-shapes:64", "test", 32, 3, seed=0)
    images = torch.stack([held_out[i]["pixel_values"] for i in range(16)])
    reloaded = loop.evaluate_psnr(AutoModel.from_pretrained(tmp_path / "model"), images)
    assert reloaded["psnr"] == pytest.approx(result["psnr"], abs=1e-4)
    assert reloaded["baseline_psnr"] == pytest.approx(result["baseline_psnr"], abs=1e-6)


# ------------------------------------------------------------------------- recipes own their options and stages


class ToyRecipe(Recipe):
    r"""L = ‖gain · D(E(x)) − x‖²: a pixel autoencoder with one made-up option, registered by this test file only.

    Args:
        gain: multiplies the reconstruction.
        pre_steps: first train this many steps with gain 2 in `warmup/`, then the run itself from that model.
    """

    name = "toy-test"

    def __init__(self, gain: float = 1.0, pre_steps: int = 0, seed: int = 0):
        super().__init__(seed)
        self.gain = gain

    @classmethod
    def stages(cls, options):
        warmup = options.get("pre_steps", 0)
        if not warmup:
            return super().stages(options)
        return [
            Stage(cls.name, {"gain": 2.0}, max_steps=warmup, output_subdir="warmup"),
            Stage(cls.name, {**options, "pre_steps": 0}, init_from_previous=True),
        ]

    def forward(self, model, batch, step):
        x = batch["pixel_values"]
        reconstruction = model.decoder(model.encoder(x)) * self.gain
        loss = torch.nn.functional.mse_loss(reconstruction, x)
        return ObjectiveOutput(loss, {"loss": loss.item()}, {"input": x, "reconstruction": reconstruction.detach()})


@pytest.fixture
def toy_recipe():
    register_recipe(ToyRecipe)
    yield ToyRecipe
    RECIPES.pop(ToyRecipe.name)


def _toy_args(output_dir: Path, steps: int, *extra: str) -> list[str]:
    config = output_dir.parent / "toy.yaml"
    config.write_text("recipe: toy-test\n")
    return ["--config", str(config), *TINY, "--output_dir", str(output_dir), "--max_steps", str(steps), *extra]


@pytest.mark.slow
def test_a_recipe_registered_by_a_test_trains_with_its_own_options(tmp_path, toy_recipe):
    config = tmp_path / "toy.yaml"
    config.write_text(f"recipe: toy-test\ngain: 0.5\nmax_steps: 2\noutput_dir: {tmp_path / 'run'}\n")
    result = cli.train_main(["--config", str(config), *TINY, "--gain", "0.75"])
    assert result["steps"] == 2
    saved = yaml.safe_load((tmp_path / "run" / "train_config.yaml").read_text())
    assert saved["recipe"] == "toy-test" and saved["gain"] == 0.75 and saved["pre_steps"] == 0
    assert "crop_ratio" not in saved and "decoder_probe_steps" not in saved  # other recipes' options stay out
    assert AutoModel.from_pretrained(tmp_path / "run" / "model") is not None
    with pytest.raises(ValueError, match="Unknown key 'gian'.*Did you mean 'gain'"):
        (tmp_path / "bad.yaml").write_text("recipe: toy-test\ngian: 0.5\nmax_steps: 2\n")
        cli.parse_train_config(["--config", str(tmp_path / "bad.yaml")])
    with pytest.raises(ValueError, match=r"Unknown option\(s\) \['gain'\] for recipe 'masked'"):
        cli.parse_train_config(["--config", str(ROOT / "training/configs/cifar10-32-masked.yaml"), "--gain", "2"])
    # A resumed run with another recipe option is another run.
    with pytest.raises(ValueError, match="holds a run with a different config.*gain.*--overwrite"):
        cli.train_main(["--config", str(config), *TINY, "--gain", "0.5", *RESUME])


def test_help_lists_every_recipe_option_with_its_recipes(toy_recipe, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # no line breaks inside hyphenated words
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_train_config(["--help"], prog="leae train")
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "usage: leae train" in text
    assert "--gain GAIN [toy-test] multiplies the reconstruction (recipe default 1.0)" in text
    assert "--crop_ratio CROP_RATIO, --crop-ratio CROP_RATIO [masked, self-teaching] crop side" in text
    assert "--decoder_probe_steps DECODER_PROBE_STEPS, --decoder-probe-steps DECODER_PROBE_STEPS [jepa]" in text
    for name, recipe in loop.RECIPES.items():
        for option in recipe.options():
            assert f"--{option.name} " in text, f"{name}: --{option.name} is not in --help"


@pytest.mark.slow
def test_declared_stages_run_in_order_into_their_folders_and_a_finished_stage_is_skipped(tmp_path, toy_recipe):
    run = tmp_path / "run"
    cli.train_main(_toy_args(run, 2, "--pre_steps", "1", "--gain", "0.5"))
    warmup = yaml.safe_load((run / "warmup" / "train_config.yaml").read_text())
    final = yaml.safe_load((run / "train_config.yaml").read_text())
    assert (warmup["gain"], warmup["max_steps"], warmup["init_from"]) == (2.0, 1, None)
    assert (final["gain"], final["max_steps"], final["init_from"]) == (0.5, 2, str(run / "warmup" / "model"))
    assert [json.loads(line)["step"] for line in (run / "warmup" / "metrics.jsonl").read_text().splitlines()] == [1]
    before = (run / "warmup" / "metrics.jsonl").read_text()
    cli.train_main(_toy_args(run, 3, "--pre_steps", "1", "--gain", "0.5", *RESUME))
    assert (run / "warmup" / "metrics.jsonl").read_text() == before  # the warm-up stage was done already
    assert json.loads((run / "final_metrics.json").read_text())["steps"] == 3


@pytest.mark.slow
def test_jepa_with_decoder_probe_resumes_in_the_probe_stage(tmp_path):
    """The declared JEPA stages keep today's layout: the encoder in OUTPUT/jepa/, the probe in OUTPUT/."""
    jepa = ROOT / "training" / "configs" / "cifar10-32-jepa.yaml"
    cli.train_main(_tiny_args(jepa, tmp_path, 2))
    assert (tmp_path / "jepa" / "model" / "config.json").exists() and (tmp_path / "model" / "config.json").exists()
    encoder = yaml.safe_load((tmp_path / "jepa" / "train_config.yaml").read_text())
    probe = yaml.safe_load((tmp_path / "train_config.yaml").read_text())
    assert (encoder["recipe"], encoder["decoder_probe_steps"], encoder["push_to_hub"]) == ("jepa", 0, None)
    assert (probe["recipe"], probe["max_steps"], probe["init_from"]) == (
        "decoder-probe",
        2,
        str(tmp_path / "jepa/model"),
    )
    encoder_log = (tmp_path / "jepa" / "metrics.jsonl").read_text()
    result = cli.train_main(_tiny_args(jepa, tmp_path, 2, "--decoder_probe_steps", "4", *RESUME))
    assert result["steps"] == 4
    assert (tmp_path / "jepa" / "metrics.jsonl").read_text() == encoder_log
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [s for s in steps if s > 2] == [3, 4]  # resumed at the probe's checkpoint-2


@pytest.mark.slow
def test_run_folders_written_before_recipes_owned_their_options_still_resume(tmp_path):
    """Older train_config.yaml files list every recipe's options (unset as null, decoder_probe_steps: 0)."""
    shapes = ROOT / "training" / "configs" / "shapes-quick.yaml"
    cli.train_main(_tiny_args(shapes, tmp_path, 1, "--checkpoint_every", "1"))
    saved = tmp_path / "train_config.yaml"
    values = yaml.safe_load(saved.read_text())
    for recipe in loop.RECIPES.values():
        for option in recipe.options():
            values.setdefault(option.name, None)
    values.update(sigreg_slices=None, judge=None, decoder_probe_steps=0)  # unset then: null
    saved.write_text(yaml.safe_dump(values, sort_keys=False))
    assert cli.train_main(_tiny_args(shapes, tmp_path, 2, *RESUME))["steps"] == 2
    saved.write_text(yaml.safe_dump(values, sort_keys=False))
    with pytest.raises(ValueError, match=r"differs in: crop_ratio\)"):
        cli.train_main(_tiny_args(shapes, tmp_path, 3, "--crop_ratio", "0.3", *RESUME))


def test_the_old_import_path_still_reaches_the_trainer():
    """`leae_hub.training` (before the trainer became a package) re-exports what code may have imported from it."""
    import leae_hub.training as old

    for name in set(old.__all__) - {"main", "parse_config"}:  # these two parse the command line: cli, below
        owner = next(m for m in (trainer, settings, checkpoints, loop, run_folder) if hasattr(m, name))
        assert getattr(old, name) is getattr(owner, name), name
    assert old.main is cli.train_main and old.parse_config is cli.parse_train_config
