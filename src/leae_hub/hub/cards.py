"""Model cards: rendered from the packaged Jinja template with `huggingface_hub.ModelCardData` (front matter,
model-index from the evaluation JSON, the tables the card shows), and written atomically with the LICENSE a
`license: other` card links to."""

from __future__ import annotations

import math
import os
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import (
    EvalResult,
    ModelCard,
    ModelCardData,
)
from huggingface_hub.utils import validate_repo_id

from ..configuration_leae import PRESETS, LeaeConfig
from ..evaluation import HOLE_KINDS, Unavailable, hole_kind_title
from ..evaluation.schema import (
    BASELINE_PSNR,
    COMPRESSION_RATIO,
    EVAL_DEVICE,
    FID,
    HOLE_FILLS,
    HOLE_PSNR,
    HOLE_RATIO,
    LATENT_STD,
    LPIPS,
    MODEL_INDEX,
    MS_SSIM,
    PARAMETERS,
    PSNR,
    PSNR_IN_HOLE,
    RANKME,
    RANKME_MAX,
    REPRESENTATION,
    REPRESENTATION_SCORES,
    REPRESENTATION_SOURCES,
    SIGREG,
    SIGREG_BATCH_SIZE,
    SSIM,
    SSIM_IN_HOLE,
    THROUGHPUT,
    TOTAL_PSNR,
    Metric,
    hole_metric,
)
from ..pipeline_leae import PIPELINE_TASK
from ..recipes import RECIPES, RecipeCard
from ..zoo import DataSource, data_source

LIBRARY_NAME = "transformers"
BASE_TAGS = ("leae", "autoencoder", "image-reconstruction", "leae-hub")
NOT_TRAINED = "**Not trained yet.**"  # how a card says it has no weights (the template's not-trained note)
# The Hub's task filter has `image-to-image` (its own list, independent of transformers' pipelines, which in version 5
# has no such task: the repos name their own `leae-reconstruction` pipeline in config.json instead).
PIPELINE_TAG = "image-to-image"
LICENSE_FILE = "LICENSE"
NON_COMMERCIAL_LICENSE = {
    "license": "other",
    "license_name": "non-commercial-research-only",
    "license_link": LICENSE_FILE,
}
# The LICENSE file of a repo whose card says `license_link: LICENSE`, by `license_name`; the card itself names the
# training data and quotes its terms.
LICENSE_TEXTS = {
    "non-commercial-research-only": (
        "Non-commercial research use only\n"
        "=================================\n\n"
        "The model weights in this repository (model.safetensors and its configuration) were trained on face photos\n"
        "whose data set is available for non-commercial research purposes only (the model card, README.md, names\n"
        "the data set and quotes its terms). The weights carry the same restriction: you may use, copy and modify\n"
        "them for non-commercial research only. The photos' copyright stays with their owners.\n\n"
        "The code files of this repository (configuration_leae.py, modeling_leae.py, image_processing_leae.py,\n"
        "pipeline_leae.py) come from leae-hub (https://github.com/leae-hub/leae-hub) under the Apache License 2.0.\n"
        "The weights are provided as is, without warranty of any kind.\n"
    ),
}
# The card template, packaged (model_cards/template.md of a checkout links to it).
TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "model_card.md"
RENDERED_FOR = re.compile(r"<!-- Rendered for (\S+) by leae_hub\.hub\.render_card")

# (metric type, display name, path in the evaluate JSON, task type, task name): what goes into the model-index, read
# from the metric schema (`leae_hub.evaluation.schema.MODEL_INDEX`).
MODEL_INDEX_METRICS: tuple[tuple[str, str, tuple[str, ...], str, str], ...] = tuple(
    (m.model_index.metric_type, m.index_name, m.keys, m.model_index.task_type, m.model_index.task_name)
    for m in MODEL_INDEX
    if m.model_index is not None
)


