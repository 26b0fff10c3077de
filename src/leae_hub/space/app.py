"""leae-demo: a Gradio Space for the self-teaching autoencoders of leae-hub, with faces first.

Four tabs, each a thin shell over `leae_hub.pipelines` and each an API endpoint for `gradio_client`:
`/reconstruct`, `/inpaint`, `/interpolate`, `/latent_brush`.

Run locally:

    python spaces/leae-demo/app.py --model model_cards/leae-faces-128

`--model` (or the `LEAE_MODEL_ID` environment variable) takes a local folder or a Hub repo id; without it the first face
model of the menu is selected. The menu lists the staged folders under `model_cards/` first, then the trained repos of
`leae_hub.zoo` (faces first). Open a tab directly with `?tab=inpaint` (or `reconstruct`, `interpolate`,
`latent_brush`) in the URL.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import math
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw, UnidentifiedImageError

import leae_hub
from leae_hub import pipelines, zoo
from leae_hub.lab import mog, noisy_tv
from leae_hub.lab import plots as lab_plots

logger = logging.getLogger("leae-demo")

MAX_PIXELS = 4_000_000  # uploads above this are downscaled before processing
MAX_UPLOAD_PIXELS = 50_000_000  # uploads above this are refused
MAX_FILE_SIZE = "25mb"
QUEUE_MAX_SIZE = 32  # requests waiting beyond this are turned away ("queue is full") instead of waiting for minutes
CONCURRENCY_LIMIT = 2  # requests of one endpoint that run at the same time (the Space's CPUs are few)
# The folder of the app.py that was started (not resolved: spaces/leae-demo/app.py of a checkout links to the copy
# packaged as leae_hub/space/app.py, and the Space's examples/ and model_cards/ sit beside the link).
HERE = Path(__file__).absolute().parent
# The organisation of the zoo's Hub repos in the menu: build_space.py writes the Space's `--org` here; the
# LEAE_HUB_ORG environment variable overrides it, and without either it is leae_hub.zoo's default (leae-hub).
SPACE_ORG: str | None = None
# model_cards/ next to app.py (a Space that ships its models), at the repository root (a checkout of leae-hub), and
# in the working directory (the packaged app, run by `leae demo` anywhere).
_CHECKOUT_CARDS = [HERE.parents[1] / "model_cards"] if len(HERE.parents) > 1 else []
MODEL_CARD_DIRS = list(dict.fromkeys([HERE / "model_cards", *_CHECKOUT_CARDS, Path("model_cards")]))
EXAMPLES_DIR = HERE / "examples"  # face photos from the UTKFace test split: see examples/LICENSE.md
FACE_DATA = {"utkface", "celeba-half", "flwrlabs/celeba"}  # zoo data sources whose models are face models
OUTPUT_DIR = Path(tempfile.gettempdir()) / "leae-demo-outputs" / str(os.getpid())
OUTPUT_MAX_AGE_S = 900  # our copies of the outputs; gradio serves its own copies from its cache
DISPLAY_SIZE = 256  # model-size outputs are shown at least this large, enlarged without smoothing
TABS = {
    "reconstruct": "Reconstruct",
    "inpaint": "Inpaint",
    "interpolate": "Interpolate",
    "latent_brush": "Latent brush",
    "lab": "Lab",
}
IMAGE_TABS = ("reconstruct", "inpaint", "interpolate", "latent_brush")  # the tabs that `?example=` fills
NO_PRESET = "none (use the painted mask)"
DEFAULT_PRESET = "centre square, 25% of the area"  # chosen when the tab opens, so a first click shows a result
RECTANGLE_PRESETS = {
    NO_PRESET: 0.0,
    "centre square, 10% of the area": 0.10,
    "centre square, 25% of the area": 0.25,
    "centre square, 35% of the area": 0.35,
    "centre square, 50% of the area": 0.50,
}
# Boxes (x0, y0, x1, y1) as fractions of the model-size image, for aligned, centre-cropped faces (UTKFace, CelebA).
CUSTOM_REGION = "custom (use the sliders)"
FACE_REGIONS = {
    "eyes": (0.15, 0.30, 0.85, 0.50),
    "nose": (0.35, 0.45, 0.65, 0.65),
    "mouth": (0.25, 0.62, 0.75, 0.82),
    "upper half": (0.0, 0.0, 1.0, 0.5),
    "lower half": (0.0, 0.5, 1.0, 1.0),
}
# Model-size outputs (64 or 128 px for faces, 32 px for CIFAR models) fill their box, enlarged without smoothing.
CSS = """
.pixelated img { image-rendering: pixelated; }
.enlarge img { width: 100%; height: 100%; object-fit: contain; }
"""


# --- models ---------------------------------------------------------------------------------------------------------


def _zoo_rank(name: str) -> int:
    """Position of a repo name in `leae_hub.zoo.ZOO` (faces first); names outside the zoo come after."""
    names = [item.name for item in zoo.ZOO]
    return names.index(name) if name in names else len(names)


def local_models() -> list[str]:
    """Folders `model_cards/*/` holding a saved model (config.json + model.safetensors), in zoo order (faces first):
    these work offline. Cards without weights are left out."""
    found: list[str] = []
    for root in MODEL_CARD_DIRS:
        if root.is_dir():
            for folder in root.iterdir():
                if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
                    found.append(str(folder))
    return sorted(found, key=lambda path: (_zoo_rank(Path(path).name), Path(path).name))


def default_model_ids() -> list[str]:
    """Local folders first (they need no network), then the zoo's trained Hub repos, without repeats."""
    local = local_models()
    local_names = {Path(path).name for path in local}
    return local + [repo for repo in zoo.trained_repo_ids(hub_org()) if repo.split("/")[-1] not in local_names]


