"""The MNIST JEPA of the second seed report: the leae-mnist encoder, the digit perturbation and its strength ramp,
one-sided prediction, the phase-2 decoder probe, and the Euclidean k-NN with weighted scores."""

import pytest
import torch
from safetensors.torch import save_file
from transformers import AutoModel

from leae_hub import LeaeConfig, LeaeModel
from leae_hub import views as V
from leae_hub.data import build_dataset, data_dir
from leae_hub.lab import mnist_jepa as M
from leae_hub.recipes import build_recipe

pytestmark = pytest.mark.usefixtures("one_thread")


def mnist_model(**overrides) -> LeaeModel:
    return LeaeModel(LeaeConfig.from_preset("leae-mnist", hidden_channels=8, latent_channels=16, **overrides))


def digits(count: int = 8) -> torch.Tensor:
    images = torch.zeros(count, 1, 28, 28)
    images[:, :, 6:22, 12:16] = 1.0  # a bar, like a "1"
    return images


def test_plain_encoder_matches_the_seed_architecture_and_round_trips(tmp_path):
    model = LeaeModel(LeaeConfig.from_preset("leae-mnist"))
    stages = model.encoder.backbone.stages
    assert [stage[0].out_channels for stage in stages] == [64, 128, 256]
    assert all(stage[0].stride == (2, 2) for stage in stages)
    assert [type(layer).__name__ for layer in stages[0]] == ["Conv2d", "BatchNorm2d", "SiLU"]
    out = model(torch.rand(3, 1, 28, 28))
    assert out.latents.shape == (3, 128) and out.reconstruction.shape == (3, 1, 28, 28)
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(loaded.encode(x).latents, model.eval().encode(x).latents)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"latent_type": "spatial"}, "needs latent_type='pooled'"),
        ({"image_size": 30}, "divisible by 4"),
        ({"encoder_backbone": "resnet18"}, "takes no encoder_backbone"),
        ({"encoder_type": "deep"}, "encoder_type must be"),
    ],
)
def test_plain_encoder_rejects_layouts_it_cannot_build(overrides, message):
    with pytest.raises(ValueError, match=message):
        LeaeConfig.from_preset("leae-mnist", **overrides)


def test_salt_and_pepper_hits_the_requested_fraction_with_black_and_white():
    x = torch.full((4, 1, 64, 64), 0.5)
    out = V.salt_and_pepper(x, amount=0.1, generator=torch.Generator().manual_seed(0))
    hit = out != 0.5
    assert abs(hit.float().mean().item() - 0.1) < 0.01
    assert set(out[hit].unique().tolist()) == {0.0, 1.0}