def repo_name(text: str, fallback: str = "model") -> str:
    """A Hub repo name made from any text (a run folder's name, say): accents dropped, every run of characters other
    than letters, digits, `_` and `.` turned into one `-`, no `-` or `.` at either end, at most 80 characters;
    `fallback` when nothing is left. The result always passes `huggingface_hub.utils.validate_repo_id`."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    name = re.sub(r"[^A-Za-z0-9_.]+", "-", ascii_text)
    name = re.sub(r"\.{2,}", ".", name)
    name = name[:80].strip("-._")
    return name or fallback


def recipe_card(recipe: str) -> RecipeCard:
    """The card text of a registered recipe (its class's `card`); a `ValueError` naming the fix otherwise."""
    if recipe not in RECIPES:
        raise ValueError(f"Unknown recipe {recipe!r}. Valid recipes: {', '.join(RECIPES)}.")
    card = RECIPES[recipe].card
    if card is None:
        raise ValueError(
            f"Recipe {recipe!r} has no model-card text: give {RECIPES[recipe].__qualname__} a class attribute "
            "`card = leae_hub.recipes.RecipeCard(summary=..., description=..., equation=..., notes=...)`."
        )
    return card


_HUB_DATASET = re.compile(r"^[\w.-]+/[\w.-]+$")


# --------------------------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------------------------


def template_path() -> Path:
    """The card template packaged with `leae_hub` (`templates/model_card.md`)."""
    return TEMPLATE


def _load_config(model_dir_or_config: str | os.PathLike | LeaeConfig | torch.nn.Module) -> LeaeConfig:
    if isinstance(model_dir_or_config, LeaeConfig):
        return model_dir_or_config
    if isinstance(model_dir_or_config, torch.nn.Module):
        return model_dir_or_config.config
    folder = Path(model_dir_or_config)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"{folder} has no config.json: pass a folder written by save_pretrained, a LeaeConfig or a LeaeModel"
        )
    return LeaeConfig.from_pretrained(folder)


def _meta_model(config: LeaeConfig) -> torch.nn.Module:
    """The model `config` describes, on the meta device (shapes only: no memory, no initialisation cost): its own
    `latent_shape`, `compression_ratio` and parameters answer for the card."""
    from ..modeling_leae import LeaeModel

    with torch.device("meta"):
        return LeaeModel(config)


def _preset_name(config: LeaeConfig) -> str | None:
    fields = ("image_size", "hidden_channels", "latent_type", "latent_channels", "encoder_backbone")
    for name in PRESETS:
        reference = LeaeConfig.from_preset(name)
        same = all(getattr(config, field) == getattr(reference, field) for field in fields)
        if same and (config.latent_type == "spatial" or config.pooled_map_channels == reference.pooled_map_channels):
            return name
    return None


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _format(value: Any, digits: int = 4, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, (str, Unavailable)):
        return str(value).replace("|", "\\|")
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}{unit}"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return str(value)


def _hub_dataset_id(spec: str) -> str | None:
    spec = spec.removeprefix("hf:")
    return spec if _HUB_DATASET.match(spec) else None


def model_index_results(
    metrics: dict[str, Any], dataset_id: str, dataset_name: str, split: str | None
) -> list[EvalResult]:
    """The `EvalResult`s of the model-index: every numeric metric of `MODEL_INDEX_METRICS` found in `metrics`."""
    results = []
    for item in MODEL_INDEX:
        value = item.value(metrics)
        if item.model_index is None or not is_number(value):
            continue
        results.append(
            EvalResult(
                task_type=item.model_index.task_type,
                task_name=item.model_index.task_name,
                dataset_type=dataset_id,
                dataset_name=dataset_name,
                dataset_split=split,
                metric_type=item.model_index.metric_type,
                metric_name=item.index_name,
                metric_value=value,
            )
        )
    return results


def _cell(metrics: dict[str, Any], item: Metric) -> str:
    """A metric's value as the card's tables show it."""
    return _format(item.value(metrics), item.digits, item.unit)


def _row(metrics: dict[str, Any], item: Metric, *details: Metric) -> tuple[str, str, str]:
    """The card row of a metric: its section, its label (with the values of `details` in its `{}`), its value."""
    label = item.label.format(*(_cell(metrics, detail) for detail in details))
    return item.section, label, _cell(metrics, item)