def hub_org() -> str:
    """The organisation of the zoo's repos: `LEAE_HUB_ORG`, else the Space's own (`SPACE_ORG`), else the zoo's."""
    return zoo.hub_org(os.environ.get(zoo.ORG_ENV) or SPACE_ORG)


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


def register_twins(model_ids: list[str]) -> None:
    """Record each model's zoo twin, as a menu key: the twin's local folder when one of `model_ids` is it, else its
    Hub repo id (registered as a model too, so it can be loaded for a comparison)."""
    by_name = {Path(model_id).name if os.path.isdir(model_id) else model_id.split("/")[-1]: model_id
               for model_id in model_ids}  # fmt: skip
    keys = {model_id: key for key, model_id in _models.items()}
    for model_id in model_ids:
        entry = _zoo_entry(model_id)
        if entry is None or entry.twin is None:
            continue
        twin_id = by_name.get(entry.twin) or zoo.repo_id(entry.twin, hub_org())
        if twin_id not in keys:
            keys[twin_id] = register_models([twin_id])[0][1]
        _twins[keys[model_id]] = keys[twin_id]


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
LOAD_RETRY_S = 60  # a model that failed to load is not retried for this long (a Hub timeout takes ~45 s offline)


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
        f"{_shape(model.latent_shape)} ({model.compression_ratio:.0f}× compression), {model.num_parameters():,} "
        f"parameters.{note}"
    )


# --- helpers --------------------------------------------------------------------------------------------------------


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(str(size) for size in shape)


def _db(value: float) -> str:
    return "∞ dB" if math.isinf(value) else f"{value:.2f} dB"


@contextlib.contextmanager
def _user_errors(name: str):
    """Turn any exception into a `gr.Error` with a short message (no stack trace reaches the user)."""
    try:
        yield
    except gr.Error:
        raise
    except (ValueError, TypeError) as error:
        raise gr.Error(str(error), print_exception=False) from None
    except Exception as error:  # noqa: BLE001
        logger.exception("unexpected error in %s", name)
        raise gr.Error(f"Something went wrong ({type(error).__name__}: {str(error)[:200]}).") from None


def _friendly(fn):
    """`fn` with its errors shown to the user as short messages (`_user_errors`)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _user_errors(fn.__name__):
            return fn(*args, **kwargs)

    return wrapper


def cap_pixels(image: Image.Image, max_pixels: int = MAX_PIXELS) -> tuple[Image.Image, str | None]:
    """Downscale an image above `max_pixels` (keeping its aspect ratio); returns the image and a note, if any."""
    pixels = image.width * image.height
    if pixels <= max_pixels:
        return image, None
    scale = math.sqrt(max_pixels / pixels)
    size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
    if image.mode in ("1", "P", "CMYK", "YCbCr", "LAB", "HSV"):
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    try:
        small = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    except ValueError:  # a mode without filtered resizing (some 16-bit modes)
        small = image.resize(size, Image.Resampling.NEAREST)
    note = (
        f"The upload is {image.width}×{image.height} ({pixels / 1e6:.1f} MP); it was downscaled to "
        f"{size[0]}×{size[1]} (cap {max_pixels / 1e6:.0f} MP) before processing."
    )
    return small, note


def _upload(image: Image.Image | None, what: str) -> tuple[Image.Image, list[str]]:
    if image is None:
        raise gr.Error(f"Upload {what} first (or click one of the examples).", print_exception=False)
    _check_pixels(image.width, image.height, what)
    image, note = cap_pixels(image)
    if note:
        gr.Warning(note)
    return image, [note] if note else []


def _check_pixels(width: int, height: int, what: str) -> None:
    if width * height > MAX_UPLOAD_PIXELS:
        raise gr.Error(
            f"{what[0].upper()}{what[1:]} has too many pixels: {width}×{height} is {width * height / 1e6:.0f} MP, "
            f"the limit is {MAX_UPLOAD_PIXELS / 1e6:.0f} MP. Downscale it first (the model sees a small square "
            "crop anyway).",
            print_exception=False,
        )


def readable_uploads(component: gr.components.Component, what: str) -> gr.components.Component:
    """Make `component` (an Image or ImageMask input) answer a bad upload with a message naming the problem.

    gradio decodes uploads before the event function runs, so a file that is not an image (or a decompression bomb)
    would otherwise fail inside gradio with PIL's message, which names the server's temporary path.
    """
    preprocess = component.preprocess

    def checked(payload: Any) -> Any:
        try:
            return preprocess(payload)
        except gr.Error:
            raise
        except Image.DecompressionBombError:
            raise gr.Error(
                f"{what[0].upper()}{what[1:]} has too many pixels to decode safely (the limit is "
                f"{MAX_UPLOAD_PIXELS / 1e6:.0f} MP): downscale it first.",
                print_exception=False,
            ) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
            name = _upload_name(payload)
            raise gr.Error(
                f"{what[0].upper()}{what[1:]}{f' ({name!r})' if name else ''} is not an image this app can read "
                f"({type(error).__name__}): upload a PNG, JPEG, WebP, GIF, BMP or TIFF file.",
                print_exception=False,
            ) from None

    component.preprocess = checked
    return component


def _upload_name(payload: Any) -> str | None:
    """The uploaded file's own name (never the server path) from an Image or ImageEditor payload."""
    for value in (payload, getattr(payload, "background", None)):
        name = getattr(value, "orig_name", None)
        if name:
            return Path(name).name
    return None


