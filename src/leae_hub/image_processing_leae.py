"""Image processor of the self-teaching autoencoder: images of any size and mode in, `pixel_values` in [0, 1] out.

Self-contained (numpy, PIL, torch, transformers) so it can travel with a saved model as remote code.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature

_RESAMPLE_MODES = ("nearest", "bilinear", "bicubic", "area")
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
_EXIF_ORIENTATION = 0x0112  # the EXIF tag saying how a camera held the picture

# The largest square side a processor resizes or crops to (a downloaded preprocessor_config.json is not trusted:
# 20,000 px would take 4.5 GiB for one small image).
MAX_IMAGE_SIDE = 4096


class LeaeImageProcessor(BaseImageProcessor):
    r"""Turns images into `pixel_values` for [`LeaeModel`] and reconstructions back into PIL images or tensors.

    Each image (PIL of any mode, numpy HW/HWC/CHW, torch CHW; uint8, uint16, bool or float in [0, 1]) is converted to
    `num_channels` channels (alpha is composited on white, RGB→grey uses BT.601 luma), its shorter side is resized to
    `size["shortest_edge"]` (antialiased), and the centre `crop_size` square is kept. The work is done in float32, so
    16-bit images keep their precision. No mean/std normalisation: the model takes values in [0, 1]. The same code
    (`image_to_pixel_values`) prepares the training data (`leae_hub.data`), so training and inference see identical
    tensors for the same file.

    Args:
        image_size (`int`, defaults to 128): shorthand for `size={"shortest_edge": image_size}` and a square
            `crop_size` of that side (what the model takes).
        num_channels (`int`, defaults to 3): 3 for RGB models, 1 for grey models.
        resample (`str` or `PIL.Image.Resampling`, defaults to `"bicubic"`): `"nearest"`, `"bilinear"`, `"bicubic"`
            or `"area"` (the PIL enum values NEAREST, BILINEAR, BICUBIC and BOX map to them).
        do_resize (`bool`, defaults to `True`): resize the shorter side to `size["shortest_edge"]`.
        size (`dict`, optional): `{"shortest_edge": S}`, or `{"height": S, "width": S}`.
        do_center_crop (`bool`, defaults to `True`): keep the centre `crop_size` square.
        crop_size (`dict`, optional): `{"height": S, "width": S}` (square: the model's image size).
        do_rescale (`bool`, defaults to `True`): scale integer images by their bit depth (uint8 by 255, 16-bit by
            65535) into [0, 1]; with `False`, images must already be floats in [0, 1].
        do_normalize (`bool`, defaults to `False`): the standard mean/std switch, accepted and always `False`: the
            model takes pixel values in [0, 1], so `True` is refused rather than ignored.
        image_mean (`list[float]`, *optional*), image_std (`list[float]`, *optional*): stored as given (unused).

    `preprocess` also takes the standard `data_format` (`"channels_first"`, the default, or `"channels_last"` for
    `[B, S, S, C]` values) and `input_data_format` (`"channels_first"` or `"channels_last"`: how to read 3-d arrays and
    tensors, instead of guessing).
    """

    model_input_names = ["pixel_values"]

    def __init__(
        self,
        image_size: int | None = None,
        num_channels: int = 3,
        resample: str | int = "bicubic",
        do_resize: bool = True,
        size: dict[str, int] | None = None,
        do_center_crop: bool = True,
        crop_size: dict[str, int] | None = None,
        do_rescale: bool = True,
        do_normalize: bool = False,
        image_mean: list[float] | None = None,
        image_std: list[float] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        _check_no_normalize(do_normalize)
        if num_channels not in (1, 3):
            raise ValueError(f"num_channels must be 1 or 3, got {num_channels}.")
        side = _side(crop_size or size, "crop_size") if image_size is None else _side(int(image_size), "image_size")
        side = 128 if side is None else side
        if side <= 0:
            raise ValueError(f"image_size must be positive, got {side}.")
        self.num_channels = int(num_channels)
        self.resample = _resample_code(resample)
        self.do_resize = bool(do_resize)
        self.size = {"shortest_edge": _side(size, "size") or side} if image_size is None else {"shortest_edge": side}
        self.do_center_crop = bool(do_center_crop)
        self.crop_size = {"height": side, "width": side}
        self.do_rescale = bool(do_rescale)
        self.do_normalize = False
        self.image_mean = image_mean
        self.image_std = image_std

    @property
    def image_size(self) -> int:
        """Side of the square `pixel_values` (the model's `image_size`)."""
        return self.crop_size["height"]

    def __call__(self, images: Any, **kwargs: Any) -> BatchFeature:
        return self.preprocess(images, **kwargs)

    def preprocess(
        self,
        images: Any,
        return_tensors: str | None = "pt",
        do_resize: bool | None = None,
        size: dict[str, int] | None = None,
        do_center_crop: bool | None = None,
        crop_size: dict[str, int] | None = None,
        do_rescale: bool | None = None,
        resample: str | int | None = None,
        do_normalize: bool | None = None,
        image_mean: list[float] | None = None,
        image_std: list[float] | None = None,
        data_format: str = "channels_first",
        input_data_format: str | None = None,
        **kwargs: Any,
    ) -> BatchFeature:
        """Convert one image or a list of images to `pixel_values` [B, C, S, S] in [0, 1] ([B, S, S, C] with
        `data_format="channels_last"`).

        Every attribute can be overridden for this call (`do_resize`, `size`, `do_center_crop`, `crop_size`,
        `do_rescale`, `resample`; `do_normalize` only as `False`). Without resizing or cropping, the images must
        already have the output size. `input_data_format` says how 3-d arrays and tensors are laid out.
        """
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)}: preprocess takes {_CALL_ARGUMENTS}.")
        _check_no_normalize(do_normalize)
        data_format, input_data_format = (
            _layout(data_format, "data_format"),
            _layout(input_data_format, "input_data_format"),
        )
        side = _side(crop_size, "crop_size") or self.image_size
        shortest = _side(size, "size") or self.size["shortest_edge"]
        options = {
            "num_channels": self.num_channels,
            "resample": _resample_name(self.resample if resample is None else resample),
            "layout": input_data_format,
            "shortest_edge": shortest if (self.do_resize if do_resize is None else do_resize) else None,
            "crop": side if (self.do_center_crop if do_center_crop is None else do_center_crop) else None,
            "rescale": self.do_rescale if do_rescale is None else do_rescale,
        }
        converted = [_convert(image, **options) for image in _as_list(images)]
        shapes = {tuple(pixels.shape) for pixels in converted}
        if len(shapes) > 1:
            raise ValueError(f"images of different sizes {sorted(shapes)}: keep do_resize and do_center_crop on.")
        pixel_values = torch.stack(converted)
        if data_format == "channels_last":
            pixel_values = pixel_values.permute(0, 2, 3, 1).contiguous()
        if return_tensors in (None, "np"):
            return BatchFeature({"pixel_values": pixel_values.numpy()})
        if return_tensors != "pt":
            raise ValueError(f"return_tensors must be 'pt', 'np' or None, got {return_tensors!r}.")
        return BatchFeature({"pixel_values": pixel_values})

    def postprocess(
        self, reconstruction: torch.Tensor, return_tensors: str | None = None
    ) -> list[Image.Image] | torch.Tensor | np.ndarray:
        """Turn `[B, C, H, W]` (or `[C, H, W]`) values in [0, 1] into a list of PIL images (RGB or L), or with
        `return_tensors="pt"` / `"np"` into a float tensor / array `[B, C, H, W]` clamped to [0, 1]."""
        if not isinstance(reconstruction, torch.Tensor):
            raise TypeError(f"reconstruction must be a torch.Tensor, got {type(reconstruction).__name__}.")
        if reconstruction.ndim == 3:
            reconstruction = reconstruction.unsqueeze(0)
        if reconstruction.ndim != 4 or reconstruction.shape[1] not in (1, 3):
            raise ValueError(f"reconstruction must be [B, 1 or 3, H, W], got {tuple(reconstruction.shape)}.")
        values = reconstruction.detach().float().clamp(0, 1).cpu()
        if return_tensors == "pt":
            return values
        if return_tensors == "np":
            return values.numpy()
        if return_tensors not in (None, "pil"):
            raise ValueError(f"return_tensors must be None/'pil', 'pt' or 'np', got {return_tensors!r}.")
        array = (values * 255).round().to(torch.uint8).numpy().transpose(0, 2, 3, 1)  # [B, H, W, C]
        return [Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image) for image in array]