def _hole_rows(metrics: dict[str, Any]) -> list[tuple[str, str, str]]:
    """One card row per evaluated hole kind: PSNR and SSIM inside the hole, the mean-colour fill's in brackets."""
    rows = []
    scores = (PSNR_IN_HOLE, SSIM_IN_HOLE)
    for kind in HOLE_KINDS:
        if not isinstance((metrics.get("holes") or {}).get(kind), dict):
            continue
        values = [
            "{} ({})".format(*(_cell(metrics, hole_metric(kind, fill, score)) for fill in HOLE_FILLS))
            for score in scores
        ]
        label = f"inside {hole_kind_title(kind)}: {' / '.join(score.label for score in scores)} (mean-colour fill)"
        rows.append(("inpainting", label, " / ".join(values)))
    return rows


def _evaluation_notes(metrics: dict[str, Any], representation: Any) -> list[str]:
    """The notes under the card's evaluation tables: MS-SSIM's settings, how each kind of number was measured."""
    notes = []
    settings = (metrics.get("reconstruction") or {}).get("ms_ssim_settings")
    if isinstance(settings, dict):
        weights = ", ".join(f"{w:.4f}" for w in settings.get("weights", []))
        notes.append(
            f"MS-SSIM: {settings.get('scales')} scales, {settings.get('kernel_size')}×{settings.get('kernel_size')} "
            f"Gaussian window (σ = {settings.get('sigma')}), weights {weights} (the first scales of Wang et al. 2003, "
            "renormalised)."
        )
    notes.append(
        "PSNR, SSIM and MS-SSIM are means over images with data range [0, 1]; the per-image-mean baseline predicts "
        "every pixel as the image's own mean colour."
    )
    notes.append(
        "Inpainting: one square hole per image, placed by the evaluation seed and the image's position; the known "
        "pixels are pasted back, so the whole-image PSNR only differs inside the hole."
    )
    if isinstance(representation, dict):
        notes.append(
            f"Representation: flattened latents of {_format(representation.get('num_train'))} training images "
            f"(k-NN bank and probe training set) and {_format(representation.get('num_test'))} test images; linear "
            "probe = logistic regression on standardised features (L-BFGS); raw pixels are downsampled to at most "
            "32×32; the random-init encoder is this architecture untrained."
            + (f" Labels: {representation['labels']}." if representation.get("labels") else "")
        )
    notes.append(
        'A value marked "unavailable" could not be computed here (the reason follows; eval.json keeps it under '
        "`unavailable`); such values are left out of the model-index."
    )
    return notes


def card_table_rows(metrics: dict[str, Any]) -> tuple[list[tuple[str, str, str]], list[tuple[str, ...]], list[str]]:
    """The card's evaluation tables from `evaluate_model`'s result: the rows (section, metric, value), the
    representation rows (metric, then the model's value and the two baselines'), and the notes under them."""
    device = EVAL_DEVICE.value(metrics)
    rows = [
        *(_row(metrics, item) for item in (PSNR, BASELINE_PSNR, SSIM, MS_SSIM, LPIPS, FID)),
        _row(metrics, HOLE_PSNR, HOLE_RATIO),
        _row(metrics, TOTAL_PSNR),
        *_hole_rows(metrics),
        _row(metrics, RANKME, RANKME_MAX),
        (
            "collapse",
            "per-dimension std of the latents: min / mean / max",
            " / ".join(_cell(metrics, item) for item in LATENT_STD),
        ),
        _row(metrics, SIGREG, SIGREG_BATCH_SIZE),
        _row(metrics, PARAMETERS),
        _row(metrics, COMPRESSION_RATIO),
        (THROUGHPUT.section, THROUGHPUT.label.format("?" if device is None else device), _cell(metrics, THROUGHPUT)),
    ]
    representation = REPRESENTATION.value(metrics)
    representation_rows: list[tuple[str, ...]] = []
    if isinstance(representation, dict):
        for score in REPRESENTATION_SCORES:
            values = (_cell(metrics, score.under(source)) for source in REPRESENTATION_SOURCES.values())
            representation_rows.append((score.label, *values))
    else:
        rows.append((REPRESENTATION.section, REPRESENTATION.label, _format(representation)))
    return rows, representation_rows, _evaluation_notes(metrics, representation)


