"""The Space's models: the menu (staged folders, then the zoo's trained repos, faces first), the key each model goes
by, the ones that learned to inpaint and their twins, and loading a model once per process."""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import threading
import time
from pathlib import Path

import gradio as gr

import leae_hub
from leae_hub import zoo
from leae_hub.hub import weight_files
from leae_hub.space.uploads import shape_text

logger = logging.getLogger("leae-demo")

FACE_DATA = {"utkface", "celeba-half", "flwrlabs/celeba"}  # zoo data sources whose models are face models
LOAD_RETRY_S = 60  # a model that failed to load is not retried for this long (a Hub timeout takes ~45 s offline)


def model_card_dirs(here: Path) -> list[Path]:
    """Where the models of the app started from folder `here` are staged: model_cards/ next to app.py (a Space that
    ships its models), at the repository root (a checkout of leae-hub), and in the working directory (the packaged
    app, run by `leae demo` anywhere)."""
    checkout = [here.parents[1] / "model_cards"] if len(here.parents) > 1 else []
    return list(dict.fromkeys([here / "model_cards", *checkout, Path("model_cards")]))


def _zoo_rank(name: str) -> int:
    """Position of a repo name in `leae_hub.zoo.ZOO` (faces first); names outside the zoo come after."""
    names = [item.name for item in zoo.ZOO]
    return names.index(name) if name in names else len(names)


def local_models(card_dirs: list[Path]) -> list[str]:
    """Folders `*/` of `card_dirs` holding a saved model (config.json + model.safetensors or its shards), in zoo order
    (faces first): these work offline. Cards without weights are left out."""
    found: list[str] = []
    for root in card_dirs:
        if root.is_dir():
            for folder in root.iterdir():
                if (folder / "config.json").is_file() and weight_files(folder):
                    found.append(str(folder))
    return sorted(found, key=lambda path: (_zoo_rank(Path(path).name), Path(path).name))


def default_model_ids(card_dirs: list[Path], org: str) -> list[str]:
    """Local folders first (they need no network), then the zoo's trained Hub repos of `org`, without repeats."""
    local = local_models(card_dirs)
    local_names = {Path(path).name for path in local}
    return local + [repo for repo in zoo.trained_repo_ids(org) if repo.split("/")[-1] not in local_names]


def hub_org(space_org: str | None) -> str:
    """The organisation of the zoo's repos: `LEAE_HUB_ORG`, else the Space's own (`space_org`), else the zoo's."""
    return zoo.hub_org(os.environ.get(zoo.ORG_ENV) or space_org)


def _zoo_entry(model_id: str) -> zoo.ZooEntry | None:
    """The zoo entry of a local folder (by its name) or a Hub repo id; None outside the zoo."""
    try:
        return zoo.entry(Path(model_id).name if os.path.isdir(model_id) else model_id)
    except KeyError:
        return None


def is_face_model(model_id: str) -> bool:
    """True for a zoo entry trained on faces (by repo name, whether a local folder or a Hub id)."""
    entry = _zoo_entry(model_id)
    return entry is not None and entry.data in FACE_DATA