_CALL_ARGUMENTS = (
    "return_tensors, do_resize, size, do_center_crop, crop_size, do_rescale, resample, do_normalize, image_mean, "
    "image_std, data_format, input_data_format"
)
# PIL.Image.Resampling values → torch interpolation modes.
_PIL_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic", 4: "area"}
_LAYOUTS = ("channels_first", "channels_last")


def _resample_name(resample: str | int) -> str:
    name = _PIL_RESAMPLE.get(resample, resample) if isinstance(resample, int) else resample
    if name not in _RESAMPLE_MODES:
        raise ValueError(
            f"resample must be one of {_RESAMPLE_MODES} (or PIL's NEAREST/BILINEAR/BICUBIC/BOX), got {resample!r}."
        )
    return name


def _resample_code(resample: str | int) -> int:
    """The PIL resampling value (what transformers' processors store) of a mode name or PIL value."""
    name = _resample_name(resample)
    return next(code for code, mode in _PIL_RESAMPLE.items() if mode == name)


def _check_no_normalize(do_normalize: bool | None) -> None:
    if do_normalize:
        raise ValueError(
            "do_normalize=True: leae models take pixel values in [0, 1], and mean/std normalisation would give "
            "values they refuse; leave do_normalize False (the default)."
        )


def _layout(value: Any, name: str) -> str | None:
    """A `ChannelDimension` or its string ("channels_first" / "channels_last"), as a string; None stays None."""
    value = getattr(value, "value", value)
    if value is not None and value not in _LAYOUTS:
        raise ValueError(f"{name} must be 'channels_first' or 'channels_last', got {value!r}.")
    return value