def _limitations(config: LeaeConfig, recipe: RecipeCard, datasets_text: str, trained: bool = True) -> list[str]:
    items = [
        f"{'Trained' if trained else 'To be trained'} on {datasets_text} at {config.image_size}×{config.image_size} "
        "px; other image domains and sizes are out of distribution (the image processor resizes and centre-crops "
        "every input to that size).",
        *recipe.limitations,
        "A deterministic autoencoder, not a generative model: decoding random latents does not give natural images, "
        "and inpainting gives one answer per hole.",
        "Metrics come from a single training run and seed.",
        "Like any model trained on a fixed data set, it reproduces that data set's biases. It must not be used to "
        "identify people or to make decisions about them.",
    ]
    if config.latent_norm == "batchnorm":
        norms = "the latent batch norm then uses its running statistics"
    elif config.encoder_type == "plain":  # batch norm in every stage; the latent has layer norms or none
        norms = "the encoder's batch norms then use their running statistics"
    elif config.encoder_backbone:
        norms = "the timm backbone's batch norms, if it has any, then use their running statistics"
    else:  # the conv encoder has no batch norm
        norms = ""
    if norms:
        eval_mode = f"Use the model in eval mode (`model.eval()`): {norms}, so a code does not depend on the other"
        items.insert(-1, f"{eval_mode} images of the batch.")
    if config.latent_type == "pooled":
        items.insert(1, "The pooled latent keeps few values per image, so reconstructions lose fine detail.")
    return items


def _encoder_text(config: LeaeConfig) -> str:
    if config.encoder_backbone:
        return f"timm `{config.encoder_backbone}`"
    if config.encoder_type == "plain":
        return "plain conv (3 stride-2 conv, batch norm, SiLU stages; global average pooling)"
    return "conv (stem + 2 residual down blocks)"


def render_card(
    model_dir_or_config: str | os.PathLike | LeaeConfig | torch.nn.Module,
    *,
    repo_id: str,
    recipe: str,
    datasets: Sequence[str] = (),
    metrics: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    sample_grid: str | None = None,
    license: str | None = None,
    base_model: str | None = None,
    not_trained_note: str | None = None,
    eval_dataset: str | None = None,
    data: str | None = None,
    inpainting_figure: str | None = None,
    inpainting_figure_models: Sequence[str] = (),
) -> ModelCard:
    """Render the model card of a leae model from the template (`template_path()`).

    Args:
        model_dir_or_config: a folder written by `save_pretrained` (its `config.json` is read), a `LeaeConfig` or a
            `LeaeModel`. Nothing else is loaded: the card can be written before training.
        repo_id: the Hub repo the card is for (`org/name`); used in the usage snippets and as the model-index name
            (`publish --repo_id` rewrites it).
        recipe: the training recipe (`self-teaching`, `masked`, `baseline`, `jepa`, `decoder-probe`).
        datasets: the training data sources; those that are Hub ids (`org/name` or `hf:org/name`) go to the YAML.
            Prefer `data`.
        metrics: the JSON written by `training/evaluate.py` (`leae_hub.evaluation.evaluate_model`); None leaves the
            evaluation empty (no model-index).
        training: facts about the run, all optional: `command`, `config` (the YAML text), `config_path`, `steps`,
            `images_seen`, `wall_time_s`, `seed`, `hardware`.
        sample_grid: path of the sample image inside the repo (e.g. `samples.png`).
        license: the license of the weights; default `apache-2.0`, or `other` (non-commercial research only) for
            non-commercial data, where any other value is an error.
        not_trained_note: a line stating that the model is not trained yet (shown at the top of the card).
        eval_dataset: the Hub id for the model-index; default: the evaluated spec if it is a Hub id, else the first
            Hub id of `datasets`, else the evaluated spec.
        data: the training data spec, one of `leae_hub.zoo.DATA_SOURCES` (`cifar10`, `mnist`, `utkface`,
            `celeba-half`, `celeba-half-face`, `flwrlabs/celeba`): the card then says exactly what the model was (or
            will be) trained on, lists its Hub ids, and states its terms of use at the top (UTKFace, CelebA:
            non-commercial research only).
        inpainting_figure: path inside the repo of an inpainting figure (`training/sample_grid.py --compare`: inputs,
            inputs with a centred hole of 25 % of the area, then one row per model of `inpainting_figure_models`).
        inpainting_figure_models: the repo names of the figure's model rows, top to bottom.

    Returns:
        A `huggingface_hub.ModelCard`; `write_card` saves it as README.md.
    """
    validate_repo_id(repo_id)
    text = recipe_card(recipe)
    config = _load_config(model_dir_or_config)
    source = data_source(data) if data else None
    trained_text = "To be trained" if not_trained_note else "Trained"
    datasets = [str(d) for d in datasets]
    hub_datasets = _hub_datasets(datasets, source)
    license_fields = _license_fields(source, license)
    specs_text = ", ".join(f"`{d}`" for d in datasets) if datasets else "an unrecorded data set"
    data_name = source.name if source is not None else specs_text
    model_fields = _model_fields(config, metrics, text.summary, f"{trained_text} on {data_name}")
    eval_results, evaluation = _evaluation(metrics, repo_id, eval_dataset, hub_datasets)
    return ModelCard.from_template(
        ModelCardData(
            library_name=LIBRARY_NAME,
            pipeline_tag=PIPELINE_TAG,
            **license_fields,
            tags=[BASE_TAGS[0], recipe, *BASE_TAGS[1:]],
            datasets=hub_datasets or None,
            base_model=base_model,
            model_name=repo_id,
            eval_results=eval_results,
        ),
        template_str=template_path().read_text(encoding="utf-8"),
        model_name=repo_id.split("/")[-1],
        repo_id=repo_id,
        pipeline_task=PIPELINE_TASK,
        not_trained_note=not_trained_note,
        data_notice=f"{source.terms} {trained_text} on {source.description}." if source and source.terms else None,
        **model_fields,
        recipe=recipe,
        recipe_summary=text.description,
        recipe_equation=text.equation,
        recipe_notes=text.notes,
        **_training_fields(training or {}),
        datasets_text=source.description if source is not None else specs_text,
        **evaluation,
        sample_grid=sample_grid,
        samples_from_examples=bool(source and source.non_commercial),
        inpainting_figure=inpainting_figure,
        inpainting_figure_models=list(inpainting_figure_models),
        limitations=_limitations(config, text, data_name, trained=not not_trained_note),
    )


