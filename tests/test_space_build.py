"""The deployable Space folder (spaces/leae-demo/build_space.py): its front matter agrees with the zoo, the installed
gradio and the Hub's rules, and (slow) a fresh virtualenv installs a folder built for another organisation from its
requirements.txt alone, like the Hugging Face builder, then serves that organisation's repos."""

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image

import leae_hub
from leae_hub import zoo

SPACE_DIR = Path(__file__).resolve().parents[1] / "spaces" / "leae-demo"
SUPPORTED_PYTHONS = ("3.11", "3.12")  # pyproject: requires-python >= 3.11


@pytest.fixture(scope="module")
def builder():
    """build_space.py, imported by path."""
    spec = importlib.util.spec_from_file_location("leae_demo_build_space", SPACE_DIR / "build_space.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _front_matter(text: str) -> dict:
    match = re.match(r"---\n(.*?)\n---\n", text, flags=re.S)
    assert match, "README.md has no front matter"
    return yaml.safe_load(match.group(1))


def test_front_matter_matches_the_zoo_and_gradio():
    gradio = pytest.importorskip("gradio")
    meta = _front_matter((SPACE_DIR / "README.md").read_text(encoding="utf-8"))
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert str(meta["python_version"]) in SUPPORTED_PYTHONS
    assert str(meta["sdk_version"]).split(".")[0] == gradio.__version__.split(".")[0]
    assert str(meta["sdk_version"]) == gradio.__version__, "sdk_version should be the gradio the tests run with"
    assert meta["models"] == meta["preload_from_hub"] == zoo.trained_repo_ids("leae-hub")
    assert "leae-hub/leae-celeba-128" not in meta["models"]  # a card without weights
    assert len(meta["short_description"]) <= 60  # the Hub's limit
    # The Space ships face photos and serves face models under non-commercial terms: not a plain Apache-2.0 Space.
    assert (meta["license"], meta["license_link"]) == ("other", "LICENSE")
    assert "non-commercial research" in (SPACE_DIR / "LICENSE").read_text()


def test_readme_models_follow_the_org(builder):
    text = (SPACE_DIR / "README.md").read_text(encoding="utf-8")
    rewritten = builder.space_readme(text, zoo.trained_repo_ids("alice"))
    meta = _front_matter(rewritten)
    assert meta["models"] == meta["preload_from_hub"] == zoo.trained_repo_ids("alice")
    assert rewritten.split("\n---\n", 1)[1] == text.split("\n---\n", 1)[1]  # the body is unchanged
    with pytest.raises(ValueError, match="front matter"):
        builder.space_readme("# no front matter\n", [])


def test_build_bakes_in_the_org_and_ships_the_package_source(builder, tmp_path):
    space = builder.build_space(tmp_path / "space", org="alice")
    assert sorted(p.name for p in space.iterdir()) == [
        "LICENSE", "README.md", "app.py", "examples", "leae_hub", "requirements.txt",
    ]  # fmt: skip
    assert 'SPACE_ORG: str | None = "alice"\n' in (space / "app.py").read_text()
    source = SPACE_DIR.parents[1] / "src" / "leae_hub"
    for path in source.rglob("*.py"):
        if "__pycache__" not in path.parts and path != source / "space" / "app.py":
            assert (space / "leae_hub" / path.relative_to(source)).read_bytes() == path.read_bytes(), path
    assert not list((space / "leae_hub").rglob("__pycache__"))
    assert not (space / "leae_hub" / "space" / "app.py").exists()  # the packaged app is the Space's own app.py here
    requirements = [line for line in (space / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    assert requirements == [builder.CPU_TORCH_INDEX, *builder.core_requirements()]
    assert "gradio" not in requirements and not any("leae" in line or "http" in line[2:] for line in requirements[1:])
    gpu = builder.build_space(tmp_path / "gpu", org="alice", hardware="gpu")
    assert builder.CPU_TORCH_INDEX not in (gpu / "requirements.txt").read_text()
    with pytest.raises(ValueError, match="hardware must be one of cpu, gpu, got 'tpu'"):
        builder.build_space(tmp_path / "tpu", hardware="tpu")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        builder.build_space(tmp_path / "full")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"app.py exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail(f"app.py did not serve {url} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


REMOTE_LOAD = """
import importlib.util, sys
from pathlib import Path
import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModel
absent = [m for m in ("leae_hub", "timm", "accelerate", "torchvision") if importlib.util.find_spec(m)]
assert not absent, absent
import huggingface_hub, transformers
print("torch", torch.__version__.split("+")[0], "transformers", transformers.__version__, end=" ")
print("huggingface_hub", huggingface_hub.__version__)
repo, examples = sys.argv[1], Path(sys.argv[2])
model = AutoModel.from_pretrained(repo, trust_remote_code=True).eval()
processor = AutoImageProcessor.from_pretrained(repo, trust_remote_code=True)
assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
pixels = processor([Image.open(p) for p in sorted(examples.glob("*.jpg"))[:4]]).pixel_values
with torch.no_grad():
    out = model(pixels).reconstruction
psnr = (10 * torch.log10(1 / ((out - pixels) ** 2).mean())).item()
assert out.shape == pixels.shape and psnr > 20, psnr
print("reconstructed")
"""


# The README's first snippet, as written, with leae_hub (the Space's copy: run from the Space's folder) and the zoo repo
# replaced by a published folder: the core install at work (Auto classes, inpaint, the pipeline).
README_SNIPPET = """
import re, sys
import torch
readme, repo, face = sys.argv[1:]
block = next(b for b in re.findall(r"```python\\n(.*?)```", open(readme).read(), flags=re.S) if "model.inpaint" in b)
namespace = {}
exec(block.replace('"leae-hub/leae-faces-128"', repr(repo)).replace('"face.jpg"', repr(face)), namespace)
pixels, mask, filled = namespace["pixel_values"], namespace["mask"], namespace["filled"]
assert torch.equal(filled * (1 - mask), pixels * (1 - mask)) and namespace["result"]["psnr"] > 20
print("snippet ran")
"""


def core_floors() -> dict[str, str]:
    """The lowest torch, transformers and huggingface_hub that pyproject.toml allows, as exact versions (`>=5.18` ->
    `5.18.0`)."""
    import tomllib

    requirements = tomllib.loads((SPACE_DIR.parents[1] / "pyproject.toml").read_text())["project"]["dependencies"]
    floors = {}
    for requirement in requirements:
        name, _, version = requirement.partition(">=")
        if name in ("torch", "transformers", "huggingface_hub"):
            floors[name] = version if version.count(".") == 2 else f"{version}.0"
    return floors


def _load_remotely(python: Path, repo: Path, examples: Path, tmp_path: Path, expect: str = "") -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "OMP_NUM_THREADS": "1"}
    loaded = subprocess.run(
        [str(python), "-c", REMOTE_LOAD, str(repo), str(examples)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stdout[-3000:] + loaded.stderr[-3000:]
    assert loaded.stdout.split()[-1] == "reconstructed", loaded.stdout
    assert expect in loaded.stdout, loaded.stdout


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_space_installs_from_its_requirements_and_serves(builder, tmp_path):
    """Build the Space, install it into a fresh venv from requirements.txt alone (plus gradio at sdk_version, as the
    Space SDK does), start app.py with a model staged in the Space's model_cards/, and reconstruct one example. A
    published zoo repo loads from its own code there (newest versions) and in a second venv at the version floors,
    where the README's snippet also runs with the core."""
    gradio_client = pytest.importorskip("gradio_client")
    version = _front_matter((SPACE_DIR / "README.md").read_text(encoding="utf-8"))["sdk_version"]
    if f"{sys.version_info.major}.{sys.version_info.minor}" not in SUPPORTED_PYTHONS:
        pytest.skip(f"Python {sys.version_info.major}.{sys.version_info.minor} is not one the Space supports")

    # Built for another organisation; `--hardware gpu` because PyTorch's CPU index is out of this machine's reach (the
    # cpu build differs only in that one requirements line: test_build_bakes_in_the_org_and_ships_the_package_source).
    space = builder.build_space(tmp_path / "space", org="someorg", hardware="gpu")
    assert (space / "examples" / "LICENSE.md").is_file()

    # Like the Hub's builder: requirements.txt alone, in a folder without the Space's files.
    install_dir = tmp_path / "install"
    install_dir.mkdir()
    shutil.copy2(space / "requirements.txt", install_dir / "requirements.txt")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    started = time.monotonic()
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", "requirements.txt", f"gradio=={version}"],
        cwd=install_dir, capture_output=True, text=True, timeout=480,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    print(f"\nfresh venv install: {time.monotonic() - started:.0f} s")
    where = subprocess.run(
        [str(python), "-c", "import leae_hub; print(leae_hub.__file__)"],
        cwd=space, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert where.strip() == str(space / "leae_hub" / "__init__.py"), f"leae_hub should be the Space's copy: {where}"
    no_matplotlib = subprocess.run([str(python), "-c", "import matplotlib"], capture_output=True, text=True)
    assert no_matplotlib.returncode != 0, "the Space's requirements should not need matplotlib"

    # The same venv holds the core's libraries and gradio's, and neither leae_hub (outside the Space's folder), timm,
    # accelerate nor torchvision: a zoo repo as publish writes it loads there from its own code and reconstructs.
    zoo_folder = SPACE_DIR.parents[1] / "model_cards" / "leae-faces-128"
    repo = tmp_path / "repo"
    if (zoo_folder / "model.safetensors").is_file():
        from leae_hub import hub

        hub.prepare_repo(zoo_folder, "someorg/leae-faces-128", repo)
        _load_remotely(python, repo, space / "examples", tmp_path)

    # A tiny 64-px face-sized model, staged where a Space that ships its models keeps them.
    torch.manual_seed(0)
    staged = space / "model_cards" / "leae-celeba-64"
    leae_hub.LeaeModel(leae_hub.LeaeConfig.from_preset("leae-cifar", image_size=64)).save_pretrained(staged)
    leae_hub.LeaeImageProcessor(image_size=64).save_pretrained(staged)

    port = _free_port()
    log = tmp_path / "app.log"
    env = {
        **os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
        "GRADIO_SERVER_PORT": str(port), "HF_HOME": str(tmp_path / "hf"),
    }  # fmt: skip
    with open(log, "w") as output:
        process = subprocess.Popen([str(python), "app.py"], cwd=space, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_for(url, process, log, timeout=180)
        client = gradio_client.Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
        example = space / "examples" / "utkface-25_1_0_20170109213232182.jpg"
        original, reconstruction, report = client.predict(
            gradio_client.handle_file(str(example)), "leae-celeba-64", api_name="/reconstruct"
        )
        for path in (original, reconstruction):
            with Image.open(path) as image:
                assert image.format == "PNG" and image.size == (64, 64)
        assert "PSNR" in report and "32×8×8" in report
        # The Lab tab trains from the Space's leae_hub.lab and draws with Pillow alone: the Space has no matplotlib.
        landscape, report = client.predict("jepa-masked", 50, 0, api_name="/lab_mog")
        assert "step 50 of 50" in report and Image.open(landscape).format == "PNG"
        series, table = client.predict(8.0, 50, 0, api_name="/lab_noisy_tv")
        assert table.endswith("All five models trained.") and Image.open(series).format == "PNG"
        menu = next(line for line in log.read_text().splitlines() if "zoo repos of" in line)
        assert "zoo repos of someorg;" in menu and "someorg/leae-faces-128" in menu and "leae-hub/" not in menu
    finally:
        process.terminate()
        process.wait(timeout=30)

    # And at the floors of pyproject.toml, in a second fresh venv holding just torch, transformers and huggingface_hub
    # at their floors, safetensors and pillow (and what they pull in): PyPI's CUDA build of torch 2.5, about a minute
    # the first time, from pip's cache after.
    if repo.is_dir():
        floors = core_floors()
        floor_venv = tmp_path / "floor-venv"
        subprocess.run([sys.executable, "-m", "venv", str(floor_venv)], check=True, timeout=120)
        python = floor_venv / "bin" / "python"
        pins = [f"{name}=={version}" for name, version in floors.items()]
        install = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *pins, "safetensors", "pillow"],
            capture_output=True, text=True, timeout=480,
        )  # fmt: skip
        assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
        expect = " ".join(f"{name} {version}" for name, version in floors.items())
        _load_remotely(python, repo, space / "examples", tmp_path, expect=expect)
        readme, face = SPACE_DIR.parents[1] / "README.md", space / "examples" / "utkface-25_1_0_20170109213232182.jpg"
        snippet = subprocess.run(
            [str(python), "-c", README_SNIPPET, str(readme), str(repo), str(face)],
            cwd=space, capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )  # fmt: skip
        assert snippet.stdout.strip().endswith("snippet ran"), snippet.stdout[-3000:] + snippet.stderr[-3000:]
