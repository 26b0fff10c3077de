"""The staged zoo folders (`model_cards/<name>/`): they load, hold no code, their cards carry their own evaluation and
the zoo's repo id, and a fresh evaluation on the test split reproduces the card's PSNR. `training/stage_zoo.sh` stages a
run with the card its data needs."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import model_index_values
from huggingface_hub import ModelCard
from transformers import AutoModel

import leae_hub
from leae_hub import hub, zoo
from leae_hub.data import build_dataset, data_dir
from leae_hub.evaluation import psnr
from leae_hub.hub import NOT_TRAINED

ROOT = Path(__file__).resolve().parents[1]
CARD_FOLDERS = sorted(path.parent for path in (ROOT / "model_cards").glob("*/README.md"))
ZOO = [folder for folder in CARD_FOLDERS if hub.weight_files(folder)]
STAGED_FILES = {
    "README.md",
    "config.json",
    "preprocessor_config.json",
    "eval.json",
    "samples.png",
    "training_config.yaml",
}  # and the weights; no code: publish adds it from src/leae_hub/
PLACEHOLDER = re.compile(r"(?<![\w.-])org/")  # "org/NAME", not "arxiv.org/..."


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
    # the figure of a pair, and the license file a face model's card links to
    weights = {path.name for path in hub.weight_files(folder)}
    if weights != {"model.safetensors"}:  # shards, each under the 100 MB a git host takes, and their index
        weights.add("model.safetensors.index.json")
        assert all(path.stat().st_size <= 80e6 for path in hub.weight_files(folder))
    assert {path.name for path in folder.iterdir()} - {"inpainting.png", "LICENSE"} == STAGED_FILES | weights
    model, info = AutoModel.from_pretrained(folder, output_loading_info=True)
    assert not any(info.values()), info
    assert all(p.dtype == torch.float32 for p in model.parameters())
    evaluation = json.loads((folder / "eval.json").read_text())
    assert evaluation["data"]["split"] == "test"
    assert _card_metrics(folder)["psnr"] == pytest.approx(evaluation["reconstruction"]["psnr"], abs=1e-9)
    card = (folder / "README.md").read_text()
    assert "optimiser steps" in card and "training wall time (s)" in card


def test_readme_zoo_table_agrees_with_each_evaluation():
    """Every trained row of the README's zoo table: PSNR, per-image-mean baseline, SSIM and hole PSNR are its
    folder's eval.json, rounded as shown."""
    lines = (ROOT / "README.md").read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| model | recipe | data |"))
    columns = [cell.strip() for cell in lines[header].strip("|").split("|")]
    rows = {}
    for line in lines[header + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(columns, cells, strict=True))
    assert {folder.name for folder in ZOO} <= set(rows)
    for folder in ZOO:
        row, evaluation = rows[folder.name], json.loads((folder / "eval.json").read_text())
        reconstruction = evaluation["reconstruction"]
        psnr_cell = f"{reconstruction['psnr']:.2f} dB ({reconstruction['per_image_mean_baseline_psnr']:.2f})"
        assert row["PSNR (per-image-mean baseline)"].replace("**", "") == psnr_cell, folder.name
        assert row["SSIM"] == f"{reconstruction['ssim']:.3f}", folder.name
        assert row["hole PSNR (35 % square)"] == f"{evaluation['inpainting']['psnr_hole']:.2f} dB", folder.name


def test_inpainting_tables_of_the_results_agree_with_their_evaluations():
    """Table h of docs/results.md: every row of a face model and of the mean-colour floor is, cell for cell, one of the
    evaluations in docs/results/faces128-inpainting/, and every one of those evaluations has its row."""
    from leae_hub.evaluation import HOLE_KINDS

    def cells(evaluation: dict, fill: str) -> list[str]:
        clean = evaluation["reconstruction"]
        row = [f"{clean['psnr']:.2f}", f"{clean['ssim']:.3f}"] if fill == "model" else ["–", "–"]
        for kind in HOLE_KINDS:
            scores = evaluation["holes"][kind][fill]
            row += [f"{scores['psnr_hole']:.2f}", f"{scores['ssim_hole']:.3f}"]
            row += [f"{scores['psnr_total']:.2f}", f"{scores['ssim_total']:.3f}"]
        return row

    folder = ROOT / "docs" / "results" / "faces128-inpainting"
    evaluations = {path.name: json.loads(path.read_text()) for path in folder.glob("*.json")}
    expected = {name: cells(evaluation, "model") for name, evaluation in evaluations.items()}
    floors = [cells(evaluation, "mean_fill") for evaluation in evaluations.values()]
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in (ROOT / "docs" / "results.md").read_text(encoding="utf-8").splitlines()
        if line.startswith(("| faces128-", "| mean-colour fill (floor)")) and line.count("|") == 20
    ]
    assert len(rows) >= len(evaluations)
    for name, *numbers in rows:
        assert numbers in (floors if name.startswith("mean-colour") else expected.values()), name
    shown = [numbers for _, *numbers in rows]
    assert all(row in shown for row in expected.values()), [name for name, row in expected.items() if row not in shown]


