"""What `leae publish` puts in a repo, and that the repo works as it is, without `leae_hub`.

Every trained zoo folder (`model_cards/*/` with weights) is dry-run published under another organisation, then loaded in
a subprocess where `import leae_hub` fails: `AutoModel` and the custom pipeline must come from the repo's own code
(copied from `src/leae_hub/` at publish time) and reconstruct exactly like the library.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import huggingface_hub
import numpy as np
import pytest
import torch
from conftest import WITHOUT_LEAE_HUB, model_index_values, tiny_config
from fakehub import FakeHub, fake_hub_fixture  # noqa: F401  (fake_hub_fixture registers `fake_hub`)
from huggingface_hub import ModelCard
from PIL import Image
from safetensors.torch import load_file, save_file
from transformers import AutoImageProcessor, AutoModel, pipeline
from transformers.dynamic_module_utils import get_relative_imports

import leae_hub
from leae_hub import cli, hub

ROOT = Path(__file__).resolve().parents[1]
ZOO_FOLDERS = sorted(path.parent for path in (ROOT / "model_cards").glob("*/model.safetensors"))
CARD_ONLY = ROOT / "model_cards" / "leae-celeba-128"
ORG = "alice"  # not the zoo's default organisation
PLACEHOLDER = re.compile(r"(?<![\w.-])org/")  # "org/NAME", not "arxiv.org/..."
TOKEN = "hf_publish_org_test_token_0123456789"
STAGED_FILES = {
    "README.md", "config.json", "model.safetensors", "preprocessor_config.json", "eval.json", "samples.png",
    "training_config.yaml",
}  # fmt: skip

pytestmark = pytest.mark.usefixtures("one_thread")


def fixed_input(channels: int, size: int) -> torch.Tensor:
    return torch.rand(2, channels, size, size, generator=torch.Generator().manual_seed(1234))


def fixed_image() -> np.ndarray:
    """A non-square uint8 RGB image, so the processor resizes, crops (and converts to grey for MNIST)."""
    return np.random.default_rng(0).integers(0, 256, size=(40, 52, 3), dtype=np.uint8)


def tiny_folder(folder: Path, repo_id: str = "leae-hub/leae-tiny") -> Path:
    """A small trained-looking model folder with a card rendered from its eval.json."""
    torch.manual_seed(3)
    model = leae_hub.LeaeModel(tiny_config()).train()
    with torch.no_grad():  # move the batch-norm statistics away from their defaults
        model(torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(2)))
    model.eval().save_pretrained(folder)
    leae_hub.LeaeImageProcessor(image_size=32).save_pretrained(folder)
    metrics = {
        "data": {"spec": "cifar10", "split": "test", "num_images": 8},
        "reconstruction": {"psnr": 17.25, "ssim": 0.5},
        "model": {"weights_sha256": hub.weights_sha256(folder)},
        "evaluation": {"seed": 0},
    }
    (folder / "eval.json").write_text(json.dumps(metrics))
    card = hub.render_card(folder, repo_id=repo_id, recipe="self-teaching", data="cifar10", metrics=metrics)
    hub.write_card(folder, card)
    return folder


# ---------------------------------------------------------------------------------------------------- dry runs

REMOTE_SCRIPT = WITHOUT_LEAE_HUB + textwrap.dedent(
    """
    import numpy as np
    import torch
    from transformers import AutoModel, pipeline

    work = sys.argv[1]
    image = np.load(f"{work}/image.npy")
    for repo in sys.argv[2:]:
        model = AutoModel.from_pretrained(repo, trust_remote_code=True).eval()
        size, channels = model.config.image_size, model.config.in_channels
        with torch.no_grad():
            reconstruction = model(torch.load(f"{work}/input-{channels}-{size}.pt")).reconstruction
        reconstruct = pipeline(model=repo, trust_remote_code=True)
        single, batch = reconstruct(image), reconstruct([image, image])
        assert not any(name == "leae_hub" or name.startswith("leae_hub.") for name in sys.modules if sys.modules[name])
        torch.save(
            {
                "reconstruction": reconstruction,
                "image": np.asarray(single["image"]),
                "mode": single["image"].mode,
                "psnr": single["psnr"],
                "batch": [(np.asarray(item["image"]), item["psnr"]) for item in batch],
                "modules": [type(obj).__module__ for obj in (model, reconstruct)],
                "pipeline": type(reconstruct).__name__,
            },
            f"{work}/{repo.rstrip('/').split('/')[-1]}.pt",
        )
    """
)


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory) -> dict[str, Path]:
    """{name: dry-run folder} for every trained zoo folder and a tiny model, published as alice/NAME; the remote-code
    subprocess has run on all of them (results in `work/NAME.pt`)."""
    base = tmp_path_factory.mktemp("dry_runs")
    folders = {folder.name: folder for folder in ZOO_FOLDERS}
    folders["leae-tiny"] = tiny_folder(base / "source" / "leae-tiny")
    outputs = {}
    for name, folder in folders.items():
        outputs[name] = base / "repos" / name
        command = ["publish", "--model", str(folder), "--repo_id", f"{ORG}/{name}", "--dry_run", str(outputs[name])]
        assert cli.hub_main(command) == 0
    work = base / "work"
    work.mkdir()
    np.save(work / "image.npy", fixed_image())
    for out in outputs.values():
        config = leae_hub.LeaeConfig.from_pretrained(out)
        channels, size = config.in_channels, config.image_size
        torch.save(fixed_input(channels, size), work / f"input-{channels}-{size}.pt")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_"))}
    env.update(HF_HOME=str(base / "hf_home"), HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1", PYTHONPATH="")
    env["OMP_NUM_THREADS"] = "1"
    result = subprocess.run(
        [sys.executable, "-c", REMOTE_SCRIPT, str(work), *map(str, outputs.values())],
        cwd=base,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return outputs | {"work": work}


def _source(name: str, dry_runs: dict[str, Path]) -> Path:
    return dry_runs["leae-tiny"].parents[1] / "source" / name if name == "leae-tiny" else ROOT / "model_cards" / name


NAMES = [folder.name for folder in ZOO_FOLDERS] + ["leae-tiny"]


def test_the_zoo_has_trained_folders():
    assert len(ZOO_FOLDERS) >= 5, ZOO_FOLDERS


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_dry_run_writes_exactly_the_repo(dry_runs, name):
    source, out = _source(name, dry_runs), dry_runs[name]
    staged = {path.name for path in source.iterdir() if path.suffix != ".py"}
    assert sorted(path.name for path in out.iterdir()) == sorted(staged | set(hub.REMOTE_CODE_FILES))
    for code in hub.REMOTE_CODE_FILES:  # the code is the library's, whatever the folder held
        assert (out / code).read_bytes() == (ROOT / "src" / "leae_hub" / code).read_bytes(), code
    for unchanged in staged - {"README.md", "config.json", "preprocessor_config.json"}:
        assert (out / unchanged).read_bytes() == (source / unchanged).read_bytes(), unchanged

    config, source_config = (json.loads((f / "config.json").read_text()) for f in (out, source))
    assert config["auto_map"] == hub.CONFIG_AUTO_MAP and config["custom_pipelines"] == hub.CUSTOM_PIPELINES
    assert {k: v for k, v in config.items() if k not in ("auto_map", "custom_pipelines")} == {
        k: v for k, v in source_config.items() if k not in ("auto_map", "custom_pipelines")
    }
    processor = json.loads((out / "preprocessor_config.json").read_text())
    assert processor["auto_map"] == hub.PROCESSOR_AUTO_MAP
    for reference in [*config["auto_map"].values(), *processor["auto_map"].values()]:
        assert (out / f"{reference.split('.')[0]}.py").is_file(), reference

    # The card names the given repo everywhere, and its numbers are those of the one eval.json.
    text = (out / "README.md").read_text()
    card = ModelCard(text)
    assert f"{ORG}/{name}" in text and f"leae-hub/{name}" not in text and not PLACEHOLDER.search(text)
    assert f'AutoModel.from_pretrained("{ORG}/{name}", trust_remote_code=True, revision=revision)' in text
    assert f'pipeline(model="{ORG}/{name}", trust_remote_code=True, revision=revision)' in text
    assert card.data.model_name == f"{ORG}/{name}"  # the model-index name
    assert card.data.pipeline_tag == "image-to-image"  # the Hub's task filter
    if card.data.license == "other":  # face data: the license file the card links to goes up with it
        assert (
            card.data.license_link == "LICENSE"
            and (out / "LICENSE").read_text() == hub.LICENSE_TEXTS[card.data.license_name]
        )
    evaluation = json.loads((out / "eval.json").read_text())
    values = model_index_values(card)
    assert values["psnr"] == evaluation["reconstruction"]["psnr"]
    assert values.get("ssim") == evaluation["reconstruction"].get("ssim")
    assert f"| reconstruction | PSNR (dB) | {evaluation['reconstruction']['psnr']:.2f} |" in text


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_dry_run_loads_and_reconstructs_without_leae_hub(dry_runs, name):
    remote = torch.load(dry_runs["work"] / f"{name}.pt", weights_only=False)
    assert all(module.startswith("transformers_modules.") for module in remote["modules"]), remote["modules"]
    assert remote["pipeline"] == "LeaeReconstructionPipeline"

    model = AutoModel.from_pretrained(_source(name, dry_runs)).eval()
    assert type(model) is leae_hub.LeaeModel
    with torch.no_grad():
        expected = model(fixed_input(model.config.in_channels, model.config.image_size)).reconstruction
    assert (remote["reconstruction"] - expected).abs().max().item() <= 1e-6

    # The pipeline: the library's processor, model and postprocess, and the PSNR against the processed input.
    processor = AutoImageProcessor.from_pretrained(_source(name, dry_runs))
    pixel_values = processor(fixed_image())["pixel_values"]
    with torch.no_grad():
        reconstruction = model(pixel_values).reconstruction
    image = processor.postprocess(reconstruction)[0]
    assert remote["image"].shape[:2] == (model.config.image_size,) * 2
    assert remote["mode"] == ("L" if model.config.in_channels == 1 else "RGB")
    assert np.array_equal(remote["image"], np.asarray(image))
    mse = torch.mean((reconstruction - pixel_values) ** 2).item()
    assert remote["psnr"] == pytest.approx(-10 * np.log10(mse), abs=1e-6)
    assert len(remote["batch"]) == 2
    for batch_image, batch_psnr in remote["batch"]:
        assert np.array_equal(batch_image, remote["image"]) and batch_psnr == pytest.approx(remote["psnr"], abs=1e-6)


def test_remote_code_files_import_only_each_other():
    for name in hub.REMOTE_CODE_FILES:
        relative = {f"{module}.py" for module in get_relative_imports(str(hub.PACKAGE_DIR / name))}
        assert relative <= set(hub.REMOTE_CODE_FILES), (name, relative)


def test_pipeline_is_registered_with_leae_hub_imported():
    model = leae_hub.LeaeModel(tiny_config()).eval()
    processor = leae_hub.LeaeImageProcessor(image_size=32)
    reconstruct = pipeline(leae_hub.PIPELINE_TASK, model=model, image_processor=processor)
    assert type(reconstruct) is leae_hub.LeaeReconstructionPipeline
    result = reconstruct(Image.fromarray(fixed_image()))
    with torch.no_grad():
        expected = processor.postprocess(model(processor(fixed_image())["pixel_values"]).reconstruction)[0]
    assert np.array_equal(np.asarray(result["image"]), np.asarray(expected)) and isinstance(result["psnr"], float)


def test_leae_hub_pipeline_runs_published_and_local_folders_with_its_own_code(tmp_path, monkeypatch):
    """A published repo (config.json names its pipeline file) and a plain folder, offline: leae_hub.pipeline uses the
    installed classes, with no remote code and no prompt (a prompt would read stdin, which pytest closes)."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    folder = tiny_folder(tmp_path / "leae-tiny")
    hub.prepare_repo(folder, f"{ORG}/leae-tiny", tmp_path / "published")
    assert json.loads((tmp_path / "published" / "config.json").read_text())["custom_pipelines"]
    image = Image.fromarray(fixed_image())
    results = []
    for path in (folder, tmp_path / "published"):
        reconstruct = leae_hub.pipeline(str(path))
        assert type(reconstruct) is leae_hub.LeaeReconstructionPipeline
        assert type(reconstruct.model) is leae_hub.LeaeModel
        results.append(reconstruct(image))
    assert np.array_equal(np.asarray(results[0]["image"]), np.asarray(results[1]["image"]))


