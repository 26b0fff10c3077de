"""What every endpoint of the Space shares: uploads checked and capped, outputs written as PNG files, errors turned
into short messages, and the numbers of a report."""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image, UnidentifiedImageError

logger = logging.getLogger("leae-demo")

MAX_PIXELS = 4_000_000  # uploads above this are downscaled before processing
MAX_UPLOAD_PIXELS = 50_000_000  # uploads above this are refused
MAX_FILE_SIZE = "25mb"
OUTPUT_DIR = Path(tempfile.gettempdir()) / "leae-demo-outputs" / str(os.getpid())
OUTPUT_MAX_AGE_S = 900  # our copies of the outputs; gradio serves its own copies from its cache
DISPLAY_SIZE = 256  # model-size outputs are shown at least this large, enlarged without smoothing


def shape_text(shape: tuple[int, ...]) -> str:
    """A tensor shape as `32×8×8`."""
    return "×".join(str(size) for size in shape)


def db_text(value: float) -> str:
    """A PSNR in dB, with two decimals (∞ for a perfect match)."""
    return "∞ dB" if math.isinf(value) else f"{value:.2f} dB"


def notes_text(notes: list[str]) -> str:
    """Notes for the end of a Markdown report, each in its own italic paragraph."""
    return "".join(f"\n\n_{note}_" for note in notes)


@contextlib.contextmanager
def _user_errors(name: str) -> Iterator[None]:
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


def friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` with its errors shown to the user as short messages (`_user_errors`)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _user_errors(fn.__name__):
            return fn(*args, **kwargs)

    return wrapper


def friendly_stream(fn: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    """`friendly` for a generator function (gradio streams each yielded value to the page)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _user_errors(fn.__name__):
            yield from fn(*args, **kwargs)

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


def upload(image: Image.Image | None, what: str) -> tuple[Image.Image, list[str]]:
    """The uploaded image, checked (`check_pixels`) and capped (`cap_pixels`, with a warning), and its notes."""
    if image is None:
        raise gr.Error(f"Upload {what} first (or click one of the examples).", print_exception=False)
    check_pixels(image.width, image.height, what)
    image, note = cap_pixels(image)
    if note:
        gr.Warning(note)
    return image, [note] if note else []


def check_pixels(width: int, height: int, what: str) -> None:
    """Refuse an image of more than `MAX_UPLOAD_PIXELS`, naming its size and the limit."""
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


def upscale(image: Image.Image, minimum: int = DISPLAY_SIZE) -> Image.Image:
    """Nearest-neighbour enlargement for display of tiny model-size images."""
    factor = max(1, math.ceil(minimum / max(image.size)))
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
