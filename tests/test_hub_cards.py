"""Model cards (template, YAML, model-index) and publishing to the in-process fake Hub in one commit."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from conftest import model_index_values, tiny_config
from fakehub import FakeHub, fake_hub_fixture  # noqa: F401  (fake_hub_fixture registers `fake_hub`)
from huggingface_hub import ModelCard
from transformers import AutoModel

import leae_hub
from leae_hub import cli, hub, zoo
from leae_hub.data import build_dataset
from leae_hub.evaluation import Unavailable, evaluate_model, sample_grid, split_unavailable

REPO_ROOT = Path(__file__).resolve().parents[1]
REPO_ID = "org/x"
TOKEN = "hf_publish_test_token_do_not_leak_0123456789"
CELEBA_NOTE = (
    "The repository holds no weights yet: this card is rendered from `training/configs/celeba128-self-teaching.yaml` "
    "before any training run, and the evaluation stays empty until the model is trained and measured. Data: the Hub "
    "dataset `flwrlabs/celeba` (what the config loads: 162,770 training images of 178×218), or `img_align_celeba` "
    "from the official CelebA site, https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (the training split is the "
    "162,770 images that `list_eval_partition.txt` marks 0); both for non-commercial research only. Time: measured "
    "here, leae-2m self-teaching at 128 px runs at about 16 img/s on one CPU thread with bf16 autocast (batch 32, "
    "`crop_size: 64`, as in `training/configs/faces128-self-teaching.yaml`), so the config's 10 epochs (1.63 M "
    "images) would take about 28 h on one such core. A GPU is the intended hardware; no GPU time has been measured "
    "yet. The other CelebA-128 recipes (masked, baseline; latent 128 or 512) are `training/configs/celeba128-*.yaml`."
)
CELEBA_COMMAND = [
    "card",
    "--preset", "leae-2m",
    "--repo_id", "leae-hub/leae-celeba-128",
    "--recipe", "self-teaching",
    "--data", "flwrlabs/celeba",
    "--training_config", "training/configs/celeba128-self-teaching.yaml",
    "--not_trained", CELEBA_NOTE,
    "--output", "model_cards/leae-celeba-128",
]  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_thread")


def make_model() -> leae_hub.LeaeModel:
    torch.manual_seed(7)
    model = leae_hub.LeaeModel(tiny_config())
    model.train()
    with torch.no_grad():  # move the batch-norm statistics away from their defaults
        model(torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1)))
    return model.eval()


@pytest.fixture(scope="module")
def evaluated() -> tuple[leae_hub.LeaeModel, dict]:
    """A tiny model and the evaluate JSON of it (through a strict JSON round trip, like training/evaluate.py)."""
    model = make_model()
    test = build_dataset("synthetic-shapes", split="test", image_size=32)
    train = build_dataset("synthetic-shapes", split="train", image_size=32)
    metrics = evaluate_model(model, test, train, batch_size=16, max_images=32, max_train_images=48)
    return model, json.loads(json.dumps(metrics, allow_nan=False))


def save_model_folder(model: leae_hub.LeaeModel, metrics: dict, folder: Path) -> Path:
    model.save_pretrained(folder)
    leae_hub.LeaeImageProcessor(image_size=32).save_pretrained(folder)
    metrics = {**metrics, "model": {**metrics["model"], "weights_sha256": hub.weights_sha256(folder)}}  # as evaluate
    (folder / "eval.json").write_text(json.dumps(metrics))
    images = torch.stack(
        [build_dataset("synthetic-shapes", split="test", image_size=32)[i]["pixel_values"] for i in range(4)]
    )
    sample_grid(model, images).save(folder / "samples.png")
    card = hub.render_card(
        folder,
        repo_id=REPO_ID,
        recipe="self-teaching",
        datasets=["synthetic-shapes"],
        metrics=metrics,
        training={"command": "accelerate launch training/train.py", "config": "preset: leae-cifar\n", "steps": 300},
        sample_grid="samples.png",
    )
    hub.write_card(folder, card)
    return folder


# ---------------------------------------------------------------------------------------------------- template


def test_one_template_packaged_and_linked_from_model_cards():
    packaged = REPO_ROOT / "src" / "leae_hub" / "templates" / "model_card.md"
    assert hub.template_path() == hub.TEMPLATE == packaged  # the installed package renders with its own copy
    assert (REPO_ROOT / "model_cards" / "template.md").resolve() == packaged  # a link, not a second copy
    card = hub.render_card(leae_hub.LeaeConfig.from_preset("leae-cifar"), repo_id=REPO_ID, recipe="jepa")
    assert "## Recipe: `jepa`" in card.text and card.data.tags[:2] == ["leae", "jepa"]


@pytest.mark.parametrize(
    ("overrides", "norms"),
    [
        ({"preset": "leae-cifar"}, "the latent batch norm then uses its running statistics"),
        ({"preset": "leae-mnist", "latent_norm": "layernorm"}, "the encoder's batch norms then use their running"),
        ({"preset": "leae-cifar", "latent_norm": "none"}, None),  # the conv encoder: no batch norm anywhere
    ],
)
def test_card_says_why_eval_mode_matters_only_where_a_batch_norm_is(overrides, norms):
    """The eval-mode note names the batch norms the model has: the latent's, the plain encoder's stages, or none."""
    config = leae_hub.LeaeConfig.from_preset(overrides.pop("preset"), **overrides)
    text = " ".join(hub.render_card(config, repo_id=REPO_ID, recipe="jepa").text.split())
    assert ("eval mode" in text) == (norms is not None)
    assert norms is None or f"Use the model in eval mode (`model.eval()`): {norms}" in text


def test_cards_and_readme_state_the_version_floors_of_pyproject():
    """The requirements a card or the README states are the floors pyproject.toml declares (and the Space's build test
    loads a published repo at)."""
    import tomllib

    dependencies = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    floor = {name: version for name, _, version in (r.partition(">=") for r in dependencies) if version}
    line = f"torch {floor['torch']} or later and transformers {floor['transformers']} or later"
    for card in [hub.TEMPLATE, *sorted((REPO_ROOT / "model_cards").glob("*/README.md"))]:
        assert line in " ".join(card.read_text(encoding="utf-8").split()), card
    readme = " ".join((REPO_ROOT / "README.md").read_text(encoding="utf-8").split())
    stated = f"torch ≥ {floor['torch']}, transformers ≥ {floor['transformers']}"
    assert stated in readme and f"huggingface_hub ≥ {floor['huggingface_hub']}" in readme


# ---------------------------------------------------------------------------------------------------- cards


def test_card_from_evaluate_json_parses_back_with_equal_model_index(evaluated, tmp_path):
    model, metrics = evaluated
    card = hub.render_card(
        model,
        repo_id="org/leae-test",
        recipe="masked",
        datasets=["hf:uoft-cs/cifar10", "synthetic-shapes"],
        metrics=metrics,
        training={
            "command": "accelerate launch training/train.py --config training/configs/x.yaml",
            "config": "recipe: masked\nmax_steps: 10\n",
            "config_path": "training/configs/x.yaml",
            "steps": 10,
            "images_seen": 640,
            "wall_time_s": 12.7,
            "seed": 0,
        },
        sample_grid="samples.png",
        inpainting_figure="inpainting.png",
        inpainting_figure_models=["leae-test", "leae-test-baseline"],
    )
    path = hub.write_card(tmp_path, card)
    loaded = ModelCard.load(path)
    data = loaded.data
    assert data.library_name == "transformers"
    assert data.pipeline_tag == "image-to-image"  # the Hub's task filter (config.json names our own pipeline)
    assert data.model_name == "org/leae-test"  # the model-index name is the repo id
    assert data.license == "apache-2.0" and data.get("license_link") is None
    assert not (tmp_path / "LICENSE").exists()
    assert data.tags == ["leae", "masked", "autoencoder", "image-reconstruction", "leae-hub"]
    assert data.datasets == ["uoft-cs/cifar10"]  # only Hub ids go to the YAML

    # Every numeric metric of the JSON is in the model-index with exactly its value; nothing else is.
    values = model_index_values(loaded)
    expected = {}
    for metric_type, _, json_path, _, _ in hub.MODEL_INDEX_METRICS:
        value = metrics
        for key in json_path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, (int, float)):
            expected[metric_type] = value
    assert values == expected
    assert {"psnr", "ssim", "ms_ssim", "psnr_hole", "psnr_total", "knn_top1_k5", "linear_probe"} <= set(values)
    assert {"psnr_hole_centre_25", "ssim_hole_centre_25", "psnr_hole_random"} <= set(values)
    for result in data.eval_results:
        assert result.dataset_type == "uoft-cs/cifar10" and result.dataset_split == "test"
        assert result.task_type in ("image-to-image", "image-classification", "image-feature-extraction")

    body = loaded.text
    for needle in (
        "import leae_hub",
        'AutoModel.from_pretrained("org/leae-test")',
        "AutoImageProcessor.from_pretrained",
        "trust_remote_code=True",
        "accelerate launch training/train.py --config training/configs/x.yaml",
        "max_steps: 10",
        "![Rows: inputs, reconstructions",
        "(samples.png)",
        "## Limitations",
        r"\mathrm{SIGReg}",  # the recipe's equation
        f"| reconstruction | PSNR (dB) | {metrics['reconstruction']['psnr']:.2f} |",
        "| reconstruction | LPIPS (AlexNet) |",
        "raw pixels | random-init encoder",
        "| training images seen (steps × batch × accumulation × processes) | 640 |",
        "### Inpainting beside its twin",
        "(inpainting.png)",
        "inpaintings of `leae-test`, `leae-test-baseline`",
        "| inpainting | inside a centred hole of 25 % of the area: PSNR (dB) / SSIM (mean-colour fill) | ",
    ):
        assert needle in body, needle


def test_unavailable_and_infinite_metrics_stay_out_of_the_model_index(evaluated):
    model, metrics = evaluated
    metrics = json.loads(json.dumps(metrics))
    metrics["reconstruction"]["psnr"] = math.inf
    metrics["reconstruction"]["lpips"] = Unavailable("the lpips package is not installed")
    metrics = split_unavailable(metrics)
    card = ModelCard(str(hub.render_card(model, repo_id=REPO_ID, recipe="baseline", metrics=metrics)))
    values = model_index_values(card)
    assert "psnr" not in values and "lpips" not in values
    assert values["ssim"] == metrics["reconstruction"]["ssim"]
    assert "| reconstruction | PSNR (dB) | unavailable: inf is not a finite number |" in card.text
    assert "| reconstruction | LPIPS (AlexNet) | unavailable: the lpips package is not installed |" in card.text


def test_card_before_training_has_no_model_index():
    config = leae_hub.LeaeConfig.from_preset("leae-2m")
    card = ModelCard(
        str(
            hub.render_card(
                config,
                repo_id="org/leae-celeba-128",
                recipe="self-teaching",
                datasets=["flwrlabs/celeba"],
                not_trained_note="Not trained yet: no weights.",
            )
        )
    )
    assert not card.data.eval_results
    assert "> **Not trained yet.** Not trained yet: no weights." in card.text
    assert "| architecture preset | `leae-2m` |" in card.text and "| parameters | 2,126,083 |" in card.text
    assert "No evaluation yet" in card.text
    with pytest.raises(ValueError, match="Unknown recipe"):
        hub.render_card(config, repo_id=REPO_ID, recipe="nope")


def test_committed_celeba_card_is_current(tmp_path, monkeypatch):
    """model_cards/leae-celeba-128/README.md is the CLI's output for the CelebA config: no metrics, not trained."""
    committed = REPO_ROOT / "model_cards" / "leae-celeba-128" / "README.md"
    card = ModelCard.load(committed)
    assert card.data.datasets == ["flwrlabs/celeba"]
    assert card.data.tags == ["leae", "self-teaching", "autoencoder", "image-reconstruction", "leae-hub"]
    assert not card.data.eval_results and "model-index" not in committed.read_text().split("---")[1]  # the YAML
    assert "**Not trained yet.**" in card.text and "accelerate launch training/train.py --config" in card.text
    assert card.data.license == "other" and card.data.license_name == "non-commercial-research-only"
    for needle in (
        '"leae-hub/leae-celeba-128"',
        "holds no weights yet",
        "`flwrlabs/celeba`",
        "162,770 training images",
        "178×218",
        "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
        "**Non-commercial research use only.**",
        "Liu, Luo, Wang, Tang 2015",
        "16 img/s on one CPU thread",
        "about 28 h",
        "no GPU time has been measured",
    ):
        assert needle in card.text, needle
    assert "org/leae" not in card.text

    output = tmp_path / "celeba"
    command = [item if item != "model_cards/leae-celeba-128" else str(output) for item in CELEBA_COMMAND]
    monkeypatch.chdir(REPO_ROOT)  # the training config path is relative to the repository root
    cli.hub_main(command)
    assert (output / "README.md").read_text() == committed.read_text(), "re-render the card: leae " + " ".join(
        repr(c) if " " in c else c for c in CELEBA_COMMAND
    )