def _notes(notes: list[str]) -> str:
    return "".join(f"\n\n_{note}_" for note in notes)


_last_prune = [0.0]


def png_file(image: Image.Image, name: str) -> str:
    """Write an output image as PNG under a unique name and return the path.

    Returning paths instead of PIL images avoids a race in gradio 6.31: it saves a returned PIL image by rewriting, in
    place, a file named after the image's content hash, so when concurrent requests produce the same image (two
    visitors reconstructing the same example) one of them can be served a truncated file. A path is copied into the
    cache atomically.
    """
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(dir=OUTPUT_DIR, prefix=f"{name}-", suffix=".png")
    with os.fdopen(fd, "wb") as file:
        image.save(file, format="PNG")
    now = time.time()
    if now - _last_prune[0] > 60:  # drop our copies once gradio has long since cached them
        _last_prune[0] = now
        for old in OUTPUT_DIR.glob("*.png"):
            with contextlib.suppress(OSError):
                if now - old.stat().st_mtime > OUTPUT_MAX_AGE_S:
                    old.unlink()
    return path


def _upscale(image: Image.Image, minimum: int = DISPLAY_SIZE) -> Image.Image:
    """Nearest-neighbour enlargement for display of tiny model-size images."""
    factor = max(1, math.ceil(minimum / max(image.size)))
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)


def centre_square(height: int, width: int, area: float) -> tuple[int, int, int, int]:
    """Centre square covering `area` of the centre crop the model sees: (left, top, right, bottom) in pixels."""
    side = max(1, round(math.sqrt(area) * min(height, width)))
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def editor_mask(editor: dict[str, Any], preset: str | None) -> tuple[Image.Image, np.ndarray]:
    """The background image and the hole (bool [H, W]) from an ImageMask value and a rectangle preset.

    The painted hole is the union of the layers' alpha channels (resized to the background if needed); the preset adds
    a centre square.
    """
    background = (editor or {}).get("background")
    if background is None:
        raise gr.Error("Upload an image into the editor first (or click one of the examples).", print_exception=False)
    hole = np.zeros((background.height, background.width), dtype=bool)
    for layer in editor.get("layers") or []:
        if layer is None:
            continue
        if not isinstance(layer, Image.Image):
            layer = Image.fromarray(np.asarray(layer))
        if layer.mode not in ("RGBA", "LA"):
            layer = layer.convert("RGBA")
        alpha = layer.getchannel("A")
        if alpha.size != background.size:
            alpha = alpha.resize(background.size, Image.Resampling.NEAREST)
        hole |= np.asarray(alpha) > 127
    if preset not in RECTANGLE_PRESETS:
        raise gr.Error(f"Unknown rectangle preset {preset!r}: choose one of {list(RECTANGLE_PRESETS)}.")
    area = RECTANGLE_PRESETS[preset]
    if area > 0:
        left, top, right, bottom = centre_square(background.height, background.width, area)
        hole[top:bottom, left:right] = True
    return background, hole


def _draw_cells(
    image: Image.Image, cells: tuple[int, int, int, int], grid: tuple[int, int], colour: str
) -> Image.Image:
    """The image enlarged, with the latent grid (`grid` = (rows, columns)) in thin lines and the latent cells
    `cells` = (x0, y0, x1, y1), end exclusive, outlined in `colour`: exactly the area the brush copies or replaces."""
    image = _upscale(image.convert("RGB"))
    rows, columns = grid
    cell_w, cell_h = image.width / columns, image.height / rows
    draw = ImageDraw.Draw(image)
    for column in range(1, columns):
        draw.line([(column * cell_w, 0), (column * cell_w, image.height)], fill=(255, 255, 255), width=1)
    for row in range(1, rows):
        draw.line([(0, row * cell_h), (image.width, row * cell_h)], fill=(255, 255, 255), width=1)
    x0, y0, x1, y1 = cells
    draw.rectangle([x0 * cell_w, y0 * cell_h, x1 * cell_w - 1, y1 * cell_h - 1], outline=colour, width=3)
    return image


# --- endpoints ------------------------------------------------------------------------------------------------------


@_friendly
def run_reconstruct(image: Image.Image | None, model_id: str) -> tuple[str, str, str]:
    """Reconstruct one image; returns PNG paths of (processed original, reconstruction) and a Markdown report."""
    model, processor = load_model(model_id)
    image, notes = _upload(image, "an image")
    result = pipelines.reconstruct(model, image, processor)
    info = (
        f"**PSNR** {_db(result.psnr[0])} · **latent** {_shape(result.latent_shape)} "
        f"({math.prod(result.latent_shape):,} values, **{result.compression_ratio:.1f}×** compression) · "
        f"input {image.width}×{image.height} {image.mode} → {processor.image_size}×{processor.image_size}"
    )
    return png_file(result.inputs[0], "original"), png_file(result.images[0], "reconstruction"), info + _notes(notes)


