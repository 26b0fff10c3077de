"""Bad inputs and faults against the model, the config, loading, the image processor, the training settings, the data
sources and the command line: each gives the exact right result or a clear error that names the value and the fix,
never a raw traceback from deep inside torch. (Resuming and output folders: test_resume.py.)"""

import gzip
import io
import json
import os
import struct
import subprocess
import sys
import tracemalloc
import zlib
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from huggingface_hub.errors import OfflineModeIsEnabled
from PIL import Image
from safetensors.torch import load_file, save_file
from transformers import AutoModel

from leae_hub import LeaeConfig, LeaeImageProcessor, LeaeModel, cli, hub
from leae_hub.data import MAX_MEMBER_BYTES, UnreadableImageError, build_dataset
from leae_hub.trainer import settings

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
    ("image_size 8192", {"image_size": 8192}, ValueError, "image_size=8192 is larger than leae-hub builds"),
    ("hidden 10^6", {"hidden_channels": 10**6}, ValueError, "hidden_channels=1000000 is larger"),
    (
        "pooled 4096 px",
        {"image_size": 4096, "latent_type": "pooled", "latent_channels": 128, "pooled_map_channels": 128},
        ValueError,
        "a pooled latent of 128 from a 128×512×512 map needs a linear layer of 4,294,967,296 weights",
    ),
]


def test_unknown_config_keys_are_named_and_known_ones_are_quiet(saved, monkeypatch):
    from leae_hub import configuration_leae

    said = []
    monkeypatch.setattr(configuration_leae.logger, "warning", lambda text, *args: said.append(text % args))
    LeaeConfig.from_pretrained(saved)
    assert said == []
    config = json.loads((saved / "config.json").read_text())
    (saved / "config.json").write_text(json.dumps({**config, "image_sise": 64, "torch_dtype": "float32"}))
    LeaeConfig.from_pretrained(saved)
    assert len(said) == 1 and "keys it does not know: ['image_sise']" in said[0]


def test_size_limits_refuse_before_allocating_and_keep_the_presets():
    tracemalloc.start()
    with pytest.raises(ValueError, match="pooled latent"):
        LeaeConfig.from_preset("leae-36m", image_size=2048)
    with pytest.raises(ValueError, match="larger than leae-hub builds"):
        LeaeConfig.from_preset("leae-mnist", latent_norm_layers=100)
    assert tracemalloc.get_traced_memory()[1] < 10 * 2**20  # refused from the numbers alone
    tracemalloc.stop()
    for preset in ("leae-2m", "leae-11m", "leae-36m", "leae-cifar", "leae-mnist"):
        LeaeConfig.from_preset(preset)


def test_a_downloaded_processor_config_with_a_huge_size_is_refused(tmp_path):
    LeaeImageProcessor(image_size=64).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "preprocessor_config.json").read_text())
    config["size"], config["crop_size"] = {"shortest_edge": 20000}, {"height": 20000, "width": 20000}
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="crop_size 20000 is larger than the 4096-px side"):
        LeaeImageProcessor.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="size 10000 is larger"):
        LeaeImageProcessor(image_size=64)(np.zeros((8, 8, 3), np.uint8), size={"shortest_edge": 10000})


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