@pytest.mark.parametrize("folder", CARD_FOLDERS, ids=[folder.name for folder in CARD_FOLDERS])
def test_staged_card_names_the_zoo_repo_and_states_its_data(folder):
    entry = zoo.entry(folder.name)  # every staged folder is in the zoo
    text = (folder / "README.md").read_text()
    repo_id = zoo.repo_id(folder.name, org=zoo.DEFAULT_ORG)
    assert f"<!-- Rendered for {repo_id} by" in text and f'AutoModel.from_pretrained("{repo_id}")' in text
    assert not PLACEHOLDER.search(text)
    assert bool(hub.weight_files(folder)) == entry.trained
    assert (NOT_TRAINED in text) == (not entry.trained)
    source = zoo.data_source(entry.data)
    assert source.description in text
    assert (zoo.NON_COMMERCIAL in text) == source.non_commercial
    data = ModelCard(text).data
    assert data.license == ("other" if source.non_commercial else "apache-2.0")
    assert data.pipeline_tag == "image-to-image" and data.datasets == list(source.hub_datasets)
    if source.non_commercial:
        assert data.license_link == "LICENSE"
        assert (folder / "LICENSE").read_text() == hub.LICENSE_TEXTS[data.license_name]
    for result in data.eval_results or []:
        assert result.dataset_type in source.hub_datasets, result.dataset_type  # model-index types are Hub ids


def test_every_card_only_entry_is_staged():
    for entry in zoo.ZOO:
        if not entry.trained:
            assert (ROOT / "model_cards" / entry.name / "README.md").is_file(), entry.name


def _fake_run(run: Path, data: str, max_shard_size: str = hub.MAX_SHARD_SIZE) -> None:
    """A finished train.py run folder, evaluated: what stage_zoo.sh reads."""
    torch.manual_seed(0)
    model = leae_hub.LeaeModel(leae_hub.LeaeConfig.from_preset("leae-cifar", hidden_channels=16, latent_channels=8))
    model.eval().save_pretrained(run / "model", max_shard_size=max_shard_size)
    leae_hub.LeaeImageProcessor(image_size=32).save_pretrained(run / "model")
    metrics = {"data": {"spec": data, "split": "test", "num_images": 8}, "reconstruction": {"psnr": 12.5}}
    metrics["model"] = {"weights_sha256": hub.weights_sha256(run / "model")}  # as training/evaluate.py records it
    (run / "eval.json").write_text(json.dumps(metrics))
    (run / "samples.png").write_bytes(b"not checked")
    (run / "train_config.yaml").write_text(f"data: {data}\nmixed_precision: bf16\nseed: 3\ncpu: true\nbatch_size: 8\n")
    (run / "final_metrics.json").write_text(json.dumps({"steps": 10, "train_wall_time_s": 12.4}))
    (run / "metrics.jsonl").write_text(json.dumps({"step": 10, "processes": 1}) + "\n")


