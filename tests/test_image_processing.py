import json

import numpy as np
import pytest
import torch
from PIL import Image

from leae_hub import LeaeImageProcessor


@pytest.fixture
def processor():
    return LeaeImageProcessor(image_size=32)


def _gradient(width, height):
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :].repeat(height, 0)
    return np.stack([x, x[::-1, ::-1], np.full_like(x, 0.25)], axis=-1)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "CMYK", "1", "I;16", "I", "F"])
def test_any_pil_mode_gives_rgb_pixel_values(processor, mode):
    base = Image.fromarray((_gradient(50, 40) * 255).astype(np.uint8))
    if mode in ("I;16", "I"):
        array = (np.asarray(base.convert("L"), dtype=np.uint16) * 257).astype(np.uint16 if mode == "I;16" else np.int32)
        image = Image.fromarray(array) if mode == "I;16" else Image.fromarray(array).convert("I")
    elif mode == "F":
        image = Image.fromarray(np.asarray(base.convert("L"), dtype=np.float32) / 255)
    else:
        image = base.convert(mode)
    pixel_values = processor(image).pixel_values
    assert pixel_values.shape == (1, 3, 32, 32)
    assert pixel_values.dtype == torch.float32
    assert 0 <= pixel_values.min() and pixel_values.max() <= 1
    assert pixel_values.std() > 0.05


def test_sixteen_bit_keeps_precision(processor):
    array = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
    pixel_values = processor(Image.fromarray(array)).pixel_values
    assert torch.allclose(pixel_values[0, 0], torch.from_numpy(array / 65535.0).float(), atol=1e-6)
    # 4096 distinct levels at 32×32 would collapse to 256 with an 8-bit detour.
    assert pixel_values[0, 0].unique().numel() > 256


def test_rgba_is_composited_on_white(processor):
    rgba = np.zeros((32, 32, 4), dtype=np.uint8)  # fully transparent black
    assert torch.allclose(processor(rgba).pixel_values, torch.ones(1, 3, 32, 32))


def test_resize_shorter_side_then_centre_crop():
    processor = LeaeImageProcessor(image_size=4, resample="nearest")
    array = np.zeros((4, 8), dtype=np.uint8)
    array[:, 2:6] = 255  # the centre 4 columns are white
    assert torch.equal(processor(array).pixel_values, torch.ones(1, 3, 4, 4))


def test_numpy_tensor_and_pil_agree(processor):
    array = (_gradient(32, 32) * 255).astype(np.uint8)
    from_pil = processor(Image.fromarray(array)).pixel_values
    from_numpy = processor(array).pixel_values
    from_chw = processor(array.transpose(2, 0, 1)).pixel_values
    from_tensor = processor(torch.from_numpy(array.transpose(2, 0, 1).copy()).float() / 255).pixel_values
    assert torch.equal(from_pil, from_numpy) and torch.equal(from_numpy, from_chw)
    assert torch.allclose(from_numpy, from_tensor, atol=1e-6)
    assert torch.allclose(from_numpy[0], torch.from_numpy(array.transpose(2, 0, 1) / 255).float(), atol=1e-6)


def test_batches_of_mixed_sizes(processor):
    images = [Image.new("RGB", (100, 60), "red"), Image.new("L", (20, 90), 128), np.zeros((7, 7, 3), np.uint8)]
    pixel_values = processor(images).pixel_values
    assert pixel_values.shape == (3, 3, 32, 32)
    assert torch.allclose(pixel_values[0, 0], torch.ones(32, 32))


def test_grey_processor_uses_luma():
    processor = LeaeImageProcessor(image_size=8, num_channels=1)
    pixel_values = processor(Image.new("RGB", (8, 8), (255, 0, 0))).pixel_values
    assert pixel_values.shape == (1, 1, 8, 8)
    assert torch.allclose(pixel_values, torch.full((1, 1, 8, 8), 0.299))