# ---------------------------------------------------------------------------------------------------- checks


def test_dry_run_refuses_what_a_publish_would_refuse(tmp_path):
    folder = tiny_folder(tmp_path / "leae-tiny")
    with pytest.raises(ValueError, match="name differs from --repo_id"):
        hub.prepare_repo(folder, f"{ORG}/other-name", tmp_path / "out1")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        hub.prepare_repo(folder, f"{ORG}/leae-tiny", tmp_path / "busy")

    metrics = json.loads((folder / "eval.json").read_text())
    metrics["reconstruction"]["psnr"] += 0.5  # eval.json no longer the card's source
    (folder / "eval.json").write_text(json.dumps(metrics))
    with pytest.raises(ValueError, match=r"was not rendered from .*eval\.json.*psnr"):
        command = ["publish", "--model", str(folder), "--repo_id", f"{ORG}/leae-tiny"]
        cli.hub_main([*command, "--dry_run", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists() and not (tmp_path / "out1").exists()


def _nan_weights(folder: Path) -> None:
    weights = load_file(folder / "model.safetensors")
    next(tensor for tensor in weights.values() if tensor.is_floating_point()).view(-1)[0] = float("nan")
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})


def _other_config(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "hidden_channels": config["hidden_channels"] * 2}))


def _tampered_table(folder: Path) -> None:
    text = (folder / "README.md").read_text()
    (folder / "README.md").write_text(
        text.replace("| reconstruction | PSNR (dB) | 17.25 |", "| reconstruction | PSNR (dB) | 27.25 |")
    )