def test_another_model_type_is_refused_unless_allowed(saved, caplog):
    """leae's own class refuses; transformers' AutoModel dispatches on the type the folder declares (its own rule,
    which leae_hub does not patch) and its load report names every weight it did not find, so it is not silent."""
    config = json.loads((saved / "config.json").read_text())
    config["model_type"] = "bert"
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="holds a model of type 'bert', not 'leae_autoencoder'"):
        LeaeModel.from_pretrained(saved)
    assert isinstance(LeaeModel.from_pretrained(saved, allow_other_model_type=True), LeaeModel)
    small = {"vocab_size": 8, "hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 1}
    (saved / "config.json").write_text(json.dumps({**config, **small, "intermediate_size": 4}))
    with caplog.at_level("WARNING"):
        assert type(AutoModel.from_pretrained(saved)).__name__ == "BertModel"
    report = caplog.text
    assert "embeddings.word_embeddings.weight" in report and "MISSING" in report and "UNEXPECTED" in report


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


# ----------------------------------------------------------------------------------- training settings (train.py)

SHAPES = Path(__file__).resolve().parents[1] / "training" / "configs" / "shapes-quick.yaml"

# (what, command-line arguments (after --config shapes-quick.yaml unless they name one), exception, message words)
TRAIN_CASES = [
    ("max_steps 0", ["--max_steps", "0"], ValueError, "max_steps must be at least 1, got 0"),
    ("negative max_steps", ["--max_steps", "-5"], ValueError, "max_steps must be at least 1, got -5"),
    ("checkpoint_every 0", ["--checkpoint_every", "0"], ValueError, "checkpoint_every must be at least 1, got 0"),
    ("log_every 0", ["--log_every", "0"], ValueError, "log_every must be at least 1, got 0"),
    ("negative sample_every", ["--sample_every", "-1"], ValueError, "sample_every must be at least 1, got -1"),
    ("eval_every 0", ["--eval_every", "0"], ValueError, "eval_every must be at least 1, got 0"),
    ("accumulation 0", ["--gradient_accumulation_steps", "0"], ValueError, "gradient_accumulation_steps must be at"),
    ("eval_images 0", ["--eval_images", "0"], ValueError, "eval_images must be at least 1, got 0"),
    ("keep_checkpoints 0", ["--keep_checkpoints", "0"], ValueError, "keep_checkpoints must be at least 1, got 0"),
    ("batch_size 0", ["--batch_size", "0"], ValueError, "batch_size must be at least 1, got 0"),
    ("num_crops 0", ["--num_crops", "0"], ValueError, "num_crops must be at least 1, got 0"),
    ("negative sigreg_slices", ["--sigreg_slices", "-2"], ValueError, "sigreg_slices must be at least 1, got -2"),
    ("negative lr", ["--learning_rate", "-1e-3"], ValueError, "learning_rate must be a positive number, got -0.001"),
    ("NaN lr", ["--learning_rate", "nan"], ValueError, "learning_rate must be a positive number, got nan"),
    ("negative weight decay", ["--weight_decay", "-0.1"], ValueError, "weight_decay must be 0 or more, got -0.1"),
    ("negative grad norm", ["--max_grad_norm", "-1"], ValueError, "max_grad_norm must be 0 (no clipping) or more"),
    ("negative warmup", ["--warmup_steps", "-1"], ValueError, "warmup_steps must be 0 or more, got -1"),
    ("negative workers", ["--num_workers", "-1"], ValueError, "num_workers must be 0 or more, got -1"),
    ("image_crop outside", ["--image_crop", "0.2", "0", "1.5", "1"], ValueError, "image_crop: crop must be (left"),
    ("image_size 0", ["--image_size", "0"], ValueError, "positive"),
    ("unknown tracker", ["--report_to", "nosuchtracker"], ValueError, "report_to 'nosuchtracker' is not installed"),
    (
        "probe steps -1",
        ["--config", str(SHAPES.parent / "cifar10-32-jepa.yaml"), "--decoder_probe_steps", "-1"],
        ValueError,
        "decoder_probe_steps must be at least 0, got -1",
    ),
    ("negative sigreg_weight", ["--sigreg_weight", "-1"], ValueError, "sigreg_weight must be 0 or more (a negative"),
    ("crop_ratio 0", ["--crop_ratio", "0"], ValueError, "crop_ratio must lie in (0, 1]"),
    ("crop_ratio 2", ["--crop_ratio", "2"], ValueError, "crop_ratio must lie in (0, 1]"),
    ("pixel_mask_ratio 2", ["--pixel_mask_ratio", "2"], ValueError, "pixel_mask_ratio must lie in [0, 1)"),
    ("negative patch_mask_ratio", ["--patch_mask_ratio", "-1"], ValueError, "patch_mask_ratio must lie in [0, 1)"),
    ("ema_decay 1.5", ["--ema_decay", "1.5"], ValueError, "ema_decay must lie in [0, 1), got 1.5"),
    ("empty output_dir", ["--output_dir", ""], ValueError, "output_dir is empty"),
    ("blank output_dir", ["--output_dir", "  "], ValueError, "output_dir is empty"),
    ("bad push_to_hub", ["--push_to_hub", "me/my model"], ValueError, "push_to_hub 'me/my model' is not a Hub repo id"),
    (
        "negative regularizer_weight",
        ["--config", str(SHAPES.parent / "cifar10-32-jepa.yaml"), "--regularizer_weight", "-0.5"],
        ValueError,
        "regularizer_weight must be 0 or more, got -0.5",
    ),
    ("missing config", ["--config", "nowhere/none.yaml"], FileNotFoundError, "Configs that exist: "),
    ("config without file", ["--config"], ValueError, "--config needs a YAML file"),
]


@pytest.mark.parametrize(("what", "argv", "error", "words"), TRAIN_CASES, ids=[case[0] for case in TRAIN_CASES])
def test_training_settings(what, argv, error, words):
    with pytest.raises(error) as raised:
        cli.parse_train_config(argv if "--config" in argv else ["--config", str(SHAPES), *argv])
    assert words in str(raised.value), str(raised.value)


@pytest.mark.parametrize(
    ("output_dir", "repo_id"),
    [
        ("runs/my run", "org/leae-my-run"),
        ("runs/run-été", "org/leae-run-ete"),
        ("runs/--x..y--", "org/leae-x.y"),
        ("runs/日本", "org/leae-run"),
    ],
)
def test_any_output_folder_name_gives_a_valid_card_repo_id(output_dir, repo_id):
    config = cli.parse_train_config(["--config", str(SHAPES), "--output_dir", output_dir])
    assert settings.card_repo_id(config) == repo_id
    hub.publishing.validate_repo_id(settings.card_repo_id(config))


def test_the_current_folder_as_output_dir_names_the_card_after_it(tmp_path, monkeypatch):
    (tmp_path / "My Run").mkdir()
    monkeypatch.chdir(tmp_path / "My Run")
    config = cli.parse_train_config(["--config", str(SHAPES), "--output_dir", "."])
    assert settings.card_repo_id(config) == "org/leae-My-Run"


def test_a_missing_config_lists_the_configs_that_exist():
    with pytest.raises(FileNotFoundError) as raised:
        cli.parse_train_config(["--config", "training/configs/shapes-quik.yaml"])
    assert "shapes-quick.yaml" in str(raised.value) and "cifar10-32-masked.yaml" in str(raised.value)


def test_config_with_an_equals_sign_is_read():
    config = cli.parse_train_config([f"--config={SHAPES.parent / 'cifar10-32-masked.yaml'}"])
    assert config.recipe == "masked"


# (what, YAML text of --config, exception, words in the message)
YAML_CASES = [
    ("a list", "- recipe\n- masked\n", ValueError, "must hold `setting: value` lines, got a list"),
    ("broken YAML", "recipe: [masked\n", ValueError, "is not valid YAML"),
    ("num_epochs 0", "max_steps: null\nnum_epochs: 0\n", ValueError, "num_epochs must be a positive number, got 0"),
    ("neither length", "max_steps: null\n", ValueError, "Set max_steps or num_epochs"),
    ("bool max_steps", "max_steps: true\n", ValueError, "max_steps in"),
    ("null data", "data: null\n", ValueError, "data in"),
    ("number data", "data: 10\n", ValueError, "must be a string, got 10 (int)"),
    ("string batch_size", "batch_size: '32'\n", ValueError, "batch_size in"),
    ("float batch_size", "batch_size: 3.5\n", ValueError, "must be a whole number, got 3.5 (float)"),
    ("bool learning_rate", "learning_rate: yes\n", ValueError, "learning_rate in"),
    ("string views", "views: crop\n", ValueError, "views in"),
]


@pytest.mark.parametrize(("what", "text", "error", "words"), YAML_CASES, ids=[case[0] for case in YAML_CASES])
def test_config_files(tmp_path, what, text, error, words):
    (tmp_path / "config.yaml").write_text(text)
    with pytest.raises(error) as raised:
        cli.parse_train_config(["--config", str(tmp_path / "config.yaml")])
    assert words in str(raised.value), str(raised.value)


# ------------------------------------------------------------------------------------------------- data sources


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _idx(folder: Path, header: bytes, body: bytes = b"", gz: bool = True) -> str:
    name = "train-images-idx3-ubyte" + (".gz" if gz else "")
    return f"idx:{_write(folder / name, gzip.compress(header + body) if gz else header + body).parent}"


# (what, spec builder(tmp_path), exception, words in the message; "{tmp}" stands for tmp_path)
DATA_CASES = [
    ("unknown spec", lambda tmp: "no-such-source", FileNotFoundError, "'no-such-source' is not a spec nor an existing"),
    ("length not a number", lambda tmp: "synthetic-shapes:ten", ValueError, "must be a whole number"),
    ("length 0", lambda tmp: "synthetic-shapes:0", ValueError, "needs a positive length, got 0"),
    ("missing folder", lambda tmp: "folder:/nonexistent/images", FileNotFoundError, "/nonexistent/images"),
    (
        "not a zip",
        lambda tmp: f"zip:{_write(tmp / 'data.zip', b'PK not really' * 10)}",
        ValueError,
        "{tmp}/data.zip is not a readable zip archive",
    ),
    (
        "not a gzip",
        lambda tmp: f"idx:{_write(tmp / 'mnist' / 'train-images-idx3-ubyte.gz', b'x' * 64).parent}",
        ValueError,
        "{tmp}/mnist/train-images-idx3-ubyte.gz is not a readable gzip file",
    ),
    (
        "IDX bomb header",
        lambda tmp: _idx(tmp / "bomb", struct.pack(">4B3I", 0, 0, 8, 3, 100_000, 10_000, 10_000)),
        ValueError,
        "more than MAX_IDX_BYTES",
    ),
    (
        "truncated IDX",
        lambda tmp: _idx(tmp / "short", struct.pack(">4B3I", 0, 0, 8, 3, 2, 4, 4), bytes(20), gz=False),
        ValueError,
        "header says (2, 4, 4) (32 bytes), file holds 20",
    ),
    (
        "IDX too long",
        lambda tmp: _idx(tmp / "long", struct.pack(">4B3I", 0, 0, 8, 3, 1, 4, 4), bytes(40)),
        ValueError,
        "(16 bytes), file holds more",
    ),
    (
        "not IDX",
        lambda tmp: _idx(tmp / "wrong", b"\x00\x00\x09\x03" + bytes(12)),
        ValueError,
        "not an unsigned-byte IDX file",
    ),
]


@pytest.mark.parametrize(("what", "spec", "error", "words"), DATA_CASES, ids=[case[0] for case in DATA_CASES])
def test_data_sources(tmp_path, what, spec, error, words):
    with pytest.raises(error) as raised:
        build_dataset(spec(tmp_path), image_size=8)
    assert words.replace("{tmp}", str(tmp_path)) in str(raised.value), str(raised.value)


def _raw_zip(path: Path, members: list[tuple[str, bytes, int, int]]) -> None:
    """Write a zip of already deflated members (name, raw deflate stream, CRC-32, inflated size): PKWARE APPNOTE 4.3,
    local headers, then the central directory and its end record."""
    local, central = bytearray(), bytearray()
    for name, data, crc, size in members:
        encoded = name.encode()
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(data), size, len(encoded), 0, 0, 0, 0, 0,
            len(local),
        ) + encoded  # fmt: skip
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(data), size, len(encoded), 0)
        local += encoded + data
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(local), 0)
    path.write_bytes(bytes(local + central + end))


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def test_a_small_zip_that_inflates_to_a_gigabyte_is_skipped_without_reading_it(tmp_path):
    """1 GiB of zeros as ~1 MB of deflate: one full-flushed 1 MiB block (it does not refer back) repeated 1024 times."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(2**20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert compressor.compress(bytes(2**20)) + compressor.flush(zlib.Z_FULL_FLUSH) == block
    bomb = block * 1024 + compressor.flush()
    png = io.BytesIO()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(png, "PNG")
    good = png.getvalue()
    archive = tmp_path / "bomb.zip"
    _raw_zip(archive, [("a/bomb.png", bomb, 0, 2**30), ("a/good.png", _deflate(good), zlib.crc32(good), len(good))])
    assert archive.stat().st_size < 2 * 2**20
    dataset = build_dataset(f"zip:{archive}", image_size=8)
    assert dataset.files == ["a/bomb.png", "a/good.png"]
    tracemalloc.start()
    try:
        with pytest.warns(RuntimeWarning, match="skipped 1 unreadable.*a/bomb.png.*MAX_MEMBER_BYTES"):
            items = dataset.__getitems__([0, 1])
        with pytest.raises(UnreadableImageError, match="a/bomb.png is unreadable: it inflates to more than"):
            dataset[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * MAX_MEMBER_BYTES < 2**30
    assert len(items) == 1 and torch.allclose(items[0]["pixel_values"][:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))


def test_corrupt_images_are_skipped_and_counted_never_replaced(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "0.jpg").write_bytes(b"this is not a jpeg" * 10)
    Image.new("RGB", (8, 8), (0, 0, 255)).save(tmp_path / "images" / "1.png")
    dataset = build_dataset(str(tmp_path / "images"), image_size=8)
    with pytest.raises(UnreadableImageError, match="0.jpg is unreadable"):
        dataset[0]
    with pytest.warns(RuntimeWarning, match="skipped 1 unreadable image.*0.jpg"):
        batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=2)))
    assert batch["pixel_values"].shape == (1, 3, 8, 8) and dataset.num_skipped == 1  # one image, not two copies


def test_evaluation_skips_and_counts_unreadable_test_images(tmp_path, model):
    from leae_hub.evaluation import evaluate_model

    images = tmp_path / "images" / "test"
    images.mkdir(parents=True)
    for index in range(5):
        Image.new("RGB", (32, 32), (40 * index, 0, 255)).save(images / f"{index}.png")
    (images / "2.png").write_bytes(b"not a png" * 20)
    dataset = build_dataset(str(tmp_path / "images"), split="test", image_size=32)
    with pytest.warns(RuntimeWarning, match="evaluation skipped 1 unreadable image"):
        metrics = evaluate_model(model, dataset, representation=False, batch_size=2, hole_kinds=())
    assert metrics["data"]["num_images"] == 4 and metrics["data"]["num_unreadable_skipped"] == 1


@pytest.mark.timeout(60)
def test_devices_pipes_and_huge_files_in_an_image_folder_are_skipped_without_reading_them(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (8, 8), (0, 0, 255)).save(images / "a.png")
    (images / "b.png").symlink_to("/dev/zero")  # endless
    os.mkfifo(images / "c.png")  # opening it would block for ever
    with (images / "d.png").open("wb") as handle:  # sparse: a huge size without the disk space
        handle.truncate(MAX_MEMBER_BYTES + 1)
    dataset = build_dataset(str(images), image_size=8)
    for index, reason in ((1, "not a regular file"), (2, "not a regular file"), (3, "more than MAX_MEMBER_BYTES")):
        with pytest.raises(UnreadableImageError, match=reason):
            dataset[index]
    with pytest.warns(RuntimeWarning, match="unreadable image"):
        batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=4)))
    assert batch["pixel_values"].shape == (1, 3, 8, 8)


# ------------------------------------------------------------------------------------------- more image inputs


def test_zero_size_images_are_refused():
    with pytest.raises(ValueError, match="0×5 pixels is empty"):
        LeaeImageProcessor(image_size=8)(Image.new("RGB", (0, 5)))
    with pytest.raises(ValueError, match="0×4 pixels is empty"):
        LeaeImageProcessor(image_size=8)(np.zeros((0, 4, 3), np.uint8))


def test_exif_orientation_is_applied():
    """A 4×8 camera image tagged "rotate 90° clockwise to view" (orientation 6) is read as the 8×4 image shown."""
    image = Image.new("RGB", (8, 4), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 4, 4))  # white left half
    exif = image.getexif()
    exif[0x0112] = 6
    encoded = io.BytesIO()
    image.save(encoded, "PNG", exif=exif)
    loaded = Image.open(encoded)
    pixel_values = LeaeImageProcessor(image_size=4, do_center_crop=False)(loaded).pixel_values
    expected = torch.zeros(1, 3, 8, 4)
    expected[..., :4, :] = 1.0  # the white half is on top once turned upright
    assert pixel_values.shape == (1, 3, 8, 4) and torch.equal(pixel_values, expected)


def test_premultiplied_alpha_is_composited_like_straight_alpha():
    straight = Image.new("RGBA", (4, 4), (200, 10, 10, 128))
    expected = LeaeImageProcessor(image_size=4)(straight).pixel_values
    premultiplied = LeaeImageProcessor(image_size=4)(straight.convert("RGBa")).pixel_values
    assert torch.allclose(premultiplied, expected, atol=1.5 / 255)
    grey = Image.new("LA", (4, 4), (200, 128))
    processor = LeaeImageProcessor(image_size=4, num_channels=1)
    assert torch.allclose(processor(grey.convert("La")).pixel_values, processor(grey).pixel_values, atol=1.5 / 255)


# ------------------------------------------------------------------------------------ the command line (one line)


def _one_line_error(capsys, code: int, *words: str) -> None:
    error = capsys.readouterr().err
    assert code == 1 and error.count("\n") == 1 and "Traceback" not in error, error
    for word in words:
        assert word in error, error


def test_cli_wrong_config_path(capsys):
    code = cli.main(["train", "--config", "training/configs/nope.yaml"])
    _one_line_error(capsys, code, "leae train: error: --config training/configs/nope.yaml: no such file", "shapes-")


@pytest.mark.parametrize(
    ("flag", "text", "words"),
    [
        ("--metrics", "[1, 2]", "--metrics {file} must hold a JSON object {{...}}, got a list"),
        ("--metrics", '{"psnr": ', "--metrics {file} is not valid JSON (Expecting value: line 1"),
        ("--training_info", '["steps", 10]', "--training_info {file} must hold a JSON object"),
        ("--training_info", "\xff\xfe", "--training_info {file} is not valid JSON"),
        ("--metrics", None, "--metrics {file}: no such file"),
    ],
    ids=["metrics list", "metrics broken", "info list", "info bytes", "metrics missing"],
)
def test_cli_card_with_a_bad_json_file_names_it(capsys, tmp_path, flag, text, words):
    file = tmp_path / "input.json"
    if text is not None:
        file.write_bytes(text.encode("latin-1"))
    code = cli.main(["card", "--preset", "leae-cifar", "--repo_id", "org/x", "--recipe", "masked", flag, str(file)]
                    + ["--output", str(tmp_path / "card")])  # fmt: skip
    _one_line_error(capsys, code, words.format(file=file))


@pytest.mark.slow
def test_accelerate_launch_quiet_prints_the_one_line_error_alone(tmp_path):
    """Two processes: the first names the bad setting, the other exits in silence; no traceback after the line."""
    launcher = Path(sys.executable).with_name("accelerate")
    command = [str(launcher), "launch", "-q", "--cpu", "--num_processes", "2", "--num_machines", "1"]
    command += ["--mixed_precision", "no", "--dynamo_backend", "no", str(SHAPES.parents[2] / "training" / "train.py")]
    done = subprocess.run(
        [*command, "--max_steps", "0", "--output_dir", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and done.stderr.count("error:") == 1, done.stderr
    assert "training/train.py: error: max_steps must be at least 1, got 0" in done.stderr


def test_a_bad_setting_is_named_by_the_first_process_only(monkeypatch, capsys):
    """Another process waits for the launcher to stop it (the first one names the error); alive after the grace time,
    it names the error itself, once, argparse's usage included."""
    waits = []
    monkeypatch.setattr(cli.train.time, "sleep", lambda seconds: waits.append(capsys.readouterr()))
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(ValueError, match="learning_rate must be a positive number, got -1.0"):
        cli.train_main(["--learning_rate", "-1"])
    with pytest.raises(SystemExit):
        cli.train_main(["--max_steps", "many"])
    assert waits == [("", ""), ("", "")]  # nothing printed while it waits
    assert "invalid int value: 'many'" in capsys.readouterr().err
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ValueError, match="learning_rate must be a positive number, got -1.0"):
        cli.train_main(["--learning_rate", "-1"])