def _side(size: dict[str, int] | int | None, name: str) -> int | None:
    """The square side a `size` / `crop_size` argument names (None when not given), at most `MAX_IMAGE_SIDE`."""
    if size is None:
        return None
    if isinstance(size, int):
        side = size
    elif "shortest_edge" in size:
        side = int(size["shortest_edge"])
    elif {"height", "width"} <= set(size) and size["height"] == size["width"]:
        side = int(size["height"])
    else:
        raise ValueError(f"{name} must be {{'shortest_edge': S}} or a square {{'height': S, 'width': S}}, got {size}.")
    if side > MAX_IMAGE_SIDE:
        raise ValueError(
            f"{name} {side} is larger than the {MAX_IMAGE_SIDE}-px side an image processor accepts (one image would "
            f"take {3 * 4 * side * side / 2**30:.1f} GiB): check the preprocessor_config.json you loaded."
        )
    return side


def image_to_pixel_values(
    image: Any,
    image_size: int,
    num_channels: int | None = None,
    resample: str = "bicubic",
    box: tuple[float, float, float, float] | None = None,
) -> torch.Tensor:
    """One image (PIL, numpy or tensor) → float32 `[C, image_size, image_size]` in [0, 1]: the conversion shared by
    [`LeaeImageProcessor`] and the training data. `num_channels` None keeps the image's own count (1 or 3). `box`
    (left, top, right, bottom in fractions of the width and height) keeps that part of the image before the resize."""
    return _convert(image, num_channels, resample, shortest_edge=image_size, crop=image_size, rescale=True, box=box)


def _convert(
    image: Any,
    num_channels: int | None,
    resample: str,
    shortest_edge: int | None,
    crop: int | None,
    rescale: bool,
    layout: str | None = None,
    box: tuple[float, float, float, float] | None = None,
) -> torch.Tensor:
    """Decode, convert channels, keep `box` (fractions of the width and height; None: all), resize the shorter side,
    centre-crop: `[C, H, W]` float32 in [0, 1]. `layout` ("channels_first" / "channels_last") says how a 3-d array or
    tensor is laid out (None: guess)."""
    array = _to_float_hwc(image, rescale, layout=layout)
    if box is not None:
        rows, columns = array.shape[:2]
        top, left = round(box[1] * rows), round(box[0] * columns)
        array = array[top : max(round(box[3] * rows), top + 1), left : max(round(box[2] * columns), left + 1)]
    channels = num_channels or (1 if array.shape[-1] in (1, 2) else 3)
    pixels = torch.from_numpy(_convert_channels(array, channels)).permute(2, 0, 1)[None]  # [1, C, H, W]
    height, width = pixels.shape[-2:]
    if shortest_edge is not None and min(height, width) != shortest_edge:
        scale = shortest_edge / min(height, width)
        size = (max(shortest_edge, round(height * scale)), max(shortest_edge, round(width * scale)))
        antialias = resample in ("bilinear", "bicubic")
        pixels = F.interpolate(pixels, size=size, mode=resample, antialias=antialias).clamp(0, 1)
    if crop is not None:
        height, width = pixels.shape[-2:]
        if min(height, width) < crop:
            raise ValueError(f"an image of {height}×{width} is smaller than crop_size {crop}: turn do_resize on.")
        top, left = (height - crop) // 2, (width - crop) // 2
        pixels = pixels[..., top : top + crop, left : left + crop]
    return pixels[0].contiguous()


def _as_list(images: Any) -> list[Any]:
    if isinstance(images, (torch.Tensor, np.ndarray)) and images.ndim == 4:
        return list(images)
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError("no images given: pass one image or a non-empty list.")
        return list(images)
    return [images]