@pytest.mark.parametrize(
    ("data", "source", "what"),
    [
        ("utkface", "Zhang, Song, Qi 2017", "22,317 aligned and cropped face photos"),
        ("celeba-half", "Liu, Luo, Wang, Tang 2015", "8,468 `img_align_celeba` face images"),
        ("celeba-half-face", "Liu, Luo, Wang, Tang 2015", "cropped to the face before the resize"),
    ],
)
def test_face_data_cards_say_non_commercial_research_only(data, source, what, tmp_path):
    config = leae_hub.LeaeConfig.from_preset("leae-cifar", image_size=64)
    rendered = hub.render_card(config, repo_id="leae-hub/leae-x", recipe="self-teaching", data=data)
    card = ModelCard.load(hub.write_card(tmp_path, rendered))
    assert card.data.license == "other" and card.data.license_name == "non-commercial-research-only"
    assert card.data.license_link == "LICENSE"  # a relative link: the file beside the card in the repo
    assert "non-commercial research only" in (tmp_path / "LICENSE").read_text()
    assert card.data.datasets == list(zoo.data_source(data).hub_datasets) and len(card.data.datasets) == 1
    assert card.data.pipeline_tag == "image-to-image"
    notice = next(line for line in card.text.splitlines() if line.startswith("> **Non-commercial research use only.**"))
    assert source in notice and f"Trained on {zoo.data_source(data).description}" in notice and what in notice
    assert f"Training data: {zoo.data_source(data).description}." in card.text
    with pytest.raises(ValueError, match="contradicts the training data's terms"):
        hub.render_card(config, repo_id="leae-hub/leae-x", recipe="self-teaching", data=data, license="apache-2.0")