def test_postprocess_round_trip(processor):
    array = (_gradient(32, 32) * 255).astype(np.uint8)
    pixel_values = processor(array).pixel_values
    (image,) = processor.postprocess(pixel_values)
    assert image.mode == "RGB" and image.size == (32, 32)
    assert np.array_equal(np.asarray(image), array)
    (grey,) = LeaeImageProcessor(image_size=32, num_channels=1).postprocess(torch.rand(1, 1, 32, 32))
    assert grey.mode == "L"


def test_save_and_load(tmp_path, processor):
    processor.save_pretrained(tmp_path)
    loaded = LeaeImageProcessor.from_pretrained(tmp_path)
    assert (loaded.image_size, loaded.num_channels, loaded.resample) == (32, 3, 3)  # PIL's BICUBIC, as transformers
    assert json.loads((tmp_path / "preprocessor_config.json").read_text())["do_normalize"] is False


def test_a_saved_resample_name_still_loads(tmp_path, processor):
    processor.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "preprocessor_config.json").read_text())
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({**config, "resample": "bilinear"}))
    assert LeaeImageProcessor.from_pretrained(tmp_path).resample == 2


def test_standard_arguments(processor):
    image = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    first = processor(image, do_normalize=False).pixel_values
    assert first.shape == (1, 3, 32, 32)
    last = processor(image, data_format="channels_last").pixel_values
    assert last.shape == (1, 32, 32, 3) and torch.equal(last.permute(0, 3, 1, 2), first)
    chw = torch.from_numpy(image).permute(2, 0, 1).numpy()  # a CHW array, said so instead of guessed
    assert torch.equal(processor(chw, input_data_format="channels_first").pixel_values, first)
    assert torch.equal(processor(torch.from_numpy(image), input_data_format="channels_last").pixel_values, first)
    with pytest.raises(ValueError, match="do_normalize=True: leae models take pixel values in"):
        processor(image, do_normalize=True, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    with pytest.raises(ValueError, match="do_normalize=True"):
        LeaeImageProcessor(image_size=32, do_normalize=True)
    with pytest.raises(ValueError, match="data_format must be"):
        processor(image, data_format="nhwc")


@pytest.mark.parametrize(
    ("image", "error", "message"),
    [
        (np.full((8, 8, 3), 200.0, dtype=np.float32), ValueError, "float images must lie in \\[0, 1\\]"),
        (np.full((8, 8), np.nan, dtype=np.float32), ValueError, "NaN or inf"),
        (np.zeros((8, 8, 5), np.uint8), ValueError, "1–4 channels"),
        (np.zeros((8, 8), np.int64), TypeError, "unsupported image dtype"),
        ("image.png", TypeError, "unsupported image type str"),
        ([], ValueError, "no images given"),
    ],
)
def test_bad_images_are_rejected(processor, image, error, message):
    with pytest.raises(error, match=message):
        processor(image)


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="num_channels must be 1 or 3"):
        LeaeImageProcessor(num_channels=4)
    with pytest.raises(ValueError, match="resample must be one of"):
        LeaeImageProcessor(resample="cubic")


def _mode_image(mode: str) -> Image.Image:
    """A 40×30 image in `mode`, with real structure in every channel (and in the alpha, where there is one)."""
    base = Image.fromarray((_gradient(40, 30) * 255).astype(np.uint8))
    if mode == "I;16":
        return Image.fromarray((np.asarray(base.convert("L"), dtype=np.uint16) * 257).astype(np.uint16))
    if mode == "I":  # 8-bit data in a 32-bit image: scaled as 16-bit, in training and at inference alike
        return Image.fromarray(np.asarray(base.convert("L"), dtype=np.int32))
    image = base.convert(mode)
    if mode in ("LA", "RGBA"):
        alpha = Image.fromarray(np.linspace(0, 255, 40 * 30).reshape(30, 40).astype(np.uint8))
        image.putalpha(alpha)
    if mode == "P":
        image.info["transparency"] = 0
    return image


