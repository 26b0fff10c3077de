import importlib.util

import pytest
import torch
from conftest import tiny_config
from transformers import AutoConfig, AutoModel

import leae_hub
from leae_hub import PRESETS, LeaeConfig, LeaeModel

EXPECTED_PARAMETERS = {
    "leae-2m": 2_126_083,
    "leae-11m": 11_153_155,
    "leae-36m": 36_320_131,
    "leae-cifar": 580_291,
    "leae-mnist": 2_223_105,
}


@pytest.mark.parametrize("preset", sorted(EXPECTED_PARAMETERS))
def test_preset_parameter_counts_are_exact(preset):
    model = AutoModel.from_config(LeaeConfig.from_preset(preset))
    assert isinstance(model, LeaeModel)
    assert sum(p.numel() for p in model.parameters()) == EXPECTED_PARAMETERS[preset]


def test_presets_are_listed():
    assert set(PRESETS) == set(EXPECTED_PARAMETERS)


@pytest.mark.parametrize(
    ("preset", "latent_shape", "compression"),
    [("leae-cifar", (32, 4, 4), 6.0), ("leae-2m", (32, 16, 16), 6.0), ("leae-11m", (128,), 384.0)],
)
def test_shapes_range_and_compression(preset, latent_shape, compression):
    model = LeaeModel(LeaeConfig.from_preset(preset)).eval()
    size = model.config.image_size
    pixel_values = torch.rand(2, 3, size, size)
    with torch.no_grad():
        out = model(pixel_values)
        latents = model.encode(pixel_values).latents
        decoded = model.decode(latents).reconstruction
    assert out.reconstruction.shape == pixel_values.shape
    assert tuple(out.latents.shape) == (2, *latent_shape)
    assert model.latent_shape == latent_shape
    assert model.compression_ratio == compression
    assert torch.equal(latents, out.latents) and torch.equal(decoded, out.reconstruction)
    assert out.reconstruction.min() >= 0 and out.reconstruction.max() <= 1


def test_auto_classes_are_registered():
    config = AutoConfig.for_model(LeaeConfig.model_type, hidden_channels=16, latent_channels=8, image_size=32)
    assert isinstance(config, LeaeConfig)
    assert config.model_type.startswith("leae")
    assert type(AutoModel.from_config(config)) is LeaeModel


def test_latent_norm_modes():
    model = LeaeModel(tiny_config()).train()
    pixel_values = torch.rand(8, 3, 32, 32)
    norm = model.encoder.latent_norm
    before = norm.running_mean.clone()
    batch = model.encode(pixel_values, norm_mode="batch").latents
    assert torch.equal(norm.running_mean, before), "batch mode must not update running statistics"
    mean = batch.mean(dim=(0, 2, 3))
    assert torch.allclose(mean, norm.bias, atol=1e-5)
    running = model.encode(pixel_values, norm_mode="running").latents
    assert torch.equal(norm.running_mean, before)
    model.eval()
    assert torch.allclose(running, model.encode(pixel_values).latents)
    model.train()
    model.encode(pixel_values)
    assert not torch.equal(norm.running_mean, before), "training mode updates the running statistics"


def test_weights_are_initialised_like_pytorch_defaults():
    model = LeaeModel(LeaeConfig.from_preset("leae-cifar"))
    conv = model.encoder.backbone.down1.conv1
    bound = 1 / (conv.weight[0].numel() ** 0.5)
    assert conv.weight.abs().max() <= bound and conv.weight.std() > bound / 3
    assert torch.equal(model.encoder.latent_norm.weight, torch.ones(32))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"image_size": 100}, "image_size must be divisible by 8, got 100"),
        ({"latent_channels": 48}, r"latent_channels=48 must divide 8 \* hidden_channels = 512"),
        ({"latent_type": "pooled", "pooled_map_channels": 33}, "pooled_map_channels=33 must divide"),
        ({"hidden_channels": 0}, "hidden_channels must be a positive integer"),
        pytest.param(
            {"encoder_backbone": "resnet_does_not_exist"},
            "is not a timm model name",
            marks=pytest.mark.skipif(not importlib.util.find_spec("timm"), reason="timm checks the names"),
        ),
    ],
)
def test_config_validation_names_field_and_fix(overrides, message):
    with pytest.raises(ValueError, match=message):
        LeaeConfig.from_preset("leae-cifar", **overrides)


def test_unknown_preset_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown preset 'leae-9m'.*leae-2m.*leae-cifar"):
        LeaeConfig.from_preset("leae-9m")


@pytest.fixture(scope="module")
def tiny_model():
    return LeaeModel(tiny_config()).eval()


@pytest.mark.parametrize(
    ("pixel_values", "error", "message"),
    [
        (torch.rand(3, 32, 32), ValueError, r"shape \[B, C, H, W\].*unsqueeze"),
        (torch.rand(1, 1, 32, 32), ValueError, "1 channels but the model expects in_channels=3"),
        (torch.rand(1, 3, 64, 64), ValueError, "spatial size 64×64 but the model expects 32×32"),
        ((torch.rand(1, 3, 32, 32) * 255).to(torch.uint8), TypeError, "float tensor in \\[0, 1\\], got dtype"),
        (torch.rand(1, 3, 32, 32) * 255, ValueError, "look like 0–255 values: divide by 255"),
        (torch.full((1, 3, 32, 32), float("nan")), ValueError, "NaN or inf"),
        (torch.full((1, 3, 32, 32), float("inf")), ValueError, "NaN or inf"),
        ([[0.5]], TypeError, "must be a torch.Tensor"),
    ],
)
def test_bad_pixel_values_are_rejected(tiny_model, pixel_values, error, message):
    for call in (tiny_model, tiny_model.encode):
        with pytest.raises(error, match=message):
            call(pixel_values)