@pytest.mark.slow
@pytest.mark.parametrize("max_shard_size", [hub.MAX_SHARD_SIZE, "20KB"], ids=["one-file", "shards"])
def test_stage_zoo_stages_a_face_run_with_its_data_notice(tmp_path, max_shard_size):
    _fake_run(tmp_path / "run", "utkface", max_shard_size)
    weights = {path.name for path in hub.weight_files(tmp_path / "run" / "model")}
    assert (len(weights) > 1) == (max_shard_size == "20KB"), weights
    if len(weights) > 1:
        weights.add("model.safetensors.index.json")
    env = {k: v for k, v in os.environ.items() if k != zoo.ORG_ENV}
    env.update(MODEL_CARDS=str(tmp_path / "cards"), PYTHON=sys.executable, OMP_NUM_THREADS="1")
    script = ["bash", str(ROOT / "training" / "stage_zoo.sh"), str(tmp_path / "run"), "leae-faces-128"]
    config = "training/configs/faces128-self-teaching.yaml"

    result = subprocess.run([*script, "self-teaching", "utkface", config], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ready to publish as leae-hub/leae-faces-128" in result.stdout
    folder = tmp_path / "cards" / "leae-faces-128"
    assert {path.name for path in folder.iterdir()} == STAGED_FILES | weights | {"LICENSE"}
    assert hub.weights_sha256(folder) == hub.weights_sha256(tmp_path / "run" / "model")
    card = ModelCard.load(folder / "README.md")
    assert card.data.license == "other" and card.data.model_name == "leae-hub/leae-faces-128"
    assert _card_metrics(folder) == {"psnr": 12.5}
    for needle in (
        "**Non-commercial research use only.**",
        "Zhang, Song, Qi 2017",
        "22,317 aligned and cropped face photos",
        f"accelerate launch training/train.py --config {config}",
        "| seed | 3 |",
        "| optimiser steps | 10 |",
        "| training images seen (steps × batch × accumulation × processes) | 80 |",
        "1 process × 1 thread, bf16 autocast, no GPU |",
    ):
        assert needle in card.text, needle


@pytest.mark.slow
@pytest.mark.parametrize("folder", ZOO, ids=[folder.name for folder in ZOO])
def test_a_fresh_evaluation_reproduces_the_card_psnr(folder):
    evaluation = json.loads((folder / "eval.json").read_text())
    spec = evaluation["data"]["spec"]
    files = {
        "cifar10": "cifar10-jpg.zip",
        "mnist": "mnist",
        "mnist-full": "mnist-full",
        "celeba-half": "celeba-9k-half.zip",
        "utkface": "utkface-128.zip",
    }
    needed = data_dir() / files.get(spec, "")
    if not needed.exists():
        pytest.skip(f"{spec} needs {needed} (the shared real data; set LEAE_DATA_DIR)")
    model = AutoModel.from_pretrained(folder).eval()
    seed = evaluation["evaluation"]["seed"]
    dataset = build_dataset(spec, "test", model.config.image_size, channels=model.config.in_channels, seed=seed)
    # At 128 px on a CPU, large batches run slower. All intra-op threads: a few large convolutions per batch, where
    # threads pay (unlike the many small operations other tests run on one thread); per-image PSNR is bit-identical.
    loader = torch.utils.data.DataLoader(dataset, batch_size=64)
    with torch.inference_mode():  # evaluate_model's PSNR: the mean over images of each image's PSNR
        values = torch.cat([psnr(model(x).reconstruction, x) for x in (batch["pixel_values"] for batch in loader)])
    assert len(values) == evaluation["data"]["num_images"]
    assert abs(values.mean().item() - _card_metrics(folder)["psnr"]) < 0.05


def test_hole_depth_table_of_the_results_is_its_json():
    """The ring-by-ring table of table h, continued (docs/results.md): each row, in order, is one model of
    docs/results/faces128-hole-depth.json (training/hole_depth.py): gain over the mean fill and share of the gradient
    on known pixels, ring by ring."""
    measured = json.loads((ROOT / "docs" / "results" / "faces128-hole-depth.json").read_text())["models"]
    text = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    table = text[text.index("| model | depth 1–8 px") :].split("\n\n")[0].splitlines()[2:]
    assert len(table) == len(measured)
    for line, rings in zip(table, (model["rings"] for model in measured.values()), strict=True):
        cells = [cell.strip() for cell in line.strip("|").split("|")][1:]
        gains = [f"{r['gain_db']:+.2f}".replace("-", "−") for r in rings]
        expected = [f"{gain}, {100 * r['known_gradient_share']:.1f} %" for gain, r in zip(gains, rings, strict=True)]
        assert [cell.replace(" dB", "") for cell in cells] == expected, line
