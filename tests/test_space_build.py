"""The deployable Space folder (spaces/leae-demo/build_space.py): its front matter agrees with the zoo and the installed
gradio, and (slow) a fresh virtualenv installs it from its requirements.txt alone, like the Hugging Face builder, then
serves it. Offline: the wheel is served from 127.0.0.1 in place of the Space repo's download URL."""

import functools
import http.server
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
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
    assert meta["models"] == zoo.trained_repo_ids("leae-hub")
    assert "leae-hub/leae-celeba-128" not in meta["models"]  # a card without weights


def test_readme_models_follow_the_org(builder):
    text = (SPACE_DIR / "README.md").read_text(encoding="utf-8")
    rewritten = builder.space_readme(text, zoo.trained_repo_ids("alice"))
    meta = _front_matter(rewritten)
    assert meta["models"] == zoo.trained_repo_ids("alice")
    assert rewritten.split("\n---\n", 1)[1] == text.split("\n---\n", 1)[1]  # the body is unchanged
    with pytest.raises(ValueError, match="front matter"):
        builder.space_readme("# no front matter\n", [])


def test_wheel_requirement_is_pinned(builder, tmp_path):
    wheel = tmp_path / "leae_hub-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel")
    assert builder.wheel_requirement(wheel, ".") == "./leae_hub-0.1.0-py3-none-any.whl"
    line = builder.wheel_requirement(wheel, "https://huggingface.co/spaces/alice/leae-demo/resolve/main/")
    assert line == (
        "leae-hub @ https://huggingface.co/spaces/alice/leae-demo/resolve/main/leae_hub-0.1.0-py3-none-any.whl"
        f"#sha256={builder.sha256(wheel)}"
    )
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        builder.build_space(tmp_path / "full")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


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


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_space_installs_from_its_requirements_and_serves(builder, tmp_path):
    """Build the Space, install it into a fresh venv from requirements.txt alone (plus gradio at sdk_version, as the
    Space SDK does), start app.py with a model staged in the Space's model_cards/, and reconstruct one example."""
    gradio_client = pytest.importorskip("gradio_client")
    version = _front_matter((SPACE_DIR / "README.md").read_text(encoding="utf-8"))["sdk_version"]
    if f"{sys.version_info.major}.{sys.version_info.minor}" not in SUPPORTED_PYTHONS:
        pytest.skip(f"Python {sys.version_info.major}.{sys.version_info.minor} is not one the Space supports")

    # The Space's wheel is downloaded from the Space repo; here, from a loopback server over the built folder.
    space = tmp_path / "space"
    space.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(space))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", _free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        builder.build_space(space, org="leae-hub", url_base=f"http://127.0.0.1:{server.server_port}")
        requirements = (space / "requirements.txt").read_text()
        assert re.search(r"^leae-hub @ http://127\.0\.0\.1:\d+/leae_hub-0\.1\.0-py3-none-any\.whl#sha256=[0-9a-f]{64}$",
                         requirements, flags=re.M), requirements  # fmt: skip
        assert "gradio" not in requirements.replace("gradio itself", "")
        assert sorted(p.name for p in space.iterdir()) == [
            "README.md", "app.py", "examples", "leae_hub-0.1.0-py3-none-any.whl", "requirements.txt",
        ]  # fmt: skip
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
    finally:
        server.shutdown()
        server.server_close()
    where = subprocess.run(
        [str(python), "-c", "import leae_hub; print(leae_hub.__file__)"], capture_output=True, text=True, check=True
    ).stdout
    assert str(venv) in where, f"leae_hub should come from the venv, not {where}"
    no_matplotlib = subprocess.run([str(python), "-c", "import matplotlib"], capture_output=True, text=True)
    assert no_matplotlib.returncode != 0, "the Space's requirements should not need matplotlib"

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
        # The Lab tab trains from the wheel's leae_hub.lab and draws with Pillow alone: the Space has no matplotlib.
        landscape, report = client.predict("jepa-masked", 50, 0, api_name="/lab_mog")
        assert "step 50 of 50" in report and Image.open(landscape).format == "PNG"
        series, table = client.predict(8.0, 50, 0, api_name="/lab_noisy_tv")
        assert table.endswith("All five models trained.") and Image.open(series).format == "PNG"
    finally:
        process.terminate()
        process.wait(timeout=30)