def test_bad_latents_are_rejected(tiny_model):
    with pytest.raises(ValueError, match=r"latents must have shape \[B, 8, 4, 4\]"):
        tiny_model.decode(torch.zeros(1, 8, 8, 8))


def _square_mask(batch=2, size=32, top=8, side=12):
    mask = torch.zeros(batch, 1, size, size)
    mask[:, :, top : top + side, top : top + side] = 1
    return mask


def test_inpaint_keeps_known_pixels_exactly(tiny_model):
    pixel_values = torch.rand(2, 3, 32, 32, requires_grad=True)
    mask = _square_mask()
    out = tiny_model.inpaint(pixel_values, mask)
    assert not out.requires_grad and out.grad_fn is None  # inference: no autograd graph, even in grad mode
    pixel_values = pixel_values.detach()
    keep = mask.expand_as(pixel_values) == 0
    assert torch.equal(out[keep], pixel_values[keep])
    assert not torch.equal(out[~keep], pixel_values[~keep])
    assert out.min() >= 0 and out.max() <= 1


def test_inpaint_fills_from_visible_pixels_only(tiny_model):
    """Hole pixels must not leak into the fill: changing them leaves the output unchanged."""
    pixel_values = torch.rand(1, 3, 32, 32)
    mask = _square_mask(batch=1)
    altered = pixel_values.clone()
    altered[mask.expand_as(altered) == 1] = 1.0
    with torch.no_grad():
        assert torch.equal(tiny_model.inpaint(pixel_values, mask), tiny_model.inpaint(altered, mask))


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        (torch.zeros(2, 32, 32), r"mask must have shape \[2, 1, 32, 32\]"),
        (torch.zeros(2, 3, 32, 32), r"mask must have shape \[2, 1, 32, 32\]"),
        (torch.zeros(2, 1, 16, 16), r"mask must have shape \[2, 1, 32, 32\]"),
        (torch.zeros(2, 1, 32, 32), "mask is empty"),
        (torch.ones(2, 1, 32, 32), "covers the whole image"),
        (torch.full((2, 1, 32, 32), 0.5), "only 0 \\(keep\\) and 1 \\(hole\\)"),
    ],
)
def test_bad_masks_are_rejected(tiny_model, mask, message):
    with pytest.raises(ValueError, match=message):
        tiny_model.inpaint(torch.rand(2, 3, 32, 32), mask)


def test_grey_models_take_one_channel():
    model = LeaeModel(tiny_config(in_channels=1, image_size=24)).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, 24, 24))
    assert out.reconstruction.shape == (2, 1, 24, 24)
    assert out.latents.shape == (2, 8, 3, 3)


def test_public_names():
    for name in ("LeaeConfig", "LeaeModel", "LeaeImageProcessor", "PRESETS", "LeaeModelOutput"):
        assert hasattr(leae_hub, name)


def test_return_dict_false_gives_tuples():
    model = LeaeModel(LeaeConfig.from_preset("leae-cifar", hidden_channels=16)).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        out = model(x)
        reconstruction, latents = model(x, return_dict=False)
        (encoded,) = model.encode(x, return_dict=False)
        (decoded,) = model.decode(latents, return_dict=False)
    assert torch.equal(reconstruction, out.reconstruction) and torch.equal(latents, out.latents)
    assert torch.equal(encoded, latents) and torch.equal(decoded, reconstruction)


@pytest.mark.parametrize("preset", ["leae-cifar", "leae-11m"])
def test_torch_export_of_encoder_and_decoder(preset):
    """`torch.export` captures the encoder and the decoder as full graphs, and the exported programs agree."""
    overrides = {"image_size": 32, "hidden_channels": 16} | (
        {"pooled_map_channels": 32} if preset == "leae-11m" else {}
    )
    model = LeaeModel(LeaeConfig.from_preset(preset, **overrides)).eval()
    x = torch.rand(2, 3, 32, 32)
    encoder = torch.export.export(model.encoder, (x,))
    latents = model.encoder(x)
    decoder = torch.export.export(model.decoder, (latents,))
    assert torch.allclose(encoder.module()(x), latents, atol=1e-6)
    assert torch.allclose(decoder.module()(latents), model.decoder(latents), atol=1e-6)
    whole = torch.export.export(model, (x,), kwargs={"return_dict": False})  # the input checks do not break it
    assert torch.allclose(whole.module()(x, return_dict=False)[0], model(x).reconstruction, atol=1e-6)
    compiled = torch.compile(model, fullgraph=True, backend="eager")  # dynamo traces forward in one graph
    assert torch.allclose(compiled(x).reconstruction, model(x).reconstruction, atol=1e-6)


def test_gradient_checkpointing_recomputes_the_blocks_and_keeps_the_gradients():
    torch.manual_seed(0)
    model = LeaeModel(LeaeConfig.from_preset("leae-cifar", hidden_channels=16)).train()
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))

    def gradients() -> list[torch.Tensor]:
        model.zero_grad()
        ((model(x).reconstruction - x) ** 2).mean().backward()
        return [parameter.grad.clone() for parameter in model.parameters()]

    plain = gradients()
    # transformers 5.18 (the floor) calls it gradient_checkpointing_enable; later versions deprecate that name.
    enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
    enable()
    calls = []
    for module in model.modules():
        if getattr(module, "gradient_checkpointing", False):
            checkpoint = module._gradient_checkpointing_func
            module._gradient_checkpointing_func = lambda *a, _c=checkpoint, **k: calls.append(1) or _c(*a, **k)
    checkpointed = gradients()
    assert len(calls) == 4  # two down blocks, two up blocks
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(plain, checkpointed, strict=True))
    assert set(model._no_split_modules) == {"LeaeDownBlock", "LeaeUpBlock"}