def _to_float_hwc(image: Any, rescale: bool = True, hwc: bool = False, layout: str | None = None) -> np.ndarray:
    """One image (PIL, numpy or tensor) → float32 HWC array in [0, 1], alpha kept as the last channel. `hwc` says a
    numpy array is known to be HWC (it came from PIL), as `layout="channels_last"` does for any 3-d array or tensor
    and `"channels_first"` the opposite; otherwise a 3-d tensor is CHW, and a 3-d array is read as CHW when only its
    first axis can be channels, and as HWC (with a warning when either could be) otherwise."""
    if isinstance(image, Image.Image):
        return _pil_to_float(image, rescale)
    if isinstance(image, torch.Tensor):
        if image.ndim == 3 and layout != "channels_last":
            image = image.permute(1, 2, 0)
        array = image.detach().cpu().numpy()
    elif isinstance(image, np.ndarray):
        array = image
        if array.ndim == 3 and layout == "channels_first":
            array = array.transpose(1, 2, 0)
        elif array.ndim == 3 and array.shape[0] in (1, 3, 4) and not hwc and layout is None:
            if array.shape[-1] not in (1, 2, 3, 4):
                array = array.transpose(1, 2, 0)  # CHW → HWC
            elif array.shape[0] != array.shape[-1]:
                warnings.warn(
                    f"an image array of shape {array.shape} could be HWC or CHW: read as HWC ({array.shape[0]} rows of "
                    f"{array.shape[1]} pixels with {array.shape[-1]} channels); pass a PIL image or a CHW torch tensor "
                    "to be explicit.",
                    UserWarning,
                    stacklevel=4,
                )
    else:
        raise TypeError(f"unsupported image type {type(image).__name__}: pass PIL images, numpy arrays or tensors.")
    array = array[..., None] if array.ndim == 2 else array
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(f"an image array must be HW, HWC or CHW with 1–4 channels, got shape {array.shape}.")
    if 0 in array.shape[:2]:
        raise ValueError(f"an image of {array.shape[0]}×{array.shape[1]} pixels is empty: it has nothing to convert.")
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if array.dtype in (np.uint8, np.uint16):
        if not rescale:
            raise ValueError(f"do_rescale=False needs float images in [0, 1], got {array.dtype}: keep do_rescale on.")
        return array.astype(np.float32) / (255.0 if array.dtype == np.uint8 else 65535.0)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError("the image contains NaN or inf values: clean it first.")
        if array.max(initial=0.0) > 1.0 + 1e-3 or array.min(initial=0.0) < -1e-3:
            raise ValueError("float images must lie in [0, 1]: divide 0–255 data by 255, or pass uint8 arrays.")
        return np.clip(array, 0.0, 1.0).astype(np.float32)
    raise TypeError(f"unsupported image dtype {array.dtype}: use uint8, uint16, bool or float in [0, 1].")


def _pil_to_float(image: Image.Image, rescale: bool = True) -> np.ndarray:
    """A PIL image → float HWC in [0, 1], turned upright by its EXIF orientation tag (as viewers show it). Integer
    greys ("I;16*", and "I", as PIL opens 16-bit PNGs and TIFFs) are 16-bit: scaled by 65535; "F" is taken as [0, 1];
    premultiplied "RGBa" / "La" are composited on white directly (c + (1 − α), the colour already holds the α
    factor); palette images with transparency become RGBA; every other mode (CMYK, YCbCr, "1", ...) becomes RGB or L."""
    if 0 in image.size:
        raise ValueError(f"an image of {image.width}×{image.height} pixels is empty: it has nothing to convert.")
    if image.getexif().get(_EXIF_ORIENTATION, 1) != 1:
        image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBa", "La"):
        if not rescale:
            raise ValueError(f"do_rescale=False needs float images in [0, 1], got PIL mode {image.mode!r}.")
        premultiplied = np.asarray(image).astype(np.float32) / 255.0
        return np.clip(premultiplied[..., :-1] + (1.0 - premultiplied[..., -1:]), 0.0, 1.0)
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "I":
        array = np.asarray(image).astype(np.float32)
        if not rescale:
            raise ValueError(f"do_rescale=False needs float images in [0, 1], got PIL mode {image.mode!r}.")
        return np.clip(array / 65535.0, 0.0, 1.0)[..., None]
    if image.mode == "F":
        return _to_float_hwc(np.asarray(image, dtype=np.float32))
    if image.mode == "PA" or (image.mode not in ("RGBA", "LA") and "transparency" in image.info):
        image = image.convert("RGBA")
    elif image.mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("L" if image.mode == "1" else "RGB")
    return _to_float_hwc(np.asarray(image), rescale, hwc=True)


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


__all__ = ["LeaeImageProcessor", "image_to_pixel_values"]
