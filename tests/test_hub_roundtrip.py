"""Round trips of a saved leae model + image processor: local folder, HF cache offline, fake Hub, remote code.

Every round trip must give back bit-equal weights and buffers, identical outputs in eval mode, and no missing or
unexpected keys. No network: the Hub is `fakehub.FakeHub`, served in-process through huggingface_hub's httpx2 client.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import huggingface_hub
import numpy as np
import pytest
import torch
from conftest import WITHOUT_LEAE_HUB
from fakehub import FakeHub, fake_hub_fixture, git_blob_oid  # noqa: F401  (fake_hub_fixture registers `fake_hub`)
from huggingface_hub import constants
from transformers import AutoImageProcessor, AutoModel

import leae_hub

REPO_ID = "org/leae-test"
SAVED_FILES = {"config.json", "model.safetensors", "configuration_leae.py", "modeling_leae.py"}
PROCESSOR_FILES = {"preprocessor_config.json", "image_processing_leae.py"}


# ---------------------------------------------------------------------------------------------------- helpers


def make_model() -> leae_hub.LeaeModel:
    """A tiny model whose batch-norm statistics moved away from their defaults, so buffers are checked too."""
    config = leae_hub.LeaeConfig.from_preset("leae-cifar", hidden_channels=16, latent_channels=8)
    model = leae_hub.LeaeModel(config)
    model.train()
    with torch.no_grad():
        model(torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(7)))
    return model.eval()


def make_processor() -> leae_hub.LeaeImageProcessor:
    return leae_hub.LeaeImageProcessor(image_size=32, resample="bilinear")


def fixed_input() -> torch.Tensor:
    return torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1234))


def fixed_image() -> np.ndarray:
    """A non-square uint8 image, so the processor resizes and crops."""
    return np.random.default_rng(0).integers(0, 256, size=(40, 52, 3), dtype=np.uint8)


def save_all(model: leae_hub.LeaeModel, processor: leae_hub.LeaeImageProcessor, folder: Path) -> Path:
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    assert SAVED_FILES | PROCESSOR_FILES <= {p.name for p in folder.iterdir()}
    return folder


def assert_same_model(reference: torch.nn.Module, loaded: torch.nn.Module, loading_info: dict) -> None:
    assert not loading_info["missing_keys"], loading_info
    assert not loading_info["unexpected_keys"], loading_info
    assert not loading_info.get("mismatched_keys"), loading_info
    expected, actual = reference.state_dict(), loaded.state_dict()
    assert list(actual) == list(expected)
    for key, tensor in expected.items():
        assert actual[key].dtype == tensor.dtype, key
        assert torch.equal(actual[key], tensor), key
    assert not loaded.training
    x = fixed_input()
    with torch.no_grad():
        want, got = reference.eval()(x), loaded(x)
    assert torch.equal(got.reconstruction, want.reconstruction)
    assert torch.equal(got.latents, want.latents)


def assert_same_processor(reference: leae_hub.LeaeImageProcessor, loaded) -> None:
    assert type(loaded).__name__ == "LeaeImageProcessor"
    for name in ("image_size", "num_channels", "resample"):
        assert getattr(loaded, name) == getattr(reference, name)
    image = fixed_image()
    assert torch.equal(loaded(image)["pixel_values"], reference(image)["pixel_values"])


def load_model(path_or_repo: str | Path, **kwargs) -> tuple[torch.nn.Module, dict]:
    model, info = AutoModel.from_pretrained(str(path_or_repo), output_loading_info=True, **kwargs)
    return model, info


# ---------------------------------------------------------------------------------------------------- local folder


def test_local_folder_round_trip(tmp_path):
    model, processor = make_model(), make_processor()
    folder = save_all(model, processor, tmp_path / "saved")
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "leae_autoencoder"
    assert config["auto_map"] == {"AutoConfig": "configuration_leae.LeaeConfig", "AutoModel": "modeling_leae.LeaeModel"}

    loaded, info = load_model(folder)
    assert type(loaded) is leae_hub.LeaeModel
    assert_same_model(model, loaded, info)
    assert_same_processor(processor, AutoImageProcessor.from_pretrained(folder))


# ---------------------------------------------------------------------------------------------------- HF cache, offline


def write_cache_layout(cache_dir: Path, repo_id: str, folder: Path) -> str:
    """Lay `folder` out as huggingface_hub would have cached it: blobs, refs/main, snapshots/<sha> of relative links."""
    storage = cache_dir / f"models--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(f"{repo_id} offline snapshot".encode()).hexdigest()
    snapshot = storage / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (storage / "blobs").mkdir()
    for file in sorted(folder.iterdir()):
        content = file.read_bytes()
        etag = hashlib.sha256(content).hexdigest() if file.suffix == ".safetensors" else git_blob_oid(content)
        blob = storage / "blobs" / etag
        blob.write_bytes(content)
        (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
    (storage / "refs").mkdir()
    (storage / "refs" / "main").write_text(commit)
    return commit


def test_hf_cache_layout_offline(fake_hub: FakeHub, tmp_path, monkeypatch):
    model, processor = make_model(), make_processor()
    folder = save_all(model, processor, tmp_path / "saved")
    commit = write_cache_layout(Path(constants.HF_HUB_CACHE), REPO_ID, folder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read at import time; transformers asks huggingface_hub

    loaded, info = load_model(REPO_ID)
    assert type(loaded) is leae_hub.LeaeModel
    assert_same_model(model, loaded, info)
    assert_same_processor(processor, AutoImageProcessor.from_pretrained(REPO_ID))
    assert loaded.name_or_path == REPO_ID
    assert fake_hub.attempts == [], "offline loading must not try the network"
    snapshot = Path(constants.HF_HUB_CACHE) / "models--org--leae-test" / "snapshots" / commit
    assert {p.name for p in snapshot.iterdir()} == SAVED_FILES | PROCESSOR_FILES  # nothing was added


# ---------------------------------------------------------------------------------------------------- fake Hub


def pull_and_check(hub: FakeHub, model, processor, cache: Path, monkeypatch) -> None:
    """Load from the fake Hub into a fresh cache, then compare."""
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    start = len(hub.requests)
    loaded, info = load_model(REPO_ID)
    assert type(loaded) is leae_hub.LeaeModel
    assert_same_model(model, loaded, info)
    assert_same_processor(processor, AutoImageProcessor.from_pretrained(REPO_ID))

    pulled = hub.requests[start:]
    repo = hub.repos[REPO_ID]
    for name in ("config.json", "model.safetensors", "preprocessor_config.json"):
        assert ("HEAD", f"/{REPO_ID}/resolve/{repo.sha}/{name}") in pulled, pulled
    for name in ("config.json", "preprocessor_config.json"):
        assert ("GET", f"/{REPO_ID}/resolve/{repo.sha}/{name}") in pulled, pulled
    weights_sha256 = hashlib.sha256(repo.files["model.safetensors"]).hexdigest()
    assert ("GET", f"/lfs/{weights_sha256}") in pulled, pulled  # weights come from the CDN redirect, like LFS files
    assert {method for method, _ in pulled} <= {"GET", "HEAD"}, "a pull must not write"
    assert hub.unhandled == []
    assert (cache / "models--org--leae-test" / "refs" / "main").read_text() == repo.sha


def test_fake_hub_upload_folder_round_trip(fake_hub: FakeHub, tmp_path, monkeypatch):
    model, processor = make_model(), make_processor()
    folder = save_all(model, processor, tmp_path / "saved")

    huggingface_hub.create_repo(REPO_ID)
    info = huggingface_hub.upload_folder(repo_id=REPO_ID, folder_path=folder, commit_message="Upload leae model")

    repo = fake_hub.repos[REPO_ID]
    initial, upload = repo.commits
    assert initial.message == "initial commit" and initial.touched == [".gitattributes"]
    assert upload.message == "Upload leae model" and upload.parent == initial.oid
    assert set(upload.added) == SAVED_FILES | PROCESSOR_FILES
    assert info.oid == repo.sha == upload.oid
    for name in upload.added:
        assert repo.files[name] == (folder / name).read_bytes()
    assert len(fake_hub.requests_matching("POST", "/commit/")) == 1

    # Uploading the same folder again changes nothing: no new commit (the preupload answer carries the remote oids).
    huggingface_hub.upload_folder(repo_id=REPO_ID, folder_path=folder)
    assert len(repo.commits) == 2

    pull_and_check(fake_hub, model, processor, tmp_path / "pull_cache", monkeypatch)


def test_fake_hub_push_to_hub_round_trip(fake_hub: FakeHub, tmp_path, monkeypatch):
    model, processor = make_model(), make_processor()
    model.push_to_hub(REPO_ID, commit_message="Upload model")
    processor.push_to_hub(REPO_ID, commit_message="Upload processor")

    repo = fake_hub.repos[REPO_ID]
    assert [c.message for c in repo.commits] == ["initial commit", "Upload model", "Upload processor"]
    assert SAVED_FILES | {"README.md"} <= set(repo.commits[1].added)
    assert PROCESSOR_FILES <= set(repo.commits[2].added)
    assert SAVED_FILES | PROCESSOR_FILES | {"README.md", ".gitattributes"} == set(repo.files)
    assert ("POST", "/api/repos/create") in fake_hub.requests
    assert ("POST", "/api/validate-yaml") in fake_hub.requests  # transformers' generic card goes through validation

    pull_and_check(fake_hub, model, processor, tmp_path / "pull_cache", monkeypatch)


def test_fake_hub_errors(fake_hub: FakeHub, tmp_path):
    """The answers transformers relies on to skip optional files and to report missing repos."""
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    fake_hub.add_commit(REPO_ID, {"config.json": b"{}"})
    with pytest.raises(EntryNotFoundError):
        huggingface_hub.hf_hub_download(REPO_ID, "generation_config.json")
    sha = fake_hub.repos[REPO_ID].sha
    no_exist = Path(constants.HF_HUB_CACHE) / "models--org--leae-test" / ".no_exist" / sha / "generation_config.json"
    assert no_exist.exists(), "the miss is cached thanks to X-Repo-Commit on the 404"
    with pytest.raises(RepositoryNotFoundError):
        huggingface_hub.hf_hub_download("org/missing", "config.json")
    with pytest.raises(RevisionNotFoundError):
        huggingface_hub.hf_hub_download(REPO_ID, "config.json", revision="v9")
    assert huggingface_hub.create_repo(REPO_ID, exist_ok=True).repo_id == REPO_ID
    with pytest.raises(huggingface_hub.errors.HfHubHTTPError) as error:
        huggingface_hub.create_repo(REPO_ID)
    assert error.value.response.status_code == 409
    assert sorted(huggingface_hub.list_repo_files(REPO_ID)) == [".gitattributes", "config.json"]
    path = huggingface_hub.snapshot_download(REPO_ID, cache_dir=tmp_path / "snap")
    assert (Path(path) / "config.json").read_bytes() == b"{}"


# ---------------------------------------------------------------------------------------------------- remote code

REMOTE_CODE_SCRIPT = WITHOUT_LEAE_HUB + textwrap.dedent(
    """
    import numpy as np
    import torch
    from transformers import AutoConfig, AutoImageProcessor, AutoModel

    folder, work = sys.argv[1], sys.argv[2]
    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    model, info = AutoModel.from_pretrained(folder, trust_remote_code=True, output_loading_info=True)
    processor = AutoImageProcessor.from_pretrained(folder, trust_remote_code=True)
    for obj in (config, model, processor):
        module = type(obj).__module__
        assert module.startswith("transformers_modules.") and "leae_hub" not in module, module
    assert not any(name == "leae_hub" or name.startswith("leae_hub.") for name in sys.modules if sys.modules[name])
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    with torch.no_grad():
        output = model.eval()(torch.load(f"{work}/input.pt"))
    pixel_values = processor(np.load(f"{work}/image.npy"))["pixel_values"]
    torch.save(
        {
            "state_dict": model.state_dict(),
            "reconstruction": output.reconstruction,
            "latents": output.latents,
            "pixel_values": pixel_values,
            "modules": [type(obj).__module__ for obj in (config, model, processor)],
        },
        f"{work}/result.pt",
    )
    """
)


def test_remote_code_needs_only_torch_and_transformers():
    """transformers refuses remote code whose imports (outside `try`) are not installed: the published files may
    import only the standard library, torch, transformers, numpy and PIL (which transformers itself needs), so a repo
    loads in a venv without timm, accelerate or leae_hub."""
    from transformers.dynamic_module_utils import get_imports

    from leae_hub.hub import PACKAGE_DIR, REMOTE_CODE_FILES

    allowed = {"torch", "transformers", "numpy", "PIL", "huggingface_hub", *sys.stdlib_module_names}
    for name in REMOTE_CODE_FILES:
        extra = set(get_imports(PACKAGE_DIR / name)) - allowed
        assert not extra, f"{name} imports {sorted(extra)} outside a try block"


@pytest.mark.slow
def test_remote_code_without_leae_hub(tmp_path):
    model, processor = make_model(), make_processor()
    folder = save_all(model, processor, tmp_path / "saved")
    work = tmp_path / "work"
    work.mkdir()
    torch.save(fixed_input(), work / "input.pt")
    np.save(work / "image.npy", fixed_image())

    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_"))}
    env.update(HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
    env["PYTHONPATH"] = ""  # src/ must not leak in; the venv's editable install is blocked by the script
    result = subprocess.run(
        [sys.executable, "-c", REMOTE_CODE_SCRIPT, str(folder), str(work)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    remote = torch.load(work / "result.pt")
    assert all(module.startswith("transformers_modules.") for module in remote["modules"]), remote["modules"]
    assert (tmp_path / "hf_home" / "modules" / "transformers_modules").is_dir()

    expected = model.state_dict()
    assert list(remote["state_dict"]) == list(expected)
    for key, tensor in expected.items():
        assert torch.equal(remote["state_dict"][key], tensor), key
    with torch.no_grad():
        output = model(fixed_input())
    for name in ("reconstruction", "latents"):
        assert (remote[name] - getattr(output, name)).abs().max().item() < 1e-6, name
    assert torch.equal(remote["pixel_values"], processor(fixed_image())["pixel_values"])
