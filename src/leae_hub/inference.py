"""Ready-made uses of a [`LeaeModel`]: reconstruct, inpaint, interpolate, latent brush, and PSNR.

Plain functions for user code and for the Space (`spaces/leae-demo/app.py`). Each takes PIL images, numpy arrays or
tensors (`[C, H, W]` or `[1, C, H, W]` in [0, 1]) of any size and mode, prepares them with the model's own image size
and channels (a [`LeaeImageProcessor`] built from the config unless one is given), runs in inference mode with the
model in eval mode (a model that was in train mode is put back afterwards), and returns a small dataclass of PIL images
and numbers.

```python
>>> import leae_hub
>>> from leae_hub.inference import reconstruct
>>> model = leae_hub.LeaeModel(leae_hub.LeaeConfig.from_preset("leae-cifar"))
>>> result = reconstruct(model, image)          # doctest: +SKIP
>>> result.images[0], result.psnr[0]            # doctest: +SKIP
```
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .evaluation import psnr_from_mse
from .image_processing_leae import LeaeImageProcessor
from .modeling_leae import LeaeModel

Box = tuple[float, float, float, float]


@dataclass
class ReconstructionResult:
    """Output of [`reconstruct`].

    Args:
        images: the reconstructions, one PIL image (RGB or L) per input, at the model's image size.
        inputs: the processed originals (resized and centre-cropped to the model's size), as PIL images.
        psnr: PSNR in dB of each reconstruction against its processed original (float values, before 8-bit rounding).
        latent_shape: shape of one image's latent, `(C, h, w)` or `(D,)`.
        compression_ratio: input values per latent value.
    """

    images: list[Image.Image]
    inputs: list[Image.Image]
    psnr: list[float]
    latent_shape: tuple[int, ...]
    compression_ratio: float


@dataclass
class InpaintResult:
    """Output of [`inpaint`].

    Args:
        image: the inpainted image; pixels outside the hole are the processed input's, exactly.
        masked_input: the processed input with the hole shown in mid grey.
        input: the processed input (the original at model size).
        mask: the hole at model size, as an "L" image (255 = hole).
        psnr_hole: PSNR in dB of the filled hole against the original's pixels there.
        psnr_total: PSNR in dB of the whole inpainted image against the original.
        hole_fraction: fraction of the image's pixels inside the hole.
    """

    image: Image.Image
    masked_input: Image.Image
    input: Image.Image
    mask: Image.Image
    psnr_hole: float
    psnr_total: float
    hole_fraction: float


@dataclass
class InterpolationResult:
    """Output of [`interpolate`].

    Args:
        images: the decoded images of (1 − t)·z_a + t·z_b, for t from 0 to 1.
        strip: the same images side by side in one image.
        weights: the values of t.
    """

    images: list[Image.Image]
    strip: Image.Image
    weights: list[float]


@dataclass
class BrushResult:
    """Output of [`latent_brush`].

    Args:
        image: the decoded target latent after painting the source's latent cells into it.
        target_reconstruction: the target decoded without changes, to compare with.
        source_reconstruction: the source decoded without changes.
        cells_src: latent cells `(x0, y0, x1, y1)` (end exclusive) read from the source.
        cells_dst: latent cells `(x0, y0, x1, y1)` (end exclusive) written in the target.
    """

    image: Image.Image
    target_reconstruction: Image.Image
    source_reconstruction: Image.Image
    cells_src: tuple[int, int, int, int]
    cells_dst: tuple[int, int, int, int]


def psnr(a: Any, b: Any, data_range: float = 1.0, mask: Any = None) -> float:
    """Peak signal-to-noise ratio in dB: 10·log10(data_range² / MSE); `inf` for identical inputs.

    `a` and `b` are tensors or arrays of the same shape (values on the scale of `data_range`), or PIL images (their
    8-bit values are divided by 255, so keep `data_range=1.0`). With `mask` (broadcastable to `a`, nonzero = counted),
    the MSE is the mean over the masked elements only.
    """
    a, b = _as_float_tensor(a), _as_float_tensor(b)
    if a.shape != b.shape:
        raise ValueError(f"psnr needs inputs of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}.")
    squared_error = (a - b).square()
    if mask is not None:
        weight = torch.broadcast_to(_as_float_tensor(mask).to(squared_error.device) != 0, squared_error.shape)
        if not weight.any():
            raise ValueError("psnr got an empty mask: nothing to compare.")
        squared_error = squared_error[weight]
    return psnr_from_mse(squared_error.double().mean(), data_range).item()


def reconstruct(model: LeaeModel, images: Any, processor: LeaeImageProcessor | None = None) -> ReconstructionResult:
    """Encode and decode images: x̂ = D(E(x)).

    Args:
        model: the autoencoder.
        images: one image or a list of images (PIL, numpy, or tensors `[C, H, W]`), or a batch tensor `[B, C, H, W]`.
        processor: how to prepare the images; defaults to `LeaeImageProcessor` at the model's size and channels.
    """
    processor = _processor_for(model, processor)
    with _inference(model):
        pixel_values = _pixel_values(model, processor, images)
        reconstruction = model(pixel_values).reconstruction
        scores = [psnr(original, output) for original, output in zip(pixel_values, reconstruction, strict=True)]
    return ReconstructionResult(
        images=processor.postprocess(reconstruction),
        inputs=processor.postprocess(pixel_values),
        psnr=scores,
        latent_shape=tuple(model.latent_shape),
        compression_ratio=float(model.compression_ratio),
    )


def inpaint(model: LeaeModel, image: Any, mask: Any, processor: LeaeImageProcessor | None = None) -> InpaintResult:
    """Fill a hole in one image; the known pixels are kept exactly (see `LeaeModel.inpaint`).

    Args:
        model: the autoencoder.
        image: one image (PIL, numpy, tensor `[C, H, W]` or `[1, C, H, W]`).
        mask: the hole, 1 (or nonzero / > half of the range) = hole, 0 = keep. A PIL image ("1", "L", or the alpha
            channel of "RGBA"/"LA"/"P" with transparency), a numpy array or a tensor (`[H, W]`, `[1, H, W]` or
            `[1, 1, H, W]`; bool, uint8 0–255 or float 0–1). Either at the image's size, at the model's size, or any
            size with the image's aspect ratio: it is resized (nearest) and centre-cropped like the image.
        processor: how to prepare the image; defaults to `LeaeImageProcessor` at the model's size and channels.

    Raises:
        ValueError: when the mask is empty or covers the whole image at the model's resolution.
    """
    processor = _processor_for(model, processor)
    image = _single_image(image, "image")
    hole = _mask_at_model_size(mask, _image_size(image), processor)  # [1, 1, S, S], 0/1
    hole_pixels = int(hole.sum().item())
    if hole_pixels == 0:
        raise ValueError(
            f"The mask is empty at the model's {processor.image_size}×{processor.image_size} resolution: "
            "paint the area to fill (or choose a rectangle preset)."
        )
    if hole_pixels == hole.numel():
        raise ValueError(
            "The mask covers the whole image: leave some pixels unmasked so the model has something to go on."
        )
    with _inference(model):
        pixel_values = _pixel_values(model, processor, image)
        hole = hole.to(pixel_values)
        filled = model.inpaint(pixel_values, hole)
        masked_input = pixel_values * (1 - hole) + 0.5 * hole
        psnr_hole = psnr(filled, pixel_values, mask=hole.expand_as(filled))
        psnr_total = psnr(filled, pixel_values)
    return InpaintResult(
        image=processor.postprocess(filled)[0],
        masked_input=processor.postprocess(masked_input)[0],
        input=processor.postprocess(pixel_values)[0],
        mask=Image.fromarray((hole[0, 0].cpu().numpy() * 255).astype(np.uint8), mode="L"),
        psnr_hole=psnr_hole,
        psnr_total=psnr_total,
        hole_fraction=hole_pixels / hole.numel(),
    )


def interpolate(
    model: LeaeModel, a: Any, b: Any, steps: int = 8, processor: LeaeImageProcessor | None = None
) -> InterpolationResult:
    """Decode (1 − t)·z_a + t·z_b for `steps` values of t evenly spaced in [0, 1] (latents from `encode`, eval mode).

    The first image is the reconstruction of `a`, the last that of `b`.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 2:
        raise ValueError(f"steps must be an integer ≥ 2, got {steps!r}.")
    processor = _processor_for(model, processor)
    with _inference(model):
        pixel_values = _pixel_values(model, processor, [_single_image(a, "a"), _single_image(b, "b")])
        latents = model.encode(pixel_values).latents
        weights = torch.linspace(0.0, 1.0, steps, device=latents.device, dtype=latents.dtype)
        weights = weights.view(-1, *([1] * (latents.ndim - 1)))
        mixed = (1 - weights) * latents[0:1] + weights * latents[1:2]  # [steps, *latent_shape]
        frames = processor.postprocess(model.decode(mixed).reconstruction)
    return InterpolationResult(images=frames, strip=make_strip(frames), weights=weights.flatten().tolist())


def latent_brush(
    model: LeaeModel,
    target: Any,
    source: Any,
    region_src: Box,
    region_dst: Box,
    processor: LeaeImageProcessor | None = None,
    mode: str = "nearest",
) -> BrushResult:
    """Paint the source's latent vectors from `region_src` into the target's latent at `region_dst`, then decode.

    Needs a spatial latent. Regions are boxes `(x0, y0, x1, y1)` given as **fractions in [0, 1]** of the processed
    (square, model-size) image, x to the right and y down, with x0 < x1 and y0 < y1. Each box is mapped to the latent
    cells it touches (at least one cell). When the two boxes cover different numbers of cells, the source patch is
    resized to the destination's with `mode` (`"nearest"` or `"bilinear"`).
    """
    if model.config.latent_type != "spatial":
        raise ValueError(
            "latent brush needs a spatial latent (a map of latent vectors to paint with), but this model has a "
            f"pooled latent of {model.config.latent_channels} values: pick a model with latent_type='spatial'."
        )
    if mode not in ("nearest", "bilinear"):
        raise ValueError(f"mode must be 'nearest' or 'bilinear', got {mode!r}.")
    processor = _processor_for(model, processor)
    _, height, width = model.latent_shape
    cells_src = _box_to_cells(region_src, height, width, "region_src")
    cells_dst = _box_to_cells(region_dst, height, width, "region_dst")
    with _inference(model):
        pixel_values = _pixel_values(
            model, processor, [_single_image(target, "target"), _single_image(source, "source")]
        )
        latents = model.encode(pixel_values).latents  # [2, C, h, w]
        sx0, sy0, sx1, sy1 = cells_src
        dx0, dy0, dx1, dy1 = cells_dst
        patch = latents[1:2, :, sy0:sy1, sx0:sx1]
        if patch.shape[-2:] != (dy1 - dy0, dx1 - dx0):
            options = {"align_corners": False} if mode == "bilinear" else {}
            patch = F.interpolate(patch, size=(dy1 - dy0, dx1 - dx0), mode=mode, **options)
        painted = latents[0:1].clone()
        painted[:, :, dy0:dy1, dx0:dx1] = patch
        decoded = model.decode(torch.cat([painted, latents])).reconstruction
        result, target_reconstruction, source_reconstruction = processor.postprocess(decoded)
    return BrushResult(
        image=result,
        target_reconstruction=target_reconstruction,
        source_reconstruction=source_reconstruction,
        cells_src=cells_src,
        cells_dst=cells_dst,
    )


def make_strip(images: Sequence[Image.Image], gap: int = 0, background: int = 255) -> Image.Image:
    """Put images side by side (top-aligned) in one image, with `gap` pixels of `background` between them."""
    if not images:
        raise ValueError("make_strip needs at least one image.")
    mode = "L" if all(image.mode == "L" for image in images) else "RGB"
    width = sum(image.width for image in images) + gap * (len(images) - 1)
    height = max(image.height for image in images)
    strip = Image.new(mode, (width, height), background if mode == "L" else (background,) * 3)
    left = 0
    for image in images:
        strip.paste(image.convert(mode), (left, 0))
        left += image.width + gap
    return strip


# --- helpers ------------------------------------------------------------------------------------------------------


def _processor_for(model: LeaeModel, processor: LeaeImageProcessor | None) -> LeaeImageProcessor:
    config = model.config
    if processor is None:
        return LeaeImageProcessor(image_size=config.image_size, num_channels=config.in_channels)
    size, channels = getattr(processor, "image_size", None), getattr(processor, "num_channels", None)
    if size != config.image_size or channels != config.in_channels:
        raise ValueError(
            f"the processor makes {channels}-channel images of {size} px but the model expects {config.in_channels} "
            f"channels at {config.image_size} px: pass processor=None to build a matching one."
        )
    return processor


@contextlib.contextmanager
def _inference(model: LeaeModel) -> Iterator[None]:
    """Eval mode and `torch.inference_mode()` for the block; the model's previous train/eval mode is restored."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        if was_training:
            model.train()


def _pixel_values(model: LeaeModel, processor: LeaeImageProcessor, images: Any) -> torch.Tensor:
    pixel_values = processor(images).pixel_values
    parameter = next(model.parameters(), None)
    if parameter is not None:
        pixel_values = pixel_values.to(device=parameter.device, dtype=parameter.dtype)
    return pixel_values


def _single_image(image: Any, name: str) -> Any:
    """Accept one image; a tensor/array `[1, C, H, W]` is unbatched, a larger batch is refused."""
    if isinstance(image, (list, tuple)):
        if len(image) != 1:
            raise ValueError(f"{name} must be one image, got a list of {len(image)}.")
        image = image[0]
    if isinstance(image, (torch.Tensor, np.ndarray)) and image.ndim == 4:
        if image.shape[0] != 1:
            raise ValueError(f"{name} must be one image, got a batch of {image.shape[0]}: pass {name}[i].")
        image = image[0]
    if image is None:
        raise ValueError(f"{name} is missing: give an image.")
    return image


def _image_size(image: Any) -> tuple[int, int]:
    """(height, width) of one image as the processor will read it."""
    if isinstance(image, Image.Image):
        return image.height, image.width
    if isinstance(image, torch.Tensor):
        return tuple(image.shape[-2:]) if image.ndim == 3 else tuple(image.shape[:2])
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        return array.shape[1], array.shape[2]
    return array.shape[0], array.shape[1]


def _mask_array(mask: Any) -> np.ndarray:
    """A mask (PIL, numpy, tensor) → float32 [H, W] with 1 = hole."""
    if isinstance(mask, Image.Image):
        if mask.mode == "P":
            mask = mask.convert("RGBA" if "transparency" in mask.info else "L")
        if mask.mode in ("RGBA", "LA", "PA"):
            return np.asarray(mask.getchannel("A"), dtype=np.float32) / 255.0 > 0.5
        if mask.mode == "1":
            return np.asarray(mask, dtype=bool)
        if mask.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            array = np.asarray(mask, dtype=np.float32)
            return array > (array.max(initial=0) / 2 if array.max(initial=0) > 0 else 0.5)
        return np.asarray(mask.convert("L"), dtype=np.float32) / 255.0 > 0.5
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu()
        mask = mask.float().numpy() if mask.dtype != torch.bool else mask.numpy()
    array = np.asarray(mask)
    while array.ndim > 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise ValueError(
            f"mask must be a single-channel image [H, W] (or [1, H, W], [1, 1, H, W]), got shape {array.shape}: "
            "for an RGBA image pass the PIL image (its alpha is used) or its alpha channel."
        )
    if array.dtype == bool:
        return array
    if array.dtype == np.uint8:
        return array > 127
    if np.issubdtype(array.dtype, np.integer):
        return array > 0
    if not np.isfinite(array).all():
        raise ValueError("mask contains NaN or inf values.")
    return array > 0.5


def _mask_at_model_size(mask: Any, image_size: tuple[int, int], processor: LeaeImageProcessor) -> torch.Tensor:
    """Bring the mask to [1, 1, S, S] with the image's resize-shorter-side + centre-crop geometry (nearest)."""
    hole = _mask_array(mask)
    size = processor.image_size
    height, width = hole.shape
    if (height, width) not in (tuple(image_size), (size, size)):
        image_aspect = image_size[1] / image_size[0]
        if abs(width / height - image_aspect) > 0.01 * image_aspect:
            raise ValueError(
                f"the mask is {width}×{height} but the image is {image_size[1]}×{image_size[0]}: give the mask at the "
                f"image's size (or the same aspect ratio), or at the model's {size}×{size}."
            )
    hole = torch.from_numpy(np.ascontiguousarray(hole, dtype=np.float32))[None, None]
    scale = size / min(height, width)
    resized = (max(size, round(height * scale)), max(size, round(width * scale)))
    if resized != (height, width):
        hole = F.interpolate(hole, size=resized, mode="nearest-exact")
    top, left = (resized[0] - size) // 2, (resized[1] - size) // 2
    return hole[:, :, top : top + size, left : left + size].contiguous()


def _box_to_cells(box: Box, height: int, width: int, name: str) -> tuple[int, int, int, int]:
    """A box of fractions (x0, y0, x1, y1) → the latent cells it touches, (x0, y0, x1, y1) with exclusive ends."""
    try:
        x0, y0, x1, y1 = (float(value) for value in box)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be four numbers (x0, y0, x1, y1) in [0, 1], got {box!r}.") from error
    if not all(0.0 <= value <= 1.0 for value in (x0, y0, x1, y1)):
        raise ValueError(
            f"{name}={box!r}: the box is given as fractions of the image side, so every value must lie in [0, 1]."
        )
    if x0 >= x1 or y0 >= y1:
        raise ValueError(f"{name}={box!r}: need x0 < x1 and y0 < y1 (x to the right, y down).")

    def span(start: float, end: float, cells: int) -> tuple[int, int]:
        first = min(int(math.floor(start * cells + 1e-9)), cells - 1)
        last = max(int(math.ceil(end * cells - 1e-9)), first + 1)
        return first, min(last, cells)

    cx0, cx1 = span(x0, x1, width)
    cy0, cy1 = span(y0, y1, height)
    return cx0, cy0, cx1, cy1


def _as_float_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, Image.Image):
        return torch.from_numpy(np.asarray(value, dtype=np.float32) / 255.0)
    if isinstance(value, torch.Tensor):
        return value.detach().to(torch.float64)
    return torch.from_numpy(np.asarray(value, dtype=np.float64))


__all__ = [
    "BrushResult",
    "InpaintResult",
    "InterpolationResult",
    "ReconstructionResult",
    "inpaint",
    "interpolate",
    "latent_brush",
    "make_strip",
    "psnr",
    "reconstruct",
]