@pytest.mark.parametrize("mode", ["RGB", "L", "LA", "P", "RGBA", "I;16", "I", "CMYK"])
@pytest.mark.parametrize("channels", [3, 1])
def test_training_and_inference_give_identical_tensors(tmp_path, mode, channels):
    """The same file through the training data (`leae_hub.data`) and through the image processor: bit-equal."""
    from leae_hub.data import build_dataset

    folder = tmp_path / "train" / "things"
    folder.mkdir(parents=True)
    path = folder / ("image.tif" if mode in ("CMYK", "I") else "image.png")
    _mode_image(mode).save(path)
    with Image.open(path) as opened:
        assert opened.mode == mode or (mode == "I;16" and opened.mode.startswith("I;16")), opened.mode
        inference = LeaeImageProcessor(image_size=16, num_channels=channels)(opened).pixel_values[0]
    training = build_dataset(f"folder:{tmp_path}", image_size=16, channels=channels)[0]["pixel_values"]
    assert training.shape == (channels, 16, 16) and training.std() > (1e-4 if mode == "I" else 0.01)
    assert torch.equal(training, inference)


def test_transformers_conventions_attributes_and_call_arguments(tmp_path):
    processor = LeaeImageProcessor(image_size=8)
    assert processor.size == {"shortest_edge": 8} and processor.crop_size == {"height": 8, "width": 8}
    assert (processor.do_resize, processor.do_center_crop, processor.do_rescale) == (True, True, True)
    wide = (_gradient(16, 8) * 255).astype(np.uint8)
    assert processor(wide).pixel_values.shape == (1, 3, 8, 8)
    uncropped = processor(wide, do_center_crop=False).pixel_values
    assert uncropped.shape == (1, 3, 8, 16)
    assert torch.equal(uncropped[..., 4:12], processor(wide).pixel_values)  # the crop is the centre of the resize
    assert processor(wide, size={"shortest_edge": 4}, crop_size={"height": 4, "width": 4}).pixel_values.shape[-1] == 4
    exact = processor(wide[:, :8], do_resize=False).pixel_values
    assert torch.equal(exact[0], torch.from_numpy(wide[:, :8].transpose(2, 0, 1) / 255).float())
    with pytest.raises(ValueError, match="do_rescale=False"):
        processor(wide, do_rescale=False)
    floats = processor(wide.astype(np.float32) / 255, do_rescale=False).pixel_values
    assert torch.allclose(floats, processor(wide).pixel_values, atol=1e-6)
    with pytest.raises(ValueError, match="smaller than crop_size"):
        processor(np.zeros((4, 4), np.uint8), do_resize=False)
    with pytest.raises(TypeError, match="preprocess takes"):
        processor(wide, image_size=4)
    assert (
        LeaeImageProcessor(resample=Image.Resampling.BILINEAR).resample == 2
    )  # stored as the PIL value, as transformers does
    from_size = LeaeImageProcessor(size={"height": 24, "width": 24}, do_center_crop=False)
    assert from_size.image_size == 24 and not from_size.do_center_crop
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["size"] == {"shortest_edge": 8} and saved["crop_size"] == {"height": 8, "width": 8}
    loaded = LeaeImageProcessor.from_pretrained(tmp_path)
    assert loaded.to_dict() == processor.to_dict()


def test_old_configs_with_image_size_still_load(tmp_path):
    (tmp_path / "preprocessor_config.json").write_text(
        json.dumps({"image_processor_type": "LeaeImageProcessor", "image_size": 32, "num_channels": 1})
    )
    loaded = LeaeImageProcessor.from_pretrained(tmp_path)
    assert (loaded.image_size, loaded.num_channels, loaded.size) == (32, 1, {"shortest_edge": 32})


def test_postprocess_returns_pil_tensors_or_arrays(processor):
    values = torch.rand(2, 3, 32, 32) * 1.2 - 0.1
    assert torch.equal(processor.postprocess(values, return_tensors="pt"), values.clamp(0, 1))
    assert processor.postprocess(values, return_tensors="np").shape == (2, 3, 32, 32)
    assert [image.size for image in processor.postprocess(values)] == [(32, 32), (32, 32)]
    with pytest.raises(ValueError, match="return_tensors"):
        processor.postprocess(values, return_tensors="tf")