@_friendly
def run_inpaint(
    editor: dict[str, Any] | None, preset: str, model_id: str, compare: bool = False
) -> tuple[str, str, str | None, str]:
    """Inpaint the painted (and/or preset) hole; returns PNG paths of (masked input, result, the twin model's result
    when `compare` is on, else None) and a report."""
    model, processor = load_model(model_id)
    twin = _twins.get(str(model_id)) if compare else None
    if compare and twin is None:
        raise gr.Error(
            f"{model_id} has no twin to compare with (a model trained at equal steps with the other recipe): turn "
            "Compare off, or pick a model of a leAutoencoder / baseline pair.",
            print_exception=False,
        )
    background, hole = editor_mask(editor or {}, preset)
    _check_pixels(background.width, background.height, "the image")
    image, note = cap_pixels(background)
    if note:
        gr.Warning(note)
        hole = np.asarray(Image.fromarray(hole).resize(image.size, Image.Resampling.NEAREST))
    if not hole.any():
        raise gr.Error(
            "The mask is empty: paint over the area to fill, or choose a rectangle preset.", print_exception=False
        )
    result = pipelines.inpaint(model, image, hole, processor)
    info = (
        f"**{model_id}**: **hole PSNR** {_db(result.psnr_hole)} · **whole image PSNR** {_db(result.psnr_total)} · "
        f"hole {result.hole_fraction:.0%} of the {processor.image_size}×{processor.image_size} image · "
        "pixels outside the hole are the input's, unchanged"
    )
    if not trained_with_holes(_models[str(model_id)]):
        info += "\n\n_This model was never trained with holes: it fills them with a flat patch of the mean colour._"
    compared = None
    if twin is not None:
        twin_model, twin_processor = load_model(twin)
        twin_result = pipelines.inpaint(twin_model, image, hole, twin_processor)
        compared = png_file(twin_result.image, "compared")
        info += f"\n\n**{twin}** (compare): **hole PSNR** {_db(twin_result.psnr_hole)} · **whole image PSNR** " + (
            f"{_db(twin_result.psnr_total)}"
        )
    masked, inpainted = png_file(result.masked_input, "masked"), png_file(result.image, "inpainted")
    return masked, inpainted, compared, info + _notes([note] if note else [])


@_friendly
def run_interpolate(
    image_a: Image.Image | None, image_b: Image.Image | None, steps: float, model_id: str
) -> tuple[str, list[str], str]:
    """Decode the latent path from A to B; returns PNG paths of the strip and the frames, and a report."""
    model, processor = load_model(model_id)
    image_a, notes_a = _upload(image_a, "image A")
    image_b, notes_b = _upload(image_b, "image B")
    steps = int(round(float(steps)))
    if not 2 <= steps <= 32:
        raise gr.Error(f"steps must be between 2 and 32, got {steps}.", print_exception=False)
    result = pipelines.interpolate(model, image_a, image_b, steps=steps, processor=processor)
    ends = pipelines.reconstruct(model, [image_a, image_b], processor).psnr  # the first and last frames
    info = (
        f"{steps} images decoded from (1 − t)·z_A + t·z_B, t = 0 … 1, latent {_shape(model.latent_shape)} · "
        f"**PSNR** of the end frames: A {_db(ends[0])}, B {_db(ends[1])}"
    )
    frames = [png_file(frame, f"frame{index:02d}") for index, frame in enumerate(result.images)]
    return png_file(result.strip, "interpolation"), frames, info + _notes(notes_a + notes_b)


@_friendly
def run_latent_brush(
    target: Image.Image | None,
    source: Image.Image | None,
    src_x0: float,
    src_y0: float,
    src_x1: float,
    src_y1: float,
    dst_x0: float,
    dst_y0: float,
    dst_x1: float,
    dst_y1: float,
    model_id: str,
) -> tuple[str, str, str, str]:
    """Paint source latent cells into the target; returns PNG paths (result, reference, regions) and a report."""
    model, processor = load_model(model_id)
    if model.config.latent_type != "spatial":
        raise gr.Error(
            f"The latent brush needs a spatial latent, but {model_id} has a pooled latent of "
            f"{model.config.latent_channels} values: pick a model with a spatial latent (e.g. a self-teaching one).",
            print_exception=False,
        )
    target, notes_t = _upload(target, "a target image")
    source, notes_s = _upload(source, "a source image")
    region_src = (src_x0, src_y0, src_x1, src_y1)
    region_dst = (dst_x0, dst_y0, dst_x1, dst_y1)
    result = pipelines.latent_brush(model, target, source, region_src, region_dst, processor=processor)
    references = pipelines.reconstruct(model, [source, target], processor)
    inputs = references.inputs
    grid = tuple(model.latent_shape[1:])
    regions = pipelines.make_strip(
        [
            _draw_cells(inputs[0], result.cells_src, grid, "#e4572e"),
            _draw_cells(inputs[1], result.cells_dst, grid, "#1f77b4"),
        ],
        gap=8,
    )
    sx0, sy0, sx1, sy1 = result.cells_src
    dx0, dy0, dx1, dy1 = result.cells_dst
    info = (
        f"latent cells x {sx0}–{sx1 - 1}, y {sy0}–{sy1 - 1} of the source → x {dx0}–{dx1 - 1}, y {dy0}–{dy1 - 1} of "
        f"the target (latent grid {model.latent_shape[2]}×{model.latent_shape[1]}). Regions: the latent grid, with the "
        "source's cells in orange and the target's in blue. "
        f"**PSNR** of the unchanged reconstructions: target {_db(references.psnr[1])}, source {_db(references.psnr[0])}"
    )
    return (
        png_file(result.image, "brushed"),
        png_file(result.target_reconstruction, "target-reconstruction"),
        png_file(regions, "regions"),
        info + _notes(notes_t + notes_s),
    )


