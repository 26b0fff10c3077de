"""The staged zoo folders (`model_cards/<name>/`): they load, their cards carry their own evaluation, and a fresh
evaluation on the test split reproduces the card's PSNR."""

import json
from pathlib import Path

import pytest
import torch
from conftest import model_index_values
from huggingface_hub import ModelCard
from transformers import AutoModel

import leae_hub  # noqa: F401  (registers the Auto classes)
from leae_hub.data import build_dataset, data_dir
from leae_hub.evaluation import psnr

ROOT = Path(__file__).resolve().parents[1]
ZOO = sorted(path.parent for path in (ROOT / "model_cards").glob("*/model.safetensors"))
PUBLISHED_FILES = {
    "README.md",
    "config.json",
    "model.safetensors",
    "preprocessor_config.json",
    "configuration_leae.py",
    "modeling_leae.py",
    "image_processing_leae.py",
}


def _card_metrics(folder: Path) -> dict[str, object]:
    return model_index_values(ModelCard.load(folder / "README.md"))


def test_the_zoo_has_five_trained_entries():
    names = {folder.name for folder in ZOO}
    assert names >= {
        "leae-cifar10-32-self-teaching",
        "leae-cifar10-32-masked",
        "leae-cifar10-32-baseline",
        "leae-cifar10-32-jepa",
        "leae-mnist-jepa",
    }, names


@pytest.mark.parametrize("folder", ZOO, ids=[folder.name for folder in ZOO])
def test_zoo_folder_loads_and_its_card_carries_its_evaluation(folder):
    assert PUBLISHED_FILES <= {path.name for path in folder.iterdir()}
    model, info = AutoModel.from_pretrained(folder, output_loading_info=True)
    assert not any(info.values()), info
    assert all(p.dtype == torch.float32 for p in model.parameters())
    evaluation = json.loads((folder / "eval.json").read_text())
    assert evaluation["data"]["split"] == "test"
    assert _card_metrics(folder)["psnr"] == pytest.approx(evaluation["reconstruction"]["psnr"], abs=1e-9)
    card = (folder / "README.md").read_text()
    assert "optimiser steps" in card and "training wall time (s)" in card


@pytest.mark.slow
@pytest.mark.parametrize("folder", ZOO, ids=[folder.name for folder in ZOO])
def test_a_fresh_evaluation_reproduces_the_card_psnr(folder, one_thread):
    evaluation = json.loads((folder / "eval.json").read_text())
    spec = evaluation["data"]["spec"]
    needed = data_dir() / {"cifar10": "cifar10-jpg.zip", "mnist": "mnist"}.get(spec, "")
    if not needed.exists():
        pytest.skip(f"{spec} needs {needed} (the shared real data; set LEAE_DATA_DIR)")
    model = AutoModel.from_pretrained(folder).eval()
    seed = evaluation["evaluation"]["seed"]
    dataset = build_dataset(spec, "test", model.config.image_size, channels=model.config.in_channels, seed=seed)
    loader = torch.utils.data.DataLoader(dataset, batch_size=500)
    with torch.inference_mode():  # evaluate_model's PSNR: the mean over images of each image's PSNR
        values = torch.cat([psnr(model(x).reconstruction, x) for x in (batch["pixel_values"] for batch in loader)])
    assert len(values) == evaluation["data"]["num_images"]
    assert abs(values.mean().item() - _card_metrics(folder)["psnr"]) < 0.05