def _eval_json_edited_to_match(folder: Path) -> None:
    """A card made to say 27.25 dB and an eval.json edited to agree, for the same weights: nothing measured 27.25."""
    metrics = json.loads((folder / "eval.json").read_text())
    metrics["model"]["weights_sha256"] = "0" * 64
    (folder / "eval.json").write_text(json.dumps(metrics))


# (what, damage(folder), message)
PUBLISH_REFUSALS = [
    ("link outside", lambda f: (f / "notes.md").symlink_to("/etc/hostname"), "is a link to /etc/hostname, outside"),
    ("stray json", lambda f: (f / "credentials.json").write_text('{"token": "x"}'), "credentials.json. Remove them"),
    ("NaN weights", _nan_weights, "does not load as a leae model .*NaN"),
    ("random bytes as weights", lambda f: (f / "model.safetensors").write_bytes(os.urandom(4096)), "does not load"),
    ("config of another size", _other_config, "does not load as a leae model"),
    ("table contradicts eval.json", _tampered_table, "evaluation tables do not show .*17.25"),
    ("card without eval.json", lambda f: (f / "eval.json").unlink(), "shows metrics but the folder has no eval.json"),
    ("eval.json of other weights", _eval_json_edited_to_match, "measured other weights"),
]


@pytest.mark.parametrize(("what", "damage", "words"), PUBLISH_REFUSALS, ids=[case[0] for case in PUBLISH_REFUSALS])
def test_publish_refuses_what_it_cannot_vouch_for(tmp_path, what, damage, words):
    folder = tiny_folder(tmp_path / "leae-tiny")
    damage(folder)
    with pytest.raises(ValueError, match=words):
        hub.prepare_repo(folder, f"{ORG}/leae-tiny", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_card_that_links_its_license_goes_up_with_the_file(tmp_path):
    folder = tiny_folder(tmp_path / "leae-tiny")
    metrics = json.loads((folder / "eval.json").read_text())
    hub.write_card(
        folder,
        hub.render_card(folder, repo_id="leae-hub/leae-tiny", recipe="self-teaching", data="utkface", metrics=metrics),
    )
    assert hub.prepare_repo(folder, f"{ORG}/leae-tiny", tmp_path / "out").count("LICENSE") == 1
    assert (tmp_path / "out" / "LICENSE").read_text() == (folder / "LICENSE").read_text()
    (folder / "LICENSE").unlink()
    with pytest.raises(FileNotFoundError, match="links its license to LICENSE, which the folder lacks"):
        hub.prepare_repo(folder, f"{ORG}/leae-tiny", tmp_path / "out2")


def test_a_stray_file_goes_up_only_when_included(tmp_path):
    folder = tiny_folder(tmp_path / "leae-tiny")
    (folder / "notes.md").write_text("how it was trained\n")
    files = hub.prepare_repo(folder, f"{ORG}/leae-tiny", tmp_path / "out", include=["notes.md"])
    assert "notes.md" in files and (tmp_path / "out" / "notes.md").read_text() == "how it was trained\n"


def test_code_in_the_folder_is_never_published(tmp_path):
    folder = tiny_folder(tmp_path / "leae-tiny")
    (folder / "modeling_leae.py").write_text("raise RuntimeError('a stale copy')\n")
    (folder / "helper.py").write_text("x = 1\n")
    files = hub.prepare_repo(folder, f"{ORG}/leae-tiny", tmp_path / "out")
    assert "helper.py" not in files
    assert (tmp_path / "out" / "modeling_leae.py").read_bytes() == (hub.PACKAGE_DIR / "modeling_leae.py").read_bytes()


# ---------------------------------------------------------------------------------------------------- fake Hub


def test_publish_under_another_org_names_that_org(fake_hub: FakeHub, tmp_path, monkeypatch, capsys):
    folder = ROOT / "model_cards" / "leae-cifar10-32-self-teaching"
    if not (folder / "model.safetensors").exists():
        pytest.skip(f"{folder} is not staged")
    repo_id = f"{ORG}/{folder.name}"
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    fake_hub.token = TOKEN
    assert cli.hub_main(["publish", "--model", str(folder), "--repo_id", repo_id]) == 0
    assert TOKEN not in capsys.readouterr().out

    initial, upload = fake_hub.repos[repo_id].commits
    assert set(upload.added) == STAGED_FILES | set(hub.REMOTE_CODE_FILES)
    readme = upload.added["README.md"].decode()
    assert f'AutoModel.from_pretrained("{repo_id}")' in readme and "leae-hub/" not in readme
    assert ModelCard(readme).data.model_name == repo_id
    assert json.loads(upload.added["config.json"])["custom_pipelines"] == hub.CUSTOM_PIPELINES
    loaded = AutoModel.from_pretrained(repo_id, token=TOKEN)
    reference = AutoModel.from_pretrained(folder)
    for key, tensor in reference.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor), key
    assert fake_hub.unhandled == []


