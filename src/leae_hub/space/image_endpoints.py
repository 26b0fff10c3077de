"""The callbacks of the four image tabs, each an API endpoint for `gradio_client` (`/reconstruct`, `/inpaint`,
`/interpolate`, `/latent_brush`) and each a thin shell over `leae_hub.inference`: images in, PNG paths and a Markdown
report out."""

from __future__ import annotations

import math
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from leae_hub import inference
from leae_hub.space.catalogue import load_model, model_id_of, trained_with_holes, twin_of
from leae_hub.space.regions import draw_cells, editor_mask
from leae_hub.space.uploads import (
    cap_pixels,
    check_pixels,
    db_text,
    friendly,
    notes_text,
    png_file,
    shape_text,
    upload,
)


@friendly
def run_reconstruct(image: Image.Image | None, model_id: str) -> tuple[str, str, str]:
    """Reconstruct one image; returns PNG paths of (processed original, reconstruction) and a Markdown report."""
    model, processor = load_model(model_id)
    image, notes = upload(image, "an image")
    result = inference.reconstruct(model, image, processor)
    info = (
        f"**PSNR** {db_text(result.psnr[0])} · **latent** {shape_text(result.latent_shape)} "
        f"({math.prod(result.latent_shape):,} values, **{result.compression_ratio:.1f}×** compression) · "
        f"input {image.width}×{image.height} {image.mode} → {processor.image_size}×{processor.image_size}"
    )
    return (
        png_file(result.inputs[0], "original"),
        png_file(result.images[0], "reconstruction"),
        info + notes_text(notes),
    )


@friendly
def run_inpaint(
    editor: dict[str, Any] | None, preset: str, model_id: str, compare: bool = False
) -> tuple[str, str, str | None, str]:
    """Inpaint the painted (and/or preset) hole; returns PNG paths of (masked input, result, the twin model's result
    when `compare` is on, else None) and a report."""
    model, processor = load_model(model_id)
    twin = twin_of(str(model_id)) if compare else None
    if compare and twin is None:
        raise gr.Error(
            f"{model_id} has no twin to compare with (a model trained at equal steps with the other recipe): turn "
            "Compare off, or pick a model of a leAutoencoder / baseline pair.",
            print_exception=False,
        )
    background, hole = editor_mask(editor or {}, preset)
    check_pixels(background.width, background.height, "the image")
    image, note = cap_pixels(background)
    if note:
        gr.Warning(note)
        hole = np.asarray(Image.fromarray(hole).resize(image.size, Image.Resampling.NEAREST))
    if not hole.any():
        raise gr.Error(
            "The mask is empty: paint over the area to fill, or choose a rectangle preset.", print_exception=False
        )
    result = inference.inpaint(model, image, hole, processor)
    info = (
        f"**{model_id}**: **hole PSNR** {db_text(result.psnr_hole)} · **whole image PSNR** "
        f"{db_text(result.psnr_total)} · hole {result.hole_fraction:.0%} of the {processor.image_size}×"
        f"{processor.image_size} image · pixels outside the hole are the input's, unchanged"
    )
    if not trained_with_holes(model_id_of(str(model_id))):
        info += "\n\n_This model was never trained with holes: it fills them with a flat patch of the mean colour._"
    compared = None
    if twin is not None:
        twin_model, twin_processor = load_model(twin)
        twin_result = inference.inpaint(twin_model, image, hole, twin_processor)
        compared = png_file(twin_result.image, "compared")
        info += f"\n\n**{twin}** (compare): **hole PSNR** {db_text(twin_result.psnr_hole)} · **whole image PSNR** " + (
            f"{db_text(twin_result.psnr_total)}"
        )
    masked, inpainted = png_file(result.masked_input, "masked"), png_file(result.image, "inpainted")
    return masked, inpainted, compared, info + notes_text([note] if note else [])


@friendly
def run_interpolate(
    image_a: Image.Image | None, image_b: Image.Image | None, steps: float, model_id: str
) -> tuple[str, list[str], str]:
    """Decode the latent path from A to B; returns PNG paths of the strip and the frames, and a report."""
    model, processor = load_model(model_id)
    image_a, notes_a = upload(image_a, "image A")
    image_b, notes_b = upload(image_b, "image B")
    steps = int(round(float(steps)))
    if not 2 <= steps <= 32:
        raise gr.Error(f"steps must be between 2 and 32, got {steps}.", print_exception=False)
    result = inference.interpolate(model, image_a, image_b, steps=steps, processor=processor)
    ends = inference.reconstruct(model, [image_a, image_b], processor).psnr  # the first and last frames
    info = (
        f"{steps} images decoded from (1 − t)·z_A + t·z_B, t = 0 … 1, latent {shape_text(model.latent_shape)} · "
        f"**PSNR** of the end frames: A {db_text(ends[0])}, B {db_text(ends[1])}"
    )
    frames = [png_file(frame, f"frame{index:02d}") for index, frame in enumerate(result.images)]
    return png_file(result.strip, "interpolation"), frames, info + notes_text(notes_a + notes_b)


@friendly
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
    target, notes_t = upload(target, "a target image")
    source, notes_s = upload(source, "a source image")
    region_src = (src_x0, src_y0, src_x1, src_y1)
    region_dst = (dst_x0, dst_y0, dst_x1, dst_y1)
    result = inference.latent_brush(model, target, source, region_src, region_dst, processor=processor)
    references = inference.reconstruct(model, [source, target], processor)
    inputs = references.inputs
    grid = tuple(model.latent_shape[1:])
    regions = inference.make_strip(
        [
            draw_cells(inputs[0], result.cells_src, grid, "#e4572e"),
            draw_cells(inputs[1], result.cells_dst, grid, "#1f77b4"),
        ],
        gap=8,
    )
    sx0, sy0, sx1, sy1 = result.cells_src
    dx0, dy0, dx1, dy1 = result.cells_dst
    info = (
        f"latent cells x {sx0}–{sx1 - 1}, y {sy0}–{sy1 - 1} of the source → x {dx0}–{dx1 - 1}, y {dy0}–{dy1 - 1} of "
        f"the target (latent grid {model.latent_shape[2]}×{model.latent_shape[1]}). Regions: the latent grid, with the "
        "source's cells in orange and the target's in blue. **PSNR** of the unchanged reconstructions: target "
        f"{db_text(references.psnr[1])}, source {db_text(references.psnr[0])}"
    )
    return (
        png_file(result.image, "brushed"),
        png_file(result.target_reconstruction, "target-reconstruction"),
        png_file(regions, "regions"),
        info + notes_text(notes_t + notes_s),
    )