# --- the lab: the 2-D mixture and the noisy TV of docs/lab.md, trained live -----------------------------------------

LAB_MOG_STEPS = (50, 2000, 300)  # (min, max, default) optimiser steps of a 2-D run: 300 take 1–2 s on one CPU core
LAB_MOG_FRAMES = 10  # the landscape is redrawn this many times during a run
LAB_MOG_GRID = 100  # the landscape is evaluated on this grid (the docs' figures: 200), drawn 200 px square
LAB_MOG_PANEL = 200
LAB_MOG_STATS_POINTS = 2000  # training points the collapse measures are computed on
LAB_TV_STEPS = (50, 2000, 300)  # full-batch steps per noisy-TV model: 300 take about 5 s for all five models
LAB_TV_SIGMA = (0.0, 10.0, 8.0)  # the distractor scale σ (the seed's range, and the σ of its time-series figure)
LAB_MAX_SEED = 2**31 - 1


def _friendly_stream(fn):
    """`_friendly` for a generator function (gradio streams each yielded value to the page)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _user_errors(fn.__name__):
            yield from fn(*args, **kwargs)

    return wrapper


def _whole(value: Any, name: str, low: float, high: float) -> int:
    """`value` as an int in [low, high], or a message naming the value and the range."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}.") from None
    if not number.is_integer() or not low <= number <= high:
        raise ValueError(f"{name} must be a whole number from {low:g} to {high:g}, got {value!r}.")
    return int(number)