def test_cli_unknown_data_spec(capsys, tmp_path):
    code = cli.main(["train", "--data", "not-a-source", "--max_steps", "1", "--output_dir", str(tmp_path / "run")])
    _one_line_error(capsys, code, "leae train: error: data source 'not-a-source' is not a spec", "synthetic-shapes")
    assert not (tmp_path / "run").exists()


def test_cli_evaluate_with_an_unwritable_json_fails_before_evaluating(capsys, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setattr("transformers.AutoModel.from_pretrained", lambda *a, **k: pytest.fail("evaluated first"))
    code = cli.main(["evaluate", "--model", "m", "--data", "synthetic-shapes", "--json", str(tmp_path / "file/x.json")])
    _one_line_error(capsys, code, "leae evaluate: error: --json", "cannot be written")


@pytest.fixture
def publishable(monkeypatch):
    """`leae publish` up to the token and the network: the folder's own checks pass (they have their own tests)."""
    monkeypatch.setattr(hub.publishing, "prepare_repo", lambda *args, **kwargs: [])
    return ["publish", "--model", "m", "--repo_id", "org/leae-x"]


def test_cli_publish_without_a_token(capsys, monkeypatch, publishable):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(hub.publishing, "get_token", lambda: None)
    _one_line_error(capsys, cli.main(publishable), "leae publish: error: No Hugging Face token found", "HF_TOKEN")


@pytest.mark.parametrize(
    ("failure", "words"),
    [
        (OfflineModeIsEnabled("Cannot reach https://huggingface.co: offline mode is enabled."), "offline mode"),
        (httpx.ConnectError("[Errno -3] Temporary failure in name resolution"), "ConnectError: [Errno -3]"),
    ],
    ids=["offline", "no network"],
)
def test_cli_publish_offline_or_without_network(capsys, monkeypatch, publishable, failure, words):
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")

    def create_repo(*args, **kwargs):
        raise failure

    monkeypatch.setattr(hub.publishing.HfApi, "create_repo", create_repo)
    _one_line_error(capsys, cli.main(publishable), "leae publish: error:", words)