def _hub_datasets(datasets: Sequence[str], source: DataSource | None) -> list[str]:
    """The Hub ids the card's YAML lists: the training data source's, then those of `datasets` that are Hub ids."""
    hub_datasets = [d for d in (_hub_dataset_id(spec) for spec in datasets) if d]
    if source is not None:
        hub_datasets = list(dict.fromkeys([*source.hub_datasets, *hub_datasets]))
    return hub_datasets


def _license_fields(source: DataSource | None, license: str | None) -> dict[str, str]:
    """The card's license fields: `license` (default `apache-2.0`), or `other` (non-commercial research only, with
    its LICENSE file) for non-commercial training data, which any other license contradicts."""
    if source is None or not source.non_commercial:
        return {"license": license or "apache-2.0"}
    if license not in (None, "other"):
        raise ValueError(
            f"license {license!r} contradicts the training data's terms ({source.name}: non-commercial research "
            "use only): leave the license out, the card then says `other` (non-commercial research only)"
        )
    return dict(NON_COMMERCIAL_LICENSE)


def _model_fields(
    config: LeaeConfig, metrics: dict[str, Any] | None, recipe_summary: str, trained_on: str
) -> dict[str, Any]:
    """The template's fields about the model `config` describes: the summary line, the architecture table (the
    parameter count from the evaluation where it has one), the input size and the latent shape."""
    meta_model = _meta_model(config)
    latent_shape, compression = meta_model.latent_shape, meta_model.compression_ratio
    latent_values = math.prod(latent_shape)
    model_facts = (metrics or {}).get("model") or {}
    parameters = model_facts.get("parameters") or sum(parameter.numel() for parameter in meta_model.parameters())
    preset = _preset_name(config)
    architecture = [
        ("architecture preset", f"`{preset}`" if preset else "custom"),
        ("encoder", _encoder_text(config)),
        ("input", f"{config.in_channels} × {config.image_size} × {config.image_size}, values in [0, 1]"),
        ("latent", f"{config.latent_type}, {' × '.join(map(str, latent_shape))} = {latent_values:,} values"),
        ("compression ratio", f"{compression:.1f}× (input values / latent values)"),
        ("parameters", f"{parameters:,}"),
    ]
    summary = (
        f"A leae-hub autoencoder, {recipe_summary}. It encodes {config.image_size}×{config.image_size} images to "
        f"{latent_values:,} latent values ({compression:.1f}× compression) and decodes them back, and fills holes "
        f"with `model.inpaint`. {trained_on}."
    )
    return {
        "summary": summary,
        "architecture": architecture,
        "image_size": config.image_size,
        "in_channels": config.in_channels,
        "latent_shape_text": f"[1, {', '.join(map(str, latent_shape))}]",
    }