@_friendly_stream
def run_lab_mog(method: str, steps: float, seed: float):
    """Train one 2-D method of `leae_hub.lab.mog` live; yields (landscape PNG path, Markdown report) ten times."""
    if method not in mog.METHODS:
        raise ValueError(f"Unknown method {method!r}: choose one of {', '.join(mog.METHODS)}.")
    steps = _whole(steps, "Steps", *LAB_MOG_STEPS[:2])
    seed = _whole(seed, "Seed", 0, LAB_MAX_SEED)
    every = max(1, steps // LAB_MOG_FRAMES)
    for run in mog.train_steps(method, seed, steps, every):
        done = len(run.losses)
        recent = run.losses[-every:]
        title = f"{method}, step {done}"
        image = lab_plots.landscape_image(run.model, run.data, title, LAB_MOG_GRID, LAB_MOG_PANEL)
        stats = mog.embedding_stats(run.model, run.data[:LAB_MOG_STATS_POINTS])
        dim = run.model.embed(run.data[:1]).shape[1]
        report = (
            f"**{method}**, seed {seed}: step {done} of {steps} ({run.seconds:.1f} s), loss "
            f"{sum(recent) / len(recent):.4g} (mean of the last {len(recent)} steps). Normalised embedding "
            f"({dim}-d): std {stats['emb_std']:.3f} (0 = collapsed), effective rank {stats['rankme']:.2f} of {dim}."
        )
        yield png_file(image, "lab-landscape"), report


@_friendly_stream
def run_lab_noisy_tv(sigma: float, steps: float, seed: float):
    """Train the five noisy-TV models of `leae_hub.lab.noisy_tv` at one σ, one after the other; yields (s[0] figure
    PNG path or None until the last model, Markdown table of test R²) after each model."""
    try:
        sigma = float(sigma)
    except (TypeError, ValueError):
        raise ValueError(f"σ must be a number, got {sigma!r}.") from None
    if not LAB_TV_SIGMA[0] <= sigma <= LAB_TV_SIGMA[1]:
        raise ValueError(f"σ must be from {LAB_TV_SIGMA[0]:g} to {LAB_TV_SIGMA[1]:g}, got {sigma:g}.")
    steps = _whole(steps, "Steps", *LAB_TV_STEPS[:2])
    seed = _whole(seed, "Seed", 0, LAB_MAX_SEED)
    rows: list[str] = []
    for name, (result,), seconds in noisy_tv.sweep_steps([sigma], [seed], steps):
        rows.append(f"| {name} | {result.r2[name]:.3f} | {result.r2_current[name]:.3f} | {seconds[name]:.1f} |")
        table = "\n".join(
            [
                f"σ = {sigma:g}, seed {seed}, {steps} steps per model; environment SNR {result.snr_db:.1f} dB. Test R² "
                "of a linear readout from each model's latent at t:",
                "",
                "| model | R² of s_{t+1} | R² of s_t | train s |",
                "| --- | --- | --- | --- |",
                *rows,
                f"| *true s_t* | {result.oracle['true_state']:.3f} | | |",
                f"| *raw x_t (20-d)* | {result.oracle['raw_x']:.3f} | | |",
            ]
        )
        if name != noisy_tv.MODELS[-1]:
            yield None, table
    yield png_file(lab_plots.series_image(result), "lab-series"), table + "\n\nAll five models trained."


# --- examples -------------------------------------------------------------------------------------------------------


def example_images(folder: Path = EXAMPLES_DIR) -> dict[str, str]:
    """The example photos shipped in `folder`: {name: path}, UTKFace first, then any others, each sorted by name."""
    files = [path for path in folder.glob("*") if path.suffix.lower() in (".jpg", ".jpeg", ".png")]
    files.sort(key=lambda path: (not path.name.startswith("utkface"), path.name))
    return {path.stem: str(path) for path in files}


def example_pairs(pictures: list[str]) -> list[list[str]]:
    """Consecutive pairs of examples from the same data set (same alignment), for interpolation and the brush."""
    pairs: list[list[str]] = []
    for first, second in zip(pictures[::2], pictures[1::2], strict=False):
        if Path(first).name.split("-")[0] == Path(second).name.split("-")[0]:
            pairs.append([first, second])
    return pairs


# --- the app --------------------------------------------------------------------------------------------------------


def _output_image(label: str, height: int = DISPLAY_SIZE) -> gr.Image:
    # Model-size images are small (64 or 128 px for faces): shown enlarged, without smoothing (see CSS).
    return gr.Image(
        label=label, type="pil", format="png", interactive=False, height=height, elem_classes=["pixelated", "enlarge"]
    )


def _input_image(label: str) -> gr.Image:
    # image_mode=None keeps the upload's mode (RGBA, L, 16-bit): the image processor converts it.
    image = gr.Image(
        label=label, type="pil", image_mode=None, format="png", sources=["upload", "clipboard"], height=320
    )
    return readable_uploads(image, f"the {label.lower()} upload")


def _region_sliders(box: tuple[float, float, float, float]) -> list[gr.Slider]:
    return [
        gr.Slider(0, 1, value=value, step=0.01, label=name)
        for name, value in zip(("x0", "y0", "x1", "y1"), box, strict=True)
    ]


def build_demo(model_ids: list[str] | None = None, default: str | None = None) -> gr.Blocks:
    """Build the Blocks app.

    Args:
        model_ids: the models offered, as local folders or Hub repo ids (default: `default_model_ids()`, staged
            `model_cards/*/` folders first, then the zoo's trained repos, faces first).
        default: the model selected first (added to the menu if missing); default: the first face model.
    """
    sources = list(model_ids) if model_ids is not None else default_model_ids()
    if default and default not in sources:
        sources.insert(0, default)
    if not sources:
        raise ValueError("no models to offer: pass model_ids or a default model (--model FOLDER_OR_REPO_ID).")
    menu = register_models(sources)
    keys = [key for _, key in menu]
    if default:
        default_key = keys[sources.index(default)]
    else:
        default_key = next((key for key, source in zip(keys, sources, strict=True) if is_face_model(source)), keys[0])
    register_twins(sources)
    ranked, inpaint_ready = inpainting_models(sources)
    inpaint_menu = [
        (f"{menu[sources.index(model)][0]}{'' if score is None else f' · hole PSNR {score:.1f} dB'}",
         keys[sources.index(model)])
        for model, score in ranked
    ]  # fmt: skip
    examples = example_images()
    pictures = list(examples.values())
    pairs = example_pairs(pictures)

    with gr.Blocks(title="leae: self-teaching autoencoders") as demo:
        gr.Markdown(
            "# leae: self-teaching autoencoders\n"
            "Autoencoders trained **without a pixel loss**: the decoder's output is judged only through the model's "
            "own encoder. Upload a face (it is resized and centre-cropped to the model's size), or use an example. "
            "Example photos: UTKFace test split, for non-commercial research only."
        )
        with gr.Row():
            model_id = gr.Dropdown(choices=menu, value=default_key, label="Model", scale=2)
            model_info = gr.Markdown()
        model_id.change(describe_model, model_id, model_info, api_visibility="private")
        demo.load(describe_model, model_id, model_info, api_visibility="private")

        with gr.Tabs() as tabs:
            with gr.Tab(TABS["reconstruct"], id="reconstruct"):
                with gr.Row():
                    rec_input = _input_image("Image")
                    rec_original = _output_image("Original (at model size)")
                    rec_output = _output_image("Reconstruction")
                rec_info = gr.Markdown(label="Reconstruction report")
                rec_button = gr.Button("Reconstruct", variant="primary")
                rec_button.click(
                    run_reconstruct, [rec_input, model_id], [rec_original, rec_output, rec_info], api_name="reconstruct"
                )
                if pictures:
                    gr.Examples([[p] for p in pictures], inputs=[rec_input], label="Faces")

            with gr.Tab(TABS["inpaint"], id="inpaint"):
                gr.Markdown(
                    "Paint over the area to fill (the brush marks the hole), or pick a rectangle preset; both "
                    "together are combined. Known pixels are returned unchanged. "
                    + (
                        "Only models trained with holes are offered here, the best hole PSNR first (a centred hole "
                        "of 25 % of the area, on the model's test split)."
                        if inpaint_ready
                        else "⚠️ None of these models was trained with holes: they fill a hole with a flat patch of "
                        "the mean colour."
                    )
                )
                with gr.Row():
                    inp_model = gr.Dropdown(choices=inpaint_menu, value=inpaint_menu[0][1], label="Inpainting model")
                    inp_compare = gr.Checkbox(
                        value=False,
                        label="Compare with its twin (leAutoencoder and its masked-MSE baseline, trained alike)",
                        interactive=bool(_twins),
                    )
                with gr.Row():
                    inp_editor = readable_uploads(
                        gr.ImageMask(
                            label="Image and hole",
                            type="pil",
                            image_mode="RGBA",
                            format="png",
                            sources=["upload", "clipboard"],
                            layers=False,
                        ),
                        "the image",
                    )
                    inp_masked = _output_image("Masked input (at model size)")
                    inp_output = _output_image("Inpainted")
                    inp_compared = _output_image("Its twin's inpainting (compare)")
                inp_preset = gr.Radio(list(RECTANGLE_PRESETS), value=DEFAULT_PRESET, label="Rectangle preset")
                inp_info = gr.Markdown(label="Inpainting report")
                inp_button = gr.Button("Inpaint", variant="primary")
                inp_button.click(
                    run_inpaint,
                    [inp_editor, inp_preset, inp_model, inp_compare],
                    [inp_masked, inp_output, inp_compared, inp_info],
                    api_name="inpaint",
                )
                if pictures:
                    gr.Examples([[p] for p in pictures], inputs=[inp_editor], label="Faces")

            with gr.Tab(TABS["interpolate"], id="interpolate"):
                with gr.Row():
                    int_a = _input_image("Image A")
                    int_b = _input_image("Image B")
                int_steps = gr.Slider(2, 32, value=8, step=1, label="Steps")
                int_strip = _output_image("A → B (decoded latent path)", height=160)
                int_frames = gr.Gallery(
                    label="Frames", format="png", columns=8, height="auto", elem_classes="pixelated"
                )
                int_info = gr.Markdown(label="Interpolation report")
                int_button = gr.Button("Interpolate", variant="primary")
                int_button.click(
                    run_interpolate,
                    [int_a, int_b, int_steps, model_id],
                    [int_strip, int_frames, int_info],
                    api_name="interpolate",
                )
                if pairs:
                    gr.Examples(pairs, inputs=[int_a, int_b], label="Face pairs")

            with gr.Tab(TABS["latent_brush"], id="latent_brush"):
                gr.Markdown(
                    "Copy the **source**'s latent vectors inside one box into the **target**'s latent inside another, "
                    "then decode. Boxes are fractions (0–1) of the model-size image, x to the right and y down; each "
                    "covers the latent cells it touches (8×8 cells at 64 px, 16×16 at 128 px). Pick a face region or "
                    "set the sliders. Needs a model with a spatial latent."
                )
                with gr.Row():
                    brush_target = _input_image("Target")
                    brush_source = _input_image("Source")
                brush_region = gr.Radio(
                    [*FACE_REGIONS, CUSTOM_REGION], value="eyes", label="Face region (source and target)"
                )
                with gr.Row():
                    with gr.Column():
                        gr.Markdown("**Source region**")
                        src = _region_sliders(FACE_REGIONS["eyes"])
                    with gr.Column():
                        gr.Markdown("**Target region**")
                        dst = _region_sliders(FACE_REGIONS["eyes"])
                with gr.Row():
                    brush_output = _output_image("Result (target with the source's region)")
                    brush_reference = _output_image("Target reconstruction (unchanged)")
                    brush_regions = _output_image("Latent cells (source | target)")
                brush_info = gr.Markdown(label="Brush report")
                brush_button = gr.Button("Paint", variant="primary")
                brush_button.click(
                    run_latent_brush,
                    [brush_target, brush_source, *src, *dst, model_id],
                    [brush_output, brush_reference, brush_regions, brush_info],
                    api_name="latent_brush",
                )

                def set_region(region: str) -> list[Any]:
                    """A face region sets both boxes; 'custom' leaves the sliders as they are."""
                    box = FACE_REGIONS.get(region)
                    return [gr.skip()] * 8 if box is None else [*box, *box]

                brush_region.change(set_region, brush_region, [*src, *dst], api_visibility="private")
                if pairs:
                    gr.Examples(pairs, inputs=[brush_target, brush_source], label="Face pairs")

            with gr.Tab(TABS["lab"], id="lab", elem_id="lab-tab"):
                gr.Markdown(
                    "The JEPA lab of `docs/lab.md`, trained live on this server's CPU (the model menu above does not "
                    "apply here). **2-D mixture of Gaussians** (the seed's three components, 5,000 points): pick an "
                    "objective and watch its energy landscape form. Joint-embedding methods show −cos similarity to a "
                    "reference point (cyan) at each component mean; the energy and score models show their energy U. "
                    "White dots are training points; dark is low energy."
                )
                with gr.Row():
                    lab_method = gr.Dropdown(list(mog.METHODS), value="jepa-masked", label="Method")
                    lab_steps = gr.Slider(*LAB_MOG_STEPS, step=50, label="Steps")
                    lab_seed = gr.Number(value=0, precision=0, minimum=0, maximum=LAB_MAX_SEED, label="Seed")
                lab_landscape = gr.Image(label="Energy landscape", format="png", interactive=False, height=240)
                lab_report = gr.Markdown(label="Training report")
                lab_train = gr.Button("Train", variant="primary")
                lab_train.click(
                    run_lab_mog, [lab_method, lab_steps, lab_seed], [lab_landscape, lab_report], api_name="lab_mog"
                )
                gr.Markdown(
                    "**Noisy TV**: a 4-d rotating signal seen in 20-d observations together with a distractor scaled "
                    "by σ. Five linear models with a 4-d latent (VAE and AR reconstruct or predict observations; JEPA, "
                    "VJEPA and BJEPA predict latents) are trained one after the other, and the signal's next state is "
                    "read out of each latent. A few hundred steps keep this to seconds; `docs/lab.md` has the seed's "
                    "10,000 steps over three seeds, where the numbers differ."
                )
                with gr.Row():
                    tv_sigma = gr.Slider(*LAB_TV_SIGMA, step=0.5, label="Distractor scale σ")
                    tv_steps = gr.Slider(*LAB_TV_STEPS, step=50, label="Steps per model")
                    tv_seed = gr.Number(value=0, precision=0, minimum=0, maximum=LAB_MAX_SEED, label="Seed")
                tv_series = gr.Image(label="s[0] over the test steps", format="png", interactive=False, height=260)
                tv_table = gr.Markdown(label="Noisy-TV report")
                tv_button = gr.Button("Compare the models", variant="primary")
                tv_button.click(
                    run_lab_noisy_tv, [tv_sigma, tv_steps, tv_seed], [tv_series, tv_table], api_name="lab_noisy_tv"
                )

        def select_tab(request: gr.Request):
            """`?tab=inpaint` in the URL opens that tab."""
            tab = dict(request.query_params).get("tab", "") if request else ""
            return gr.Tabs(selected=tab) if tab in TABS else gr.skip()

        def fill_from_url(model: str, inpaint_model: str, request: gr.Request):
            """`?tab=inpaint&example=1` (an index into the examples, or an example file name without extension) fills
            that tab with example images and runs it, so a link shows the tab in use; `&compare=1` turns on the
            Inpaint tab's comparison with the model's twin, when it has one."""
            params = dict(request.query_params) if request else {}
            compare = params.get("compare") == "1" and str(inpaint_model) in _twins
            tab, example = params.get("tab", ""), params.get("example", "")
            if tab not in IMAGE_TABS or not example or not pictures:
                return {rec_info: gr.skip()}  # a dict return with no change (an empty dict reads as one value)
            if example.isdigit():  # 1-based, as in "the first example"
                first = pictures[(int(example) - 1) % len(pictures)]
            else:
                first = examples.get(example, pictures[0])
            partner = {a: b for a, b in pairs} | {b: a for a, b in pairs}
            second = partner.get(first) or next((p for p in pictures if p != first), first)
            try:
                return _fill(tab, first, second, inpaint_model if tab == "inpaint" else model, compare)
            except gr.Error as error:
                gr.Warning(error.message)
                return {rec_info: gr.skip()}

        def _fill(tab: str, first: str, second: str, model: str, compare: bool) -> dict[Any, Any]:
            if tab == "reconstruct":
                outputs = run_reconstruct(Image.open(first), model)
                return {rec_input: first, **dict(zip([rec_original, rec_output, rec_info], outputs, strict=True))}
            if tab == "inpaint":
                editor = {"background": Image.open(first).convert("RGBA"), "layers": [], "composite": None}
                outputs = run_inpaint(editor, DEFAULT_PRESET, model, compare)
                return {
                    inp_editor: {"background": first, "layers": [], "composite": first},
                    inp_preset: DEFAULT_PRESET,
                    inp_compare: compare,
                    **dict(zip([inp_masked, inp_output, inp_compared, inp_info], outputs, strict=True)),
                }
            if tab == "interpolate":
                outputs = run_interpolate(Image.open(first), Image.open(second), 8, model)
                return {
                    int_a: first,
                    int_b: second,
                    **dict(zip([int_strip, int_frames, int_info], outputs, strict=True)),
                }
            boxes = [slider.value for slider in (*src, *dst)]
            outputs = run_latent_brush(Image.open(first), Image.open(second), *boxes, model)
            brush_outputs = [brush_output, brush_reference, brush_regions, brush_info]
            return {brush_target: first, brush_source: second, **dict(zip(brush_outputs, outputs, strict=True))}

        url_outputs = {
            rec_input, rec_original, rec_output, rec_info, inp_editor, inp_preset, inp_compare, inp_masked,
            inp_output, inp_compared, inp_info, int_a, int_b, int_strip, int_frames, int_info, brush_target,
            brush_source, brush_output, brush_reference, brush_regions, brush_info,
        }  # fmt: skip
        demo.load(select_tab, None, tabs, api_visibility="private", show_progress="hidden")
        demo.load(fill_from_url, [model_id, inp_model], url_outputs, api_visibility="private", show_progress="hidden")

    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=CONCURRENCY_LIMIT)
    return demo


def main(argv: list[str] | None = None) -> None:
    """Run the Space: `python app.py [--model FOLDER_OR_REPO_ID] [--port PORT] [--share]`."""
    parser = argparse.ArgumentParser(prog=os.environ.get("LEAE_DEMO_PROG"), description="The leae-hub demo Space.")
    parser.add_argument("--model", default=os.environ.get("LEAE_MODEL_ID"), help="local folder or Hub repo id")
    parser.add_argument("--port", type=int, default=None, help="server port (default: GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--share", action="store_true", default=False, help="create a public gradio.live link")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    logger.info("zoo repos of %s; menu: %s", hub_org(), ", ".join(default_model_ids()))
    demo = build_demo(default=args.model)
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=args.port,
        share=args.share,
        show_error=True,
        max_file_size=MAX_FILE_SIZE,
        css=CSS,
    )


if __name__ == "__main__":
    main()
