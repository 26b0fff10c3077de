"""The regions the image tabs work on: the Inpaint tab's rectangle presets and the hole of its painted mask, the
latent brush's face regions and its latent cells drawn over an image."""

from __future__ import annotations

import math
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw

from leae_hub.space.uploads import upscale

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


def draw_cells(image: Image.Image, cells: tuple[int, int, int, int], grid: tuple[int, int], colour: str) -> Image.Image:
    """The image enlarged, with the latent grid (`grid` = (rows, columns)) in thin lines and the latent cells
    `cells` = (x0, y0, x1, y1), end exclusive, outlined in `colour`: exactly the area the brush copies or replaces."""
    image = upscale(image.convert("RGB"))
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
