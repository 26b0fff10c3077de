import pytest
import torch
from conftest import tiny_config

from leae_hub import LeaeModel
from leae_hub.judges import EMAJudge, LiveJudge, StepFrozenJudge, build_judge


@pytest.fixture
def model():
    return LeaeModel(tiny_config()).train()


@pytest.mark.parametrize("norm_mode", ["batch", "running"])
def test_step_frozen_judge_equals_the_encoder(model, norm_mode):
    images = torch.rand(8, 3, 32, 32)
    judged = StepFrozenJudge(norm_mode)(model.encoder, images)
    with torch.no_grad():
        expected = model.encoder(images, norm_mode=norm_mode)
    assert torch.allclose(judged, expected, atol=1e-6)


@pytest.mark.parametrize("judge", [StepFrozenJudge(), EMAJudge(0.9)], ids=["step-frozen", "ema"])
def test_judge_weights_get_no_gradient_but_the_decoder_does(model, judge):
    images = torch.rand(8, 3, 32, 32)
    reconstruction = model.decoder(model.encoder(images).detach())
    judge(model.encoder, reconstruction).square().mean().backward()
    assert all(p.grad is None for p in model.encoder.parameters()), "the judge must not train the encoder"
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.decoder.parameters())
    assert all(not t.requires_grad for t in judge.state_dict().values())


def test_live_judge_trains_the_encoder(model):
    LiveJudge()(model.encoder, torch.rand(4, 3, 32, 32)).square().mean().backward()
    assert all(p.grad is not None for p in model.encoder.parameters())


def test_judge_does_not_touch_running_statistics(model):
    running_mean = model.encoder.latent_norm.running_mean.clone()
    StepFrozenJudge("batch")(model.encoder, torch.rand(8, 3, 32, 32))
    assert torch.equal(model.encoder.latent_norm.running_mean, running_mean)


def test_batch_statistics_hide_batch_wide_shifts(model):
    """Upstream's judge norm: a shift shared by the whole batch's latents vanishes; running statistics keep it."""
    latents = torch.randn(8, 8, 4, 4)
    shifted = latents + 3.0
    encoder = model.encoder
    assert torch.allclose(encoder.normalize(shifted, "batch"), encoder.normalize(latents, "batch"), atol=1e-4)
    assert not torch.allclose(encoder.normalize(shifted, "running"), encoder.normalize(latents, "running"), atol=1)


def test_ema_update_and_state_dict_round_trip(model):
    judge = EMAJudge(decay=0.5)
    images = torch.rand(4, 3, 32, 32)
    before = judge(model.encoder, images)  # starts at the encoder's weights
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(1.0)
    judge.update(model.encoder)
    weight = judge.state_dict()["averages.backbone__stem__weight"]
    assert torch.allclose(weight, model.encoder.backbone.stem.weight - 0.5)
    restored = EMAJudge(decay=0.5)
    restored.load_state_dict(judge.state_dict())
    assert all(
        torch.equal(a, b) for a, b in zip(judge.state_dict().values(), restored.state_dict().values(), strict=True)
    )
    assert torch.equal(restored(model.encoder, images), judge(model.encoder, images))
    assert not torch.allclose(judge(model.encoder, images), before)


def test_unknown_judge_lists_valid_names():
    with pytest.raises(ValueError, match="Valid judges: live, step-frozen, ema"):
        build_judge("frozen")
    with pytest.raises(ValueError, match="norm_mode must be 'batch' or 'running'"):
        build_judge("live", norm_mode="eval")