@pytest.mark.parametrize(("data", "hub_id"), [("cifar10", "uoft-cs/cifar10"), ("mnist", "ylecun/mnist")])
def test_open_data_cards_keep_apache_and_name_the_hub_dataset(data, hub_id):
    config = leae_hub.LeaeConfig.from_preset("leae-cifar")
    card = ModelCard(str(hub.render_card(config, repo_id="leae-hub/leae-x", recipe="baseline", data=data)))
    assert card.data.license == "apache-2.0" and card.data.datasets == [hub_id]
    assert "Non-commercial" not in card.text and f"Training data: {zoo.data_source(data).description}." in card.text
    with pytest.raises(KeyError, match="no card text for data spec 'nope'"):
        hub.render_card(config, repo_id="leae-hub/leae-x", recipe="baseline", data="nope")


def test_card_cli_renders_into_the_model_folder(evaluated, tmp_path, capsys):
    model, metrics = evaluated
    model.save_pretrained(tmp_path / "model")
    (tmp_path / "eval.json").write_text(json.dumps(metrics))
    (tmp_path / "cfg.yaml").write_text("recipe: masked\n")
    cli.hub_main(
        ["card", "--model", str(tmp_path / "model"), "--repo_id", REPO_ID, "--recipe", "masked",
         "--datasets", "uoft-cs/cifar10", "--metrics", str(tmp_path / "eval.json"),
         "--training_config", str(tmp_path / "cfg.yaml"), "--sample_grid", "samples.png"]
    )  # fmt: skip
    card = ModelCard.load(tmp_path / "model" / "README.md")
    assert model_index_values(card)["psnr"] == metrics["reconstruction"]["psnr"]
    assert f"accelerate launch training/train.py --config {tmp_path / 'cfg.yaml'}" in card.text
    assert "wrote" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------------- publishing