def _evaluation(
    metrics: dict[str, Any] | None, repo_id: str, eval_dataset: str | None, hub_datasets: Sequence[str]
) -> tuple[list[EvalResult] | None, dict[str, Any]]:
    """The card's evaluation: the model-index (None without metrics) and the template's evaluation fields (the intro
    line, the tables, the notes)."""
    if not metrics:
        return None, {
            "evaluation_intro": "",
            "evaluation_rows": [],
            "representation_rows": [],
            "evaluation_notes": [],
        }
    data = metrics.get("data") or {}
    spec = str(data.get("spec") or "")
    split = data.get("split")
    dataset_id = eval_dataset or _hub_dataset_id(spec) or (hub_datasets[0] if hub_datasets else spec)
    rows, representation_rows, notes = card_table_rows(metrics)
    return model_index_results(metrics, dataset_id, dataset_id, split) or None, {
        "evaluation_intro": (
            f"Measured with `python training/evaluate.py --model {repo_id} --data {spec} --split {split} "
            f"--json eval.json` on {_format(data.get('num_images'))} images of the `{split}` split of `{spec}` "
            f"(evaluation seed {_format((metrics.get('evaluation') or {}).get('seed'))})."
        ),
        "evaluation_rows": rows,
        "representation_rows": representation_rows,
        "evaluation_notes": notes,
    }


def _training_fields(training: dict[str, Any]) -> dict[str, Any]:
    """The template's fields about the training run: the command, the configuration (text and path), and the table
    of facts (those `training` gives)."""
    facts = []
    for key, label in (
        ("steps", "optimiser steps"),
        ("images_seen", "training images seen (steps × batch × accumulation × processes)"),
        ("wall_time_s", "training wall time (s)"),
        ("seed", "seed"),
    ):
        if training.get(key) is not None:
            value = training[key]
            facts.append((label, _format(round(value) if isinstance(value, float) else value)))
    if training.get("hardware"):
        facts.append(("hardware", str(training["hardware"])))
    return {
        "training_command": training.get("command"),
        "training_config": (training.get("config") or "").strip() or None,
        "training_config_path": training.get("config_path"),
        "training_facts": facts,
    }


def write_atomically(path: str | os.PathLike, data: str | bytes) -> None:
    """Write `data` (text as UTF-8) to `path` so that a reader sees the old file or the new one, never a part: to a
    temporary file beside it, then `os.replace`."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if isinstance(data, str):
        temporary.write_text(data, encoding="utf-8")
    else:
        temporary.write_bytes(data)
    os.replace(temporary, path)


def write_card(model_dir: str | os.PathLike, card: ModelCard) -> Path:
    """Write `card` as `model_dir/README.md` (atomically) and return the path; a card whose license links to
    `LICENSE` gets that file beside it (`LICENSE_TEXTS`)."""
    folder = Path(model_dir)
    folder.mkdir(parents=True, exist_ok=True)
    files = {"README.md": str(card)}
    if card.data.get("license_link") == LICENSE_FILE:
        name = card.data.get("license_name")
        if name not in LICENSE_TEXTS:
            raise ValueError(f"no LICENSE text for license_name {name!r}; known: {', '.join(LICENSE_TEXTS)}")
        files[LICENSE_FILE] = LICENSE_TEXTS[name]
    for name, text in files.items():
        write_atomically(folder / name, text)
    return folder / "README.md"
