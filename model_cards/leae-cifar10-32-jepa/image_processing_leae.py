"""Image processor of the self-teaching autoencoder: images of any size and mode in, `pixel_values` in [0, 1] out.

Self-contained (numpy, PIL, torch, transformers) so it can travel with a saved model as remote code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature

_RESAMPLE_MODES = ("nearest", "bilinear", "bicubic", "area")
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")


class LeaeImageProcessor(BaseImageProcessor):
    r"""Turns images into `pixel_values` for [`LeaeModel`] and reconstructions back into PIL images.

    Each image (PIL of any mode, numpy HW/HWC/CHW, torch CHW; uint8, uint16 or float in [0, 1]) is converted to
    `num_channels` channels (alpha is composited on white, RGB→grey uses BT.601 luma), its shorter side is resized to
    `image_size` (antialiased), and the centre `image_size`×`image_size` square is kept. The work is done in float32,
    so 16-bit images keep their precision. No mean/std normalisation: the model takes values in [0, 1].

    Args:
        image_size (`int`, defaults to 128): side of the output square.
        num_channels (`int`, defaults to 3): 3 for RGB models, 1 for grey models.
        resample (`str`, defaults to `"bicubic"`): `"nearest"`, `"bilinear"`, `"bicubic"` or `"area"`.
    """

    model_input_names = ["pixel_values"]

    def __init__(self, image_size: int = 128, num_channels: int = 3, resample: str = "bicubic", **kwargs: Any):
        super().__init__(**kwargs)
        if num_channels not in (1, 3):
            raise ValueError(f"num_channels must be 1 or 3, got {num_channels}.")
        if resample not in _RESAMPLE_MODES:
            raise ValueError(f"resample must be one of {_RESAMPLE_MODES}, got {resample!r}.")
        if image_size <= 0:
            raise ValueError(f"image_size must be positive, got {image_size}.")
        self.image_size = int(image_size)
        self.num_channels = int(num_channels)
        self.resample = resample

    def __call__(self, images: Any, **kwargs: Any) -> BatchFeature:
        return self.preprocess(images, **kwargs)

    def preprocess(self, images: Any, return_tensors: str | None = "pt", **kwargs: Any) -> BatchFeature:
        """Convert one image or a list of images to `pixel_values` [B, C, S, S] in [0, 1]."""
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)}: set image_size/num_channels on the processor.")
        pixel_values = torch.stack([self._square(_to_float_hwc(image)) for image in _as_list(images)])
        if return_tensors in (None, "np"):
            return BatchFeature({"pixel_values": pixel_values.numpy()})
        if return_tensors != "pt":
            raise ValueError(f"return_tensors must be 'pt', 'np' or None, got {return_tensors!r}.")
        return BatchFeature({"pixel_values": pixel_values})

    def postprocess(self, reconstruction: torch.Tensor) -> list[Image.Image]:
        """Turn `[B, C, H, W]` (or `[C, H, W]`) values in [0, 1] into a list of PIL images (RGB or L)."""
        if not isinstance(reconstruction, torch.Tensor):
            raise TypeError(f"reconstruction must be a torch.Tensor, got {type(reconstruction).__name__}.")
        if reconstruction.ndim == 3:
            reconstruction = reconstruction.unsqueeze(0)
        if reconstruction.ndim != 4 or reconstruction.shape[1] not in (1, 3):
            raise ValueError(f"reconstruction must be [B, 1 or 3, H, W], got {tuple(reconstruction.shape)}.")
        array = (reconstruction.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
        array = array.transpose(0, 2, 3, 1)  # [B, H, W, C]
        return [Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image) for image in array]

    def _square(self, array: np.ndarray) -> torch.Tensor:
        """HWC float [0, 1] with any channel count → [num_channels, S, S]: convert, resize the shorter side, crop."""
        image = torch.from_numpy(_convert_channels(array, self.num_channels)).permute(2, 0, 1)[None]
        height, width = image.shape[-2:]
        scale = self.image_size / min(height, width)
        size = (max(self.image_size, round(height * scale)), max(self.image_size, round(width * scale)))
        if size != (height, width):
            antialias = self.resample in ("bilinear", "bicubic")
            image = F.interpolate(image, size=size, mode=self.resample, antialias=antialias).clamp(0, 1)
        top = (size[0] - self.image_size) // 2
        left = (size[1] - self.image_size) // 2
        return image[0, :, top : top + self.image_size, left : left + self.image_size].contiguous()


def _as_list(images: Any) -> list[Any]:
    if isinstance(images, (torch.Tensor, np.ndarray)) and images.ndim == 4:
        return list(images)
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError("no images given: pass one image or a non-empty list.")
        return list(images)
    return [images]


def _to_float_hwc(image: Any) -> np.ndarray:
    """One image (PIL, numpy or tensor) → float32 HWC array in [0, 1], alpha kept as the last channel."""
    if isinstance(image, Image.Image):
        return _pil_to_float(image)
    if isinstance(image, torch.Tensor):
        if image.ndim == 3:
            image = image.permute(1, 2, 0)
        array = image.detach().cpu().numpy()
    elif isinstance(image, np.ndarray):
        array = image
        if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
            array = array.transpose(1, 2, 0)  # CHW → HWC
    else:
        raise TypeError(f"unsupported image type {type(image).__name__}: pass PIL images, numpy arrays or tensors.")
    array = array[..., None] if array.ndim == 2 else array
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(f"an image array must be HW, HWC or CHW with 1–4 channels, got shape {array.shape}.")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError("the image contains NaN or inf values: clean it first.")
        if array.max(initial=0.0) > 1.0 + 1e-3 or array.min(initial=0.0) < -1e-3:
            raise ValueError("float images must lie in [0, 1]: divide 0–255 data by 255, or pass uint8 arrays.")
        return array.astype(np.float32)
    raise TypeError(f"unsupported image dtype {array.dtype}: use uint8, uint16 or float in [0, 1].")


def _pil_to_float(image: Image.Image) -> np.ndarray:
    if image.mode in _SIXTEEN_BIT_MODES:
        return (np.asarray(image).astype(np.float32) / 65535.0)[..., None]
    if image.mode == "I":  # 32-bit integer, as PIL opens most 16-bit PNGs
        array = np.asarray(image).astype(np.float32)
        return np.clip(array / (65535.0 if array.max(initial=0) > 255 else 255.0), 0.0, 1.0)[..., None]
    if image.mode == "F":
        return _to_float_hwc(np.asarray(image, dtype=np.float32))
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.mode else ("L" if image.mode == "1" else "RGB"))
    return _to_float_hwc(np.asarray(image))


def _convert_channels(array: np.ndarray, num_channels: int) -> np.ndarray:
    """Composite alpha on white, then grey ↔ RGB as needed."""
    if array.shape[-1] in (2, 4):
        colour, alpha = array[..., :-1], array[..., -1:]
        array = colour * alpha + (1.0 - alpha)
    if num_channels == 3 and array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    elif num_channels == 1 and array.shape[-1] == 3:
        array = array @ np.array([0.299, 0.587, 0.114], dtype=np.float32)[:, None]  # ITU-R BT.601 luma
    return np.ascontiguousarray(array, dtype=np.float32)


__all__ = ["LeaeImageProcessor"]