def model_key(model_id: str, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """The name a model goes by in the menu and the API: a folder's name (its parent's too if that name is taken), or
    the Hub repo id. Server paths never reach the page."""
    if not os.path.isdir(model_id):
        return model_id
    path = Path(model_id).resolve()
    return path.name if path.name not in taken else f"{path.parent.name}-{path.name}"


_models: dict[str, str] = {}  # menu key -> local folder or Hub repo id, for every demo built in this process


def register_models(model_ids: list[str]) -> list[tuple[str, str]]:
    """Give each model (folder or repo id) a key; returns the menu's (label, key) pairs in the given order."""
    menu: list[tuple[str, str]] = []
    for model_id in model_ids:
        keys_here = {key for _, key in menu}
        key = model_key(model_id, keys_here)
        _models[key] = model_id
        local = os.path.isdir(model_id)
        entry = _zoo_entry(model_id)
        title = f" · {entry.title}" if entry is not None else ""
        menu.append((f"{key}{title}{' (local)' if local else ''}", key))
    return menu


def model_id_of(key: str) -> str:
    """The local folder or Hub repo id that a registered menu key names."""
    return _models[key]


@functools.lru_cache(maxsize=64)
def trained_with_holes(model_id: str) -> bool:
    """True for a model trained with holes, which can inpaint: a zoo entry's `holes` flag; for a folder outside the
    zoo, its `training_config.yaml` (the `masked` or `baseline` recipe with a hole), read once per process. Models
    trained without holes fill a hole with a flat patch of the mean colour."""
    entry = _zoo_entry(model_id)
    if entry is not None:
        return entry.holes
    config_file = Path(model_id) / "training_config.yaml"
    if not config_file.is_file():
        return False
    import yaml

    try:
        config = yaml.safe_load(config_file.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(config, dict) and config.get("recipe") in ("masked", "baseline") and config.get("hole_ratio") != 0


def hole_score(model_id: str) -> float | None:
    """PSNR inside a centred hole of 25 % of the area on the model's test split, from the `eval.json` beside its
    weights (a folder's file, or the Hub repo's, downloaded); None when there is none."""
    path: str | None = str(Path(model_id) / "eval.json") if os.path.isdir(model_id) else None
    if path is None:
        try:
            from huggingface_hub import hf_hub_download

            path = hf_hub_download(model_id, "eval.json")
        except Exception:  # noqa: BLE001 - offline, private or missing: the model is ranked without a score
            return None
    try:
        value = json.loads(Path(path).read_text())["holes"]["centre-25"]["model"]["psnr_hole"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def inpainting_models(model_ids: list[str]) -> tuple[list[tuple[str, float | None]], bool]:
    """The models the Inpaint tab offers, best first, each with its `hole_score`: those trained with holes, face
    models first, then by hole PSNR (unscored last, in menu order). When none was trained with holes, all of them,
    and False (the tab then says that none of them learned to inpaint)."""
    with_holes = [model_id for model_id in model_ids if trained_with_holes(model_id)]
    scored = [(model_id, hole_score(model_id)) for model_id in (with_holes or model_ids)]
    order = sorted(
        range(len(scored)),
        key=lambda i: (not is_face_model(scored[i][0]), scored[i][1] is None, -(scored[i][1] or 0.0), i),
    )
    return [scored[i] for i in order], bool(with_holes)


_twins: dict[str, str] = {}  # menu key -> the menu key of its twin (leAutoencoder <-> masked-MSE baseline)


def register_twins(model_ids: list[str], org: str) -> None:
    """Record each model's zoo twin, as a menu key: the twin's local folder when one of `model_ids` is it, else its
    Hub repo id in `org` (registered as a model too, so it can be loaded for a comparison)."""
    by_name = {Path(model_id).name if os.path.isdir(model_id) else model_id.split("/")[-1]: model_id
               for model_id in model_ids}  # fmt: skip
    keys = {model_id: key for key, model_id in _models.items()}
    for model_id in model_ids:
        entry = _zoo_entry(model_id)
        if entry is None or entry.twin is None:
            continue
        twin_id = by_name.get(entry.twin) or zoo.repo_id(entry.twin, org)
        if twin_id not in keys:
            keys[twin_id] = register_models([twin_id])[0][1]
        _twins[keys[model_id]] = keys[twin_id]


def twin_of(key: str) -> str | None:
    """The menu key of the twin of the model that `key` names, if it has one (`register_twins`)."""
    return _twins.get(key)


def any_twins() -> bool:
    """True once some model of this process has a twin to compare with."""
    return bool(_twins)


_load_lock = threading.Lock()


@functools.lru_cache(maxsize=4)
def _load(model_id: str) -> tuple[leae_hub.LeaeModel, leae_hub.LeaeImageProcessor]:
    from transformers import AutoImageProcessor, AutoModel

    model = AutoModel.from_pretrained(model_id).eval()
    try:
        processor = AutoImageProcessor.from_pretrained(model_id)
    except Exception:  # no preprocessor_config.json: build one from the model's config
        processor = leae_hub.LeaeImageProcessor(
            image_size=model.config.image_size, num_channels=model.config.in_channels
        )
    return model, processor


_load_failures: dict[str, tuple[float, str]] = {}


def load_model(key: str | None) -> tuple[leae_hub.LeaeModel, leae_hub.LeaeImageProcessor]:
    """Load (once, then cached) the model a menu key names, and its image processor."""
    if not key:
        raise gr.Error("No model selected: pick one in the Model menu.", print_exception=False)
    key = str(key)
    if key not in _models:
        raise gr.Error(f"Unknown model {key!r}: choose one of {sorted(_models)}.", print_exception=False)
    model_id = _models[key]
    with _load_lock:  # two first requests for the same model load it once
        failed_at, text = _load_failures.get(model_id, (0.0, ""))
        if time.monotonic() - failed_at >= LOAD_RETRY_S:
            try:
                return _load(model_id)
            except Exception as error:  # noqa: BLE001 - any load failure becomes a short message in the UI
                logger.exception("could not load %s", model_id)
                text = str(error).strip().splitlines()[0].rstrip(".") if str(error).strip() else type(error).__name__
                for path in (str(Path(model_id).resolve()), model_id):  # never show a server path
                    text = text.replace(path, key)
                _load_failures[model_id] = (time.monotonic(), text)
    raise gr.Error(
        f"Could not load model {key!r}: {text[:300]}. Pick another model, or run the app with --model pointing "
        "at a local folder.",
        print_exception=False,
    )


def describe_model(key: str | None) -> str:
    """A one-paragraph summary of the model, or the load error, as Markdown."""
    try:
        model, processor = load_model(key)
    except gr.Error as error:
        return f"⚠️ {error.message}"
    config = model.config
    kind = "spatial" if config.latent_type == "spatial" else "pooled"
    channels = "RGB" if config.in_channels == 3 else "greyscale"
    note = "" if kind == "spatial" else " The latent brush needs a spatial latent, so it is not available for it."
    return (
        f"**{key}**: {channels} images at {processor.image_size}×{processor.image_size}, {kind} latent "
        f"{shape_text(model.latent_shape)} ({model.compression_ratio:.0f}× compression), {model.num_parameters():,} "
        f"parameters.{note}"
    )
