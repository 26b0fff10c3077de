"""Bad inputs and faults against the model, the config, loading and the image processor: each gives the exact right
result or a clear error that names the value and the fix, never a raw traceback from deep inside torch."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from leae_hub import LeaeConfig, LeaeImageProcessor, LeaeModel

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return LeaeModel(LeaeConfig.from_preset("leae-cifar", hidden_channels=16)).eval()


X = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))

# (what, call(model), exception, words in the message)
MODEL_CASES = [
    ("int pixels", lambda m: m(torch.zeros(2, 3, 32, 32, dtype=torch.uint8)), TypeError, "float tensor"),
    ("list input", lambda m: m([[0.0]]), TypeError, "torch.Tensor"),
    ("3-d input", lambda m: m(X[0]), ValueError, "unsqueeze(0)"),
    ("wrong channels", lambda m: m(X[:, :1]), ValueError, "in_channels=3"),
    ("wrong size", lambda m: m(torch.rand(2, 3, 24, 24)), ValueError, "resize"),
    ("0-255 values", lambda m: m(X * 255), ValueError, "divide by 255"),
    ("negative values", lambda m: m(X - 0.5), ValueError, "[0, 1]"),
    ("NaN pixels", lambda m: m(X.masked_fill(X > 0.9, float("nan"))), ValueError, "NaN or inf"),
    ("empty batch", lambda m: m(X[:0]), ValueError, "empty batch"),
    ("meta tensor", lambda m: m(torch.empty(2, 3, 32, 32, device="meta")), ValueError, "meta tensor"),
    ("unknown norm_mode", lambda m: m.encode(X, norm_mode="train"), ValueError, "norm_mode must be one of"),
    ("integer latents", lambda m: m.decode(torch.zeros(2, 32, 4, 4, dtype=torch.long)), TypeError, "latents.float()"),
    ("NaN latents", lambda m: m.decode(torch.full((2, 32, 4, 4), float("nan"))), ValueError, "NaN or inf"),
    ("empty latents", lambda m: m.decode(torch.zeros(0, 32, 4, 4)), ValueError, "empty batch"),
    ("latent shape", lambda m: m.decode(torch.zeros(2, 32, 8, 8)), ValueError, "[B, 32, 4, 4]"),
    ("mask shape", lambda m: m.inpaint(X, torch.ones(2, 3, 32, 32)), ValueError, "mask must have shape"),
    ("soft mask", lambda m: m.inpaint(X, torch.full((2, 1, 32, 32), 0.5)), ValueError, "threshold"),
    ("empty mask", lambda m: m.inpaint(X, torch.zeros(2, 1, 32, 32)), ValueError, "mask is empty"),
    ("full mask", lambda m: m.inpaint(X, torch.ones(2, 1, 32, 32)), ValueError, "keep some pixels"),
]


@pytest.mark.parametrize(("what", "call", "error", "words"), MODEL_CASES, ids=[case[0] for case in MODEL_CASES])
def test_model_inputs(model, what, call, error, words):
    with pytest.raises(error) as raised:
        call(model)
    assert words in str(raised.value), str(raised.value)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_other_float_dtypes_are_cast_to_the_model_dtype(model, dtype):
    with torch.no_grad():
        expected = model(X).reconstruction
        out = model(X.to(dtype))
        decoded = model.decode(model.encode(X).latents.to(dtype)).reconstruction
    assert out.reconstruction.dtype == torch.float32 and decoded.dtype == torch.float32
    tolerance = 1e-6 if dtype == torch.float64 else 2e-2
    assert torch.allclose(out.reconstruction, expected, atol=tolerance)


def test_inpaint_runs_in_eval_mode_and_keeps_batch_norm_statistics():
    torch.manual_seed(0)
    model = LeaeModel(LeaeConfig.from_preset("leae-cifar", hidden_channels=16)).train()
    before = {name: buffer.clone() for name, buffer in model.named_buffers()}
    mask = torch.zeros(2, 1, 32, 32)
    mask[:, :, 8:16, 8:16] = 1
    filled = model.inpaint(X, mask)
    assert model.training  # put back
    assert all(torch.equal(buffer, before[name]) for name, buffer in model.named_buffers())
    model.eval()
    assert torch.equal(filled, model.inpaint(X, mask))  # the same as in eval mode


CONFIG_CASES = [
    ("quoted image_size", {"image_size": "32"}, TypeError, "image_size must be an integer"),
    ("float channels", {"hidden_channels": 16.0}, TypeError, "hidden_channels must be an integer"),
    ("bool channels", {"in_channels": True}, TypeError, "in_channels must be an integer"),
    ("negative size", {"image_size": -8}, ValueError, "positive"),
    ("momentum 2", {"latent_norm_momentum": 2.0}, ValueError, "latent_norm_momentum"),
    ("kwargs not a dict", {"encoder_backbone_kwargs": [1]}, TypeError, "must be a dict"),
    ("kwargs not allowed", {"encoder_backbone_kwargs": {"pretrained": True}}, ValueError, "not allowed"),
    (
        "kwargs file",
        {"encoder_backbone_kwargs": {"pretrained_cfg_overlay": {"file": "/etc"}}},
        ValueError,
        "not allowed",
    ),
    ("kwargs object", {"encoder_backbone_kwargs": {"img_size": {"a": 1}}}, TypeError, "number, a string"),
]


@pytest.mark.parametrize(("what", "fields", "error", "words"), CONFIG_CASES, ids=[case[0] for case in CONFIG_CASES])
def test_config_values(what, fields, error, words):
    with pytest.raises(error, match=words):
        LeaeConfig.from_preset("leae-cifar", **fields)


@pytest.fixture
def saved(tmp_path, model):
    model.save_pretrained(tmp_path)
    return tmp_path


def test_config_json_with_a_quoted_number_is_refused(saved):
    config = json.loads((saved / "config.json").read_text())
    config["image_size"] = "32"
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(TypeError, match="image_size must be an integer"):
        LeaeModel.from_pretrained(saved)


def test_non_finite_weights_are_refused_unless_allowed(saved):
    weights = load_file(saved / "model.safetensors")
    weights["decoder.head.weight"][0, 0, 0, 0] = float("inf")
    save_file(weights, saved / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match="NaN or inf weights in decoder.head.weight"):
        LeaeModel.from_pretrained(saved)
    loaded = LeaeModel.from_pretrained(saved, allow_non_finite_weights=True)
    assert torch.isinf(loaded.decoder.head.weight).any()


def test_encoder_only_weights_are_refused_unless_allowed(saved, model):
    weights = {k: v for k, v in load_file(saved / "model.safetensors").items() if k.startswith("encoder.")}
    save_file(weights, saved / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match="allow_missing_weights=True") as raised:
        LeaeModel.from_pretrained(saved)
    assert "decoder." in str(raised.value)
    loaded, info = LeaeModel.from_pretrained(saved, allow_missing_weights=True, output_loading_info=True)
    assert info["missing_keys"] and torch.equal(loaded.encoder.backbone.stem.weight, model.encoder.backbone.stem.weight)


def test_another_architecture_is_refused(saved):
    config = json.loads((saved / "config.json").read_text())
    config["latent_channels"] = 16
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises((RuntimeError, ValueError), match="(?i)size mismatch|mismatch"):
        LeaeModel.from_pretrained(saved)


PROCESSOR_CASES = [
    ("0-255 floats", np.full((8, 8, 3), 200.0, np.float32), ValueError, "divide 0–255 data by 255"),
    ("NaN floats", np.full((8, 8), np.nan, np.float32), ValueError, "NaN or inf"),
    ("5 channels", np.zeros((8, 8, 5), np.uint8), ValueError, "1–4 channels"),
    ("int64 array", np.zeros((8, 8), np.int64), TypeError, "unsupported image dtype"),
    ("a path", "face.png", TypeError, "unsupported image type str"),
    ("no images", [], ValueError, "no images given"),
    ("4-d single", np.zeros((1, 1, 8, 8, 3), np.uint8), ValueError, "HW, HWC or CHW"),
]


@pytest.mark.parametrize(
    ("what", "image", "error", "words"), PROCESSOR_CASES, ids=[case[0] for case in PROCESSOR_CASES]
)
def test_processor_inputs(what, image, error, words):
    with pytest.raises(error, match=words):
        LeaeImageProcessor(image_size=8)(image)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("RGBA", (1.0, 1.0, 1.0)), ("LA", (1.0, 1.0, 1.0)), ("RGBa", (1.0, 1.0, 1.0)), ("PA", (1.0, 1.0, 1.0))],
)
def test_transparent_pixels_become_white(mode, expected):
    image = Image.new("RGBA", (4, 4), (200, 10, 10, 0)).convert(mode)
    pixel_values = LeaeImageProcessor(image_size=4)(image).pixel_values
    assert torch.allclose(pixel_values[0, :, 0, 0], torch.tensor(expected), atol=1 / 255)


def test_palette_transparency_is_composited():
    image = Image.new("P", (4, 4), 0)
    image.putpalette([255, 0, 0] + [0, 0, 255] * 255)
    image.info["transparency"] = 0  # index 0 (red) is transparent
    pixel_values = LeaeImageProcessor(image_size=4)(image).pixel_values
    assert torch.equal(pixel_values, torch.ones(1, 3, 4, 4))


def test_ambiguous_array_layout_warns_and_reads_hwc():
    array = np.zeros((3, 4, 4), np.uint8)  # 3 rows of 4 RGBA pixels, or a 3-channel 4×4 image?
    with pytest.warns(UserWarning, match="could be HWC or CHW"):
        pixel_values = LeaeImageProcessor(image_size=4, do_center_crop=False)(array).pixel_values
    assert pixel_values.shape == (1, 3, 4, 5)  # HWC: 3×4 pixels, shorter side resized to 4
    tall = np.zeros((3, 9, 9), np.uint8)  # only the first axis can be channels: CHW, no warning
    assert LeaeImageProcessor(image_size=9)(tall).pixel_values.shape == (1, 3, 9, 9)