def test_digit_perturbation_is_seeded_bounded_and_grows_with_strength():
    x = digits()
    first = V.perturb_digits(x, 1.0, generator=torch.Generator().manual_seed(3))
    again = V.perturb_digits(x, 1.0, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(first, again)
    assert first.shape == x.shape and first.min() >= 0 and first.max() <= 1

    def change(strength: float) -> float:
        out = V.perturb_digits(x, strength, generator=torch.Generator().manual_seed(3))
        # Inversion (p = 1/2) does not depend on the strength: compare each image with x or 1 − x, whichever is closer.
        return torch.minimum((out - x).abs().mean(dim=(1, 2, 3)), (out - (1 - x)).abs().mean(dim=(1, 2, 3))).mean()

    assert change(0.1) < change(1.0)
    with pytest.raises(ValueError, match="strength"):
        V.perturb_digits(x, 1.5)


def test_one_sided_jepa_predicts_the_clean_digit_and_ramps_the_strength():
    recipe = build_recipe(
        "jepa",
        augmentations=["digit-perturbation"],
        augment_probability=1.0,
        augment_strength_start=0.2,
        target_view="clean",
        regularizer="none",
        ema_decay=0.999,
        ema_schedule="constant",
        total_steps=100,
    )
    model = mnist_model()
    x = digits()
    out = recipe(model, {"pixel_values": x}, step=50)
    assert torch.equal(out.images["target_view"], x)
    assert not torch.equal(out.images["context_view"], x)
    assert out.logs["augment_strength"] == pytest.approx(0.6)
    assert recipe.augment_strength(0) == pytest.approx(0.2) and recipe.augment_strength(100) == 1.0
    out.loss.backward()
    recipe.update(model, 50)
    assert recipe.teacher.decay == 0.999  # constant: no cosine rise towards 1


def test_jepa_rejects_unknown_target_views_and_strengths():
    with pytest.raises(ValueError, match="target_view"):
        build_recipe("jepa", target_view="noisy")
    with pytest.raises(ValueError, match="ema_schedule"):
        build_recipe("jepa", ema_schedule="linear")
    with pytest.raises(ValueError, match="augment_strength_start"):
        build_recipe("jepa", augment_strength_start=-0.1)


def test_one_sided_jepa_training_lowers_the_loss():
    torch.manual_seed(0)
    model = mnist_model()
    recipe = build_recipe(
        "jepa", augmentations=["digit-perturbation"], augment_probability=1.0, target_view="clean",
        regularizer="none", ema_schedule="constant", ema_decay=0.9, augment_strength_start=0.3,
    )  # fmt: skip
    optimizer = torch.optim.AdamW([*recipe.trainable_parameters(model)], lr=3e-3)
    x = torch.rand(16, 1, 28, 28).round()
    losses = []
    for step in range(30):
        out = recipe(model, {"pixel_values": x}, step=step)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        recipe.update(model, step)
        losses.append(out.logs["prediction"])
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5


def test_decoder_probe_restores_clean_digits_from_perturbed_ones():
    recipe = build_recipe("decoder-probe", input_view="digit-perturbation", perturbation_strength=1.0)
    model = mnist_model()
    x = digits()
    out = recipe(model, {"pixel_values": x}, step=0)
    assert not torch.equal(out.images["context_view"], x)
    torch.testing.assert_close(out.loss, torch.nn.functional.mse_loss(out.images["reconstruction"], x))
    assert {id(p) for p in recipe.trainable_parameters(model)} == {id(p) for p in model.decoder.parameters()}
    with pytest.raises(ValueError, match="input_view"):
        build_recipe("decoder-probe", input_view="masked")


def test_knn_predict_votes_by_euclidean_distance_and_breaks_ties_to_the_smaller_label():
    bank = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0], [9.0, 9.0]])
    labels = torch.tensor([1, 1, 0, 0, 2])
    queries = torch.tensor([[0.05, 0.0], [5.0, 5.1], [2.5, 2.5]])
    assert M.knn_predict(bank, labels, queries, k=1).tolist() == [1, 0, 1]
    # k = 4 at (2.5, 2.5): two 1s and two 0s, a tie that goes to label 0.
    assert M.knn_predict(bank, labels, queries[2:], k=4).tolist() == [0]
    with pytest.raises(ValueError, match="k must lie"):
        M.knn_predict(bank, labels, queries, k=6)


def test_weighted_scores_match_a_hand_computed_confusion_matrix():
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    predictions = torch.tensor([0, 0, 1, 1, 2, 2])
    scores = M.weighted_scores(labels, predictions)
    # class 0: P 1, R 2/3; class 1: P 1/2, R 1/2; class 2: P 1/2, R 1; supports 3, 2, 1.
    precision = (3 * 1 + 2 * 0.5 + 1 * 0.5) / 6
    recall = (3 * 2 / 3 + 2 * 0.5 + 1 * 1) / 6
    f1 = (3 * 0.8 + 2 * 0.5 + 1 * (2 / 3)) / 6
    assert scores == pytest.approx({"accuracy": 4 / 6, "precision": precision, "recall": recall, "f1": f1})
    assert scores["recall"] == pytest.approx(scores["accuracy"])


def test_encoder_from_checkpoint_reads_the_wrapped_model(tmp_path):
    model = mnist_model()
    save_file({f"model.{k}": v.contiguous() for k, v in model.state_dict().items()}, tmp_path / "model.safetensors")
    loaded = M.encoder_from_checkpoint(tmp_path, model.config).eval()
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(loaded.encode(x).latents, model.eval().encode(x).latents)
    save_file({"other.weight": torch.zeros(1)}, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match="no `model"):
        M.encoder_from_checkpoint(tmp_path, model.config)


def test_raw_pixel_knn_separates_two_shapes():
    bank = torch.cat([digits(6), 1 - digits(6)]) + 0.01 * torch.rand(12, 1, 28, 28)
    labels = torch.tensor([0] * 6 + [1] * 6)
    scores = M.knn_scores(None, (bank, labels), (bank[[0, 7]], labels[[0, 7]]), k=3)
    assert scores["accuracy"] == 1.0 and scores["dim"] == 28 * 28


@pytest.mark.skipif(
    not (data_dir() / "mnist-full").is_dir(), reason=f"full MNIST not found at {data_dir() / 'mnist-full'}"
)
def test_mnist_full_shortcut_has_all_digits():
    train, test = build_dataset("mnist-full", "train", 28, 1), build_dataset("mnist-full", "test", 28, 1)
    assert (len(train), len(test)) == (60_000, 10_000)
    assert train[0]["pixel_values"].shape == (1, 28, 28)