def test_publish_without_a_token_fails_before_any_request(fake_hub: FakeHub, evaluated, tmp_path, monkeypatch):
    folder = save_model_folder(*evaluated, tmp_path / "model")
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(RuntimeError, match="hf auth login"):
        hub.publish(folder, REPO_ID)
    assert fake_hub.attempts == [] and fake_hub.requests == []
    assert REPO_ID not in fake_hub.repos


def test_publish_refuses_incomplete_folders_before_any_request(fake_hub: FakeHub, evaluated, tmp_path):
    folder = save_model_folder(*evaluated, tmp_path / "model")
    (folder / "README.md").write_text("---\nlibrary_name: transformers\n---\n# generic\n")
    with pytest.raises(ValueError, match="not a leae model card"):
        hub.publish(folder, REPO_ID)
    (folder / "README.md").unlink()
    (folder / "preprocessor_config.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"preprocessor_config\.json.*README\.md"):
        hub.publish(folder, REPO_ID)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        hub.publish(tmp_path / "missing", REPO_ID)
    assert fake_hub.attempts == []


def test_publish_is_one_commit_and_loads_bit_equal(fake_hub: FakeHub, evaluated, tmp_path, monkeypatch, capsys):
    model, metrics = evaluated
    folder = save_model_folder(model, metrics, tmp_path / "model")
    (folder / "checkpoint-10").mkdir()  # training leftovers are not uploaded
    (folder / "checkpoint-10" / "optimizer.json").write_text("{}")
    (folder / "notes.txt").write_text("local notes")
    monkeypatch.delenv("HF_TOKEN")
    fake_hub.token = TOKEN  # the fake Hub now rejects writes without exactly this token

    info = hub.publish(folder, REPO_ID, token=TOKEN, private=True)

    repo = fake_hub.repos[REPO_ID]
    assert repo.private
    initial, upload = repo.commits  # the Hub's initial commit, then exactly one of ours
    assert initial.touched == [".gitattributes"]
    assert info.oid == upload.oid == repo.sha
    assert [c.oid for c in fake_hub.commits_touching(REPO_ID, "README.md")] == [upload.oid]
    assert len(fake_hub.requests_matching("POST", "/commit/")) == 1
    copied = {"README.md", "model.safetensors", "samples.png", "eval.json"}  # the card was rendered for REPO_ID
    assert set(upload.added) == copied | {"config.json", "preprocessor_config.json", *hub.REMOTE_CODE_FILES}
    for name in copied:
        assert repo.files[name] == (folder / name).read_bytes(), name
    for name in hub.REMOTE_CODE_FILES:  # from the package, not from the folder
        assert repo.files[name] == (hub.PACKAGE_DIR / name).read_bytes(), name
    assert json.loads(repo.files["config.json"]) == {
        **json.loads((folder / "config.json").read_text()),
        "custom_pipelines": hub.CUSTOM_PIPELINES,
    }
    readme = ModelCard(upload.added["README.md"].decode())
    assert readme.data.tags == ["leae", "self-teaching", "autoencoder", "image-reconstruction", "leae-hub"]
    assert readme.data.library_name == "transformers" and readme.data.pipeline_tag == "image-to-image"
    assert model_index_values(readme)["ssim"] == metrics["reconstruction"]["ssim"]

    loaded = AutoModel.from_pretrained(REPO_ID, token=TOKEN)
    assert type(loaded) is leae_hub.LeaeModel
    expected, actual = model.state_dict(), loaded.state_dict()
    assert list(actual) == list(expected)
    for key, tensor in expected.items():
        assert actual[key].dtype == tensor.dtype and torch.equal(actual[key], tensor), key
    assert fake_hub.unhandled == []

    # The token is never printed nor written: not in the output, not in any file of the folder or of HF_HOME.
    captured = capsys.readouterr()
    assert TOKEN not in captured.out + captured.err
    for path in [*folder.rglob("*"), *(tmp_path / "hf_home").rglob("*")]:
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_publish_cli_uses_hf_token(fake_hub: FakeHub, evaluated, tmp_path, monkeypatch, capsys):
    folder = save_model_folder(*evaluated, tmp_path / "model")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    fake_hub.token = TOKEN
    assert cli.hub_main(["publish", "--model", str(folder), "--repo_id", REPO_ID]) == 0
    output = capsys.readouterr().out
    assert f"published {folder} to {REPO_ID}" in output and TOKEN not in output
    assert len(fake_hub.repos[REPO_ID].commits) == 2 and not fake_hub.repos[REPO_ID].private


def test_card_text_comes_from_the_recipe_class():
    from leae_hub.recipes import RECIPES, Recipe

    assert hub.recipe_card("masked") is RECIPES["masked"].card
    with pytest.raises(ValueError, match="Valid recipes: .*self-teaching"):
        hub.recipe_card("no-such-recipe")

    class Uncarded(Recipe):
        name = "uncarded-for-test"

    RECIPES[Uncarded.name] = Uncarded
    try:
        with pytest.raises(ValueError, match="has no model-card text: give .*Uncarded a class attribute `card = "):
            hub.render_card(tiny_config(), repo_id=REPO_ID, recipe=Uncarded.name)
    finally:
        del RECIPES[Uncarded.name]
