"""timm encoders: built offline with timm's own init, saved and loaded bit-exactly, non-persistent buffers rebuilt."""

import pytest
import torch
from transformers import AutoModel

from leae_hub import LeaeConfig, LeaeModel

timm = pytest.importorskip("timm")

SMALL_SWIN = {"img_size": 64, "window_size": 4, "embed_dim": 24, "depths": (1, 1, 1, 1), "num_heads": (1, 1, 1, 1)}
BACKBONES = [
    ("resnet18", {}, 32),
    ("vit_tiny_patch16_224", {"img_size": 64, "depth": 2}, 16),
    ("swin_tiny_patch4_window7_224", SMALL_SWIN, 32),
]


def _config(name, kwargs, latent_type="spatial"):
    return LeaeConfig(
        image_size=64,
        hidden_channels=16,
        latent_channels=8,
        pooled_map_channels=8,
        latent_type=latent_type,
        encoder_backbone=name,
        encoder_backbone_kwargs=kwargs,
    )


@pytest.mark.slow
@pytest.mark.parametrize(("name", "kwargs", "reduction"), BACKBONES, ids=[b[0] for b in BACKBONES])
def test_timm_backbone_save_load_is_exact(tmp_path, name, kwargs, reduction):
    model = LeaeModel(_config(name, kwargs)).eval()
    assert model.encoder.backbone.reduction == reduction
    assert len(model.decoder.up_blocks) == reduction.bit_length() - 2  # log2(r) − 1 blocks, then the head's ×2
    pixel_values = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(pixel_values)
    assert expected.reconstruction.shape == pixel_values.shape
    assert expected.latents.shape == (2, 8, 64 // reduction, 64 // reduction)

    model.save_pretrained(tmp_path)
    loaded, info = AutoModel.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    loaded.eval()
    state, loaded_state = model.state_dict(), loaded.state_dict()
    assert state.keys() == loaded_state.keys()
    assert all(torch.equal(state[key], loaded_state[key]) for key in state)
    # Non-persistent buffers are not in the file: they must be rebuilt, not left empty or random.
    buffers = dict(model.named_buffers())
    for key, buffer in loaded.named_buffers():
        assert torch.equal(buffer, buffers[key]), key
    with torch.no_grad():
        got = loaded(pixel_values)
    assert torch.equal(got.reconstruction, expected.reconstruction)
    assert torch.equal(got.latents, expected.latents)


def test_swin_has_non_persistent_buffers():
    model = LeaeModel(_config("swin_tiny_patch4_window7_224", SMALL_SWIN))
    persistent = set(model.state_dict())
    non_persistent = [key for key, _ in model.named_buffers() if key not in persistent]
    assert any("relative_position_index" in key for key in non_persistent)


def test_timm_init_is_kept():
    """Our `_init_weights` must not overwrite timm's own initialisation of the backbone."""
    torch.manual_seed(0)
    reference = timm.create_model("resnet18", pretrained=False, features_only=True, out_indices=(-1,), in_chans=3)
    torch.manual_seed(0)
    model = LeaeModel(_config("resnet18", {}))
    backbone = model.encoder.backbone.backbone.state_dict()
    assert all(torch.equal(tensor, backbone[key]) for key, tensor in reference.state_dict().items())


def test_pooled_latent_with_timm_backbone():
    model = LeaeModel(_config("resnet18", {}, latent_type="pooled")).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 64))
    assert out.latents.shape == (2, 8)
    assert out.reconstruction.shape == (2, 3, 64, 64)


def test_image_size_must_fit_the_backbone_stride():
    with pytest.raises(ValueError, match="image_size=48 must be divisible by the encoder's stride 32"):
        LeaeModel(LeaeConfig(image_size=48, hidden_channels=16, latent_channels=8, encoder_backbone="resnet18"))
