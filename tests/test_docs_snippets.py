"""Code snippets in the docs: remote code is only trusted with a pinned revision, and never where leae_hub is
installed (issue 14, item 8)."""

import re
from pathlib import Path

import pytest

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
    import torch

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
    import torch

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
