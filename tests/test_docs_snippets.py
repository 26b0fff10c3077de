"""Code snippets in the docs: remote code is only trusted with a pinned revision, and never where leae_hub is
installed (issue 14, item 8)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import huggingface_hub
import pytest
import torch
from conftest import tiny_config
from fakehub import fake_hub_fixture  # noqa: F401  (registers the `fake_hub` fixture)

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = [ROOT / "model_cards" / "template.md", ROOT / "src" / "leae_hub" / "templates" / "model_card.md"]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *TEMPLATES]


def python_blocks(text: str) -> list[str]:
    """The ```python fenced blocks of a Markdown text."""
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("path", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_remote_code_only_with_a_pinned_revision_and_without_leae_hub(path):
    for block in python_blocks(path.read_text(encoding="utf-8")):
        calls = [line for line in block.splitlines() if "trust_remote_code=True" in line]
        if not calls:
            continue
        assert "import leae_hub" not in block, f"{path}: trust_remote_code=True where leae_hub is imported:\n{block}"
        for line in calls:
            assert "revision=" in line, f"{path}: trust_remote_code=True without a pinned revision: {line.strip()}"
        assert re.search(r"^revision = ", block, flags=re.M), f"{path}: the snippet does not set revision"


def test_the_snippets_are_there_to_check():
    readme = python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert any("trust_remote_code=True, revision=revision" in block for block in readme)
    assert any("import leae_hub" in block and "from_pretrained" in block for block in readme)
    for template in TEMPLATES:
        text = template.read_text(encoding="utf-8")
        assert 'AutoModel.from_pretrained("{{ repo_id }}", trust_remote_code=True, revision=revision)' in text
        assert "a later push cannot change the code you run" in " ".join(text.split())


def test_the_readme_usage_snippet_runs_on_a_staged_model():
    """The README's first snippet, as written, with the zoo repo replaced by its staged folder and `face.jpg` by an
    example face of the Space."""
    folder = ROOT / "model_cards" / "leae-faces-128"
    face = ROOT / "spaces" / "leae-demo" / "examples" / "utkface-25_1_0_20170109213232182.jpg"
    if not (folder / "model.safetensors").is_file() or not face.is_file():
        pytest.skip("the staged leae-faces-128 or the Space's example face is not in this checkout")
    block = next(b for b in python_blocks((ROOT / "README.md").read_text(encoding="utf-8")) if "model.inpaint" in b)
    code = block.replace('"leae-hub/leae-faces-128"', repr(str(folder))).replace('"face.jpg"', repr(str(face)))
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    pixels, mask, filled = namespace["pixel_values"], namespace["mask"], namespace["filled"]
    assert pixels.shape == filled.shape == (1, 3, 128, 128) and namespace["latents"].shape == (1, 32, 16, 16)
    assert torch.equal(filled * (1 - mask), pixels * (1 - mask))  # known pixels unchanged
    assert namespace["image"].size == (128, 128)
    assert namespace["result"]["image"].size == (128, 128) and namespace["result"]["psnr"] > 20


def test_a_card_usage_snippet_runs_on_its_staged_folder():
    """The first snippet of a staged card, as rendered, with its repo id replaced by the folder."""
    folder = ROOT / "model_cards" / "leae-cifar10-32-masked"
    face = ROOT / "spaces" / "leae-demo" / "examples" / "utkface-25_1_0_20170109213232182.jpg"
    if not (folder / "model.safetensors").is_file() or not face.is_file():
        pytest.skip("the staged leae-cifar10-32-masked or the Space's example face is not in this checkout")
    block = python_blocks((folder / "README.md").read_text(encoding="utf-8"))[0]
    code = block.replace('"leae-hub/leae-cifar10-32-masked"', repr(str(folder))).replace('"image.png"', repr(str(face)))
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    pixels, mask, filled = namespace["pixel_values"], namespace["mask"], namespace["filled"]
    assert mask.shape == (1, 1, 32, 32) and mask.mean().item() == 0.25
    assert torch.equal(filled * (1 - mask), pixels * (1 - mask))


def bash_commands(text: str) -> list[list[str]]:
    """The commands of a Markdown text's ```bash blocks, one argv each (backslash continuations joined, comments
    dropped, `&&` chains split)."""
    import shlex

    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            while "&&" in words:
                cut = words.index("&&")
                commands.append(words[:cut])
                words = words[cut + 1 :]
            if words:
                commands.append(words)
    return commands


@pytest.mark.slow
def test_the_readme_command_blocks_run_as_written(fake_hub, tmp_path, monkeypatch):
    """Every command of the README's ```bash blocks after the quick start, as written, from a folder laid out like the
    checkout after the quick start (its `runs/shapes-quick/model`, with `training/` and `spaces/` linked in), with the
    placeholders filled in (ORG, NAME, the token, the Space's build folder) and the Hub faked: evaluate, card, the dry
    run and the upload of the model, then the Space's build and its `hf upload`. The quick start's two commands are
    what CI runs (`.ci/run` holds the second verbatim: test_ci_runs_the_readme_test_command)."""
    from huggingface_hub.cli.hf import app as hf_app

    from leae_hub import LeaeImageProcessor, LeaeModel, cli

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start, *rest = text.split("\n## ", 2)[1:]
    documented = bash_commands("\n## ".join(rest))
    starts = [words[0] for words in bash_commands(quick_start)]
    assert starts == ["python3", ".venv/bin/pip", ".venv/bin/accelerate"] + [
        "python3",
        ".venv/bin/pip",
        ".venv/bin/python",
    ]
    assert {words[0] for words in documented} <= {"leae", "HF_TOKEN=...", "python", "hf"}, documented

    monkeypatch.chdir(tmp_path)
    for folder in ("training", "spaces"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    torch.manual_seed(0)
    model_dir = tmp_path / "runs" / "shapes-quick" / "model"
    LeaeModel(tiny_config()).save_pretrained(model_dir)
    LeaeImageProcessor(image_size=32).save_pretrained(model_dir)
    build = tmp_path / "leae-demo-space"
    huggingface_hub.create_repo("someorg/leae-demo", repo_type="space", space_sdk="gradio")
    fill = {"ORG/NAME": "someorg/leae-shapes", "/tmp/leae-demo-space": str(build)}
    for words in documented:
        words = [re.sub(r"\bORG\b", "someorg", fill.get(word, word)) for word in words]
        if words[0] == "HF_TOKEN=...":  # the user's token: the fake Hub's own is already in HF_TOKEN
            words = words[1:]
        if words[0] == "leae":
            assert cli.main(words[1:]) == 0, words
        elif words[0] == "python":
            done = subprocess.run([sys.executable, *words[1:]], capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr[-3000:]
        else:
            hf_app(words[1:], standalone_mode=False)

    assert json.loads((model_dir / "eval.json").read_text()) == json.loads((tmp_path / "eval.json").read_text())
    assert {"README.md", "model.safetensors", "eval.json"} <= {path.name for path in (tmp_path / "out").iterdir()}
    model_repo = fake_hub.repo("someorg/leae-shapes").commits[-1].files
    assert {"README.md", "model.safetensors", "config.json", "eval.json", "modeling_leae.py"} <= set(model_repo)
    assert b"someorg/leae-shapes" in model_repo["README.md"]
    space_repo = fake_hub.repo("someorg/leae-demo", repo_type="space").commits[-1].files
    assert {"app.py", "README.md", "requirements.txt", "leae_hub/__init__.py"} <= set(space_repo)
    assert b"someorg" in space_repo["app.py"]


def test_ci_runs_the_readme_test_command():
    """`.ci/run` runs the quick start's second command verbatim, so a missing install step fails CI."""
    block = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.S)[1].strip()
    assert block.startswith("python3 -m venv .venv") and "pytest" in block
    assert block in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