def test_card_only_entry(fake_hub: FakeHub, tmp_path, monkeypatch):
    repo_id = f"{ORG}/{CARD_ONLY.name}"
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    fake_hub.token = TOKEN
    with pytest.raises(FileNotFoundError, match="has no weights: it is a card-only entry.*--card_only"):
        hub.publish(CARD_ONLY, repo_id)
    with pytest.raises(ValueError, match="holds a model.*without --card_only"):
        hub.publish(ZOO_FOLDERS[0], f"{ORG}/{ZOO_FOLDERS[0].name}", card_only=True)
    assert fake_hub.attempts == []

    assert hub.prepare_repo(CARD_ONLY, repo_id, tmp_path / "dry", card_only=True) == ["LICENSE", "README.md"]
    hub.publish(CARD_ONLY, repo_id, card_only=True)
    _, upload = fake_hub.repos[repo_id].commits
    assert sorted(upload.added) == ["LICENSE", "README.md"]
    readme = upload.added["README.md"].decode()
    assert hub.NOT_TRAINED in readme and "holds no weights yet" in readme
    assert f'"{repo_id}"' in readme and "leae-hub/" not in readme
    assert readme == (tmp_path / "dry" / "README.md").read_text()

    trained_card = tmp_path / "trained"
    trained_card.mkdir()
    for name in ("README.md", "LICENSE"):
        if (ZOO_FOLDERS[0] / name).exists():
            shutil.copy(ZOO_FOLDERS[0] / name, trained_card / name)
    with pytest.raises(ValueError, match="does not say the model is not trained"):
        hub.prepare_repo(trained_card, f"{ORG}/{ZOO_FOLDERS[0].name}", tmp_path / "dry2", card_only=True)
