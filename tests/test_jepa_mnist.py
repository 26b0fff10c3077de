"""The MNIST JEPA of the second seed report: the leae-mnist encoder, the digit perturbation and its strength ramp,
one-sided prediction, the phase-2 decoder probe, and the Euclidean k-NN with weighted scores."""

import math

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
    # The seed's Encoder: 3 × (conv 3×3 stride 2, BatchNorm2d, SiLU) with 64/128/256 channels, global average
    # pooling, Linear(256, 128), then LayerNorm(128) twice (one inside its Sequential, one after it).
    model = LeaeModel(LeaeConfig.from_preset("leae-mnist", latent_norm="layernorm", latent_norm_layers=2))
    stages = model.encoder.backbone.stages
    assert [stage[0].out_channels for stage in stages] == [64, 128, 256]
    assert all(stage[0].stride == (2, 2) and stage[0].kernel_size == (3, 3) for stage in stages)
    assert [type(layer).__name__ for layer in stages[0]] == ["Conv2d", "BatchNorm2d", "SiLU"]
    assert (model.encoder.to_latent.in_features, model.encoder.to_latent.out_features) == (256, 128)
    assert [type(layer).__name__ for layer in model.encoder.latent_norm] == ["LayerNorm", "LayerNorm"]
    out = model(torch.rand(3, 1, 28, 28))
    assert out.latents.shape == (3, 128) and out.reconstruction.shape == (3, 1, 28, 28)
    # Each embedding standardised on its own (the layer norms start at unit scale and zero shift).
    torch.testing.assert_close(out.latents.mean(dim=1), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.latents.var(dim=1, unbiased=False), torch.ones(3), atol=1e-3, rtol=0)
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert loaded.config.latent_norm == "layernorm" and loaded.config.latent_norm_layers == 2
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(loaded.encode(x).latents, model.eval().encode(x).latents)


def test_layer_norm_latents_do_not_depend_on_the_batch():
    model = mnist_model(latent_norm="layernorm", latent_norm_layers=2).eval()
    x = torch.rand(4, 1, 28, 28)
    torch.testing.assert_close(model.encoder(x)[:1], model.encoder(x[:1]))
    from leae_hub.judges import build_judge

    conv = LeaeModel(
        LeaeConfig.from_preset(
            "leae-11m",
            image_size=32,
            hidden_channels=8,
            pooled_map_channels=16,
            latent_channels=16,
            latent_norm="layernorm",
        )
    )
    assert build_judge("ema", "batch").batch_independent(conv.encoder)  # judged batches may be concatenated
    assert not build_judge("ema", "batch").batch_independent(model.encoder)  # the plain backbone's batch norms
    with pytest.raises(ValueError, match="needs latent_type='pooled'"):
        LeaeConfig.from_preset("leae-cifar", latent_norm="layernorm")
    with pytest.raises(ValueError, match="latent_norm must be"):
        LeaeConfig.from_preset("leae-mnist", latent_norm="groupnorm")


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


def seed_affine_reference(x: torch.Tensor, u: torch.Tensor, c: float) -> torch.Tensor:
    """The seed's prepare_transforms + grid_sample, written out image by image from its code, with its random draws
    (angle, shift x, shift y, scale, shear) given as u in [-1, 1)."""
    out = []
    side = x.shape[-1]
    for image, (a, tx, ty, s, sh) in zip(x, u.tolist(), strict=True):
        angle = a * c * 30 * math.pi / 180
        shear = sh * c * 15 * math.pi / 180
        scale = 1 / (1 + c * 0.1) + (1 / (1 - c * 0.25) - 1 / (1 + c * 0.1)) * (s + 1) / 2
        theta = torch.tensor(
            [
                [scale * math.cos(angle), -scale * math.sin(angle + shear), tx * c * 0.15 * side / (side - 1)],
                [scale * math.sin(angle), scale * math.cos(angle + shear), ty * c * 0.15 * side / (side - 1)],
            ]
        )
        grid = torch.nn.functional.affine_grid(theta[None], [1, *image.shape], align_corners=True)
        out.append(torch.nn.functional.grid_sample(image[None], grid, padding_mode="zeros", align_corners=True))
    return torch.cat(out)


def test_seed_affine_is_the_seed_scripts_map():
    x = digits(6)
    x[:, :, 10:14, 4:24] = 0.5  # something rotations and shears move
    for strength in (0.0, 0.4, 1.0):
        u = torch.rand((6, 5), generator=torch.Generator().manual_seed(7)) * 2 - 1
        out = V.seed_affine(x, strength, generator=torch.Generator().manual_seed(7))
        torch.testing.assert_close(out, seed_affine_reference(x, u, strength), atol=1e-5, rtol=0)
    torch.testing.assert_close(V.seed_affine(x, 0.0), x, atol=1e-5, rtol=0)  # c = 0 (the seed's first epoch)


def test_skeleton_thins_strokes_to_one_pixel_inside_them():
    pytest.importorskip("skimage")
    x = digits(2)  # a bar 4 px wide and 16 tall
    thin = V.skeleton(x)
    assert set(thin.unique().tolist()) <= {0.0, 1.0}
    assert bool((thin <= (x > 0.5).float()).all())  # inside the stroke
    assert 0 < thin.sum() <= 2 * 16 and bool((thin.sum(dim=3) <= 2).all())  # at most 2 px across a 4-px bar


def test_digit_perturbation_options_follow_the_seeds_code():
    pytest.importorskip("skimage")
    x = digits(64)
    x[:, :, 6:10, 8:20] = 1.0  # a "7": a bar and a top stroke
    candidates = [x, V.skeleton(x), V.dilate(x)]
    candidates += [1 - image for image in candidates]
    # ramp=all at strength 0: no affine map, no noise, no salt-and-pepper: each image is x, its skeleton or its
    # dilation, maybe inverted; skeletons are drawn for about a third of the images.
    out = V.perturb_digits(x, 0.0, torch.Generator().manual_seed(1), ramp="all", erosion="skeleton", affine="seed")
    kinds = [next(k for k, c in enumerate(candidates) if torch.allclose(out[i], c[i], atol=1e-5)) for i in range(64)]
    assert sum(kind % 3 == 1 for kind in kinds) >= 10
    # ramp=affine (the seed's): at strength 0 the affine map is the identity but noise and salt-and-pepper are full.
    seed_like = V.perturb_digits(x, 0.0, torch.Generator().manual_seed(1), ramp="affine", erosion="skeleton")
    noise = min((seed_like - c).abs().mean() for c in candidates)
    assert noise > 0.15  # Gaussian noise of std 0.3 (clamped) and 5 % salt-and-pepper
    with pytest.raises(ValueError, match="erosion"):
        V.perturb_digits(x, 1.0, erosion="opening")


def test_seed_predictor_is_a_plain_silu_mlp():
    recipe = build_recipe("jepa", predictor_hidden=128, predictor_norm="none", predictor_activation="silu")
    predictor = recipe.build_predictor(LeaeModel(LeaeConfig.from_preset("leae-mnist", hidden_channels=8)))
    layers = [type(layer).__name__ for layer in predictor]
    assert layers == ["Flatten", "Linear", "Identity", "SiLU", "Linear", "Unflatten"]
    assert (predictor[1].in_features, predictor[1].out_features, predictor[4].out_features) == (128, 128, 128)
    with pytest.raises(ValueError, match="predictor_norm"):
        build_recipe("jepa", predictor_norm="batchnorm")


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


def test_decoder_probe_perturbs_digits_like_the_seeds_setup():
    """`digit_erosion` and `digit_affine` reach `views.perturb_digits`, as in the `jepa` recipe of the seed's setup."""
    pytest.importorskip("skimage")
    options = {"input_view": "digit-perturbation", "digit_erosion": "skeleton", "digit_affine": "seed"}
    recipe = build_recipe("decoder-probe", **options)
    x = digits(16)
    out = recipe(mnist_model(), {"pixel_values": x}, step=3)
    expected = V.perturb_digits(x, 1.0, recipe.generator(3), erosion="skeleton", affine="seed")
    torch.testing.assert_close(out.images["context_view"], expected)
    lab = V.perturb_digits(x, 1.0, recipe.generator(3))
    assert not torch.allclose(out.images["context_view"], lab)
    with pytest.raises(ValueError, match="digit_erosion must be one of .*got 'opening'"):
        build_recipe("decoder-probe", digit_erosion="opening")
    with pytest.raises(ValueError, match="digit_affine must be one of .*got 'torchvision'"):
        build_recipe("decoder-probe", digit_affine="torchvision")


def test_phase2_rows_use_the_perturbation_options():
    pytest.importorskip("skimage")
    model, x = mnist_model(), digits(8)
    original, perturbed, reconstruction = M.reconstruction_rows(model, x, 1.0, 5, erosion="skeleton", affine="seed")
    expected = V.perturb_digits(x, 1.0, torch.Generator().manual_seed(5), erosion="skeleton", affine="seed")
    torch.testing.assert_close(perturbed, expected)
    assert original is x and reconstruction.shape == x.shape


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


def test_cosine_knn_ignores_the_length_of_embeddings():
    """Two classes along two directions, the class-1 bank points 10x longer: Euclidean k-NN sends the short class-1
    queries to class 0, cosine k-NN (unit-normalised rows) to class 1."""
    bank = torch.tensor([[1.0, 0.1], [1.0, -0.1], [1.0, 0.0], [0.1, 10.0], [-0.1, 10.0], [0.0, 10.0]])
    bank_labels = torch.tensor([0, 0, 0, 1, 1, 1])
    queries, labels = torch.tensor([[0.0, 1.0], [0.05, 1.0]]), torch.tensor([1, 1])
    euclidean = M.knn_scores_of_embeddings(bank, bank_labels, queries, labels, k=3)
    cosine = M.knn_scores_of_embeddings(bank, bank_labels, queries, labels, k=3, distance="cosine")
    assert (euclidean["accuracy"], cosine["accuracy"]) == (0.0, 1.0)
    with pytest.raises(ValueError, match="'manhattan'"):
        M.knn_scores_of_embeddings(bank, bank_labels, queries, labels, distance="manhattan")


@pytest.mark.skipif(
    not (data_dir() / "mnist-full").is_dir(), reason=f"full MNIST not found at {data_dir() / 'mnist-full'}"
)
def test_mnist_full_shortcut_has_all_digits():
    train, test = build_dataset("mnist-full", "train", 28, 1), build_dataset("mnist-full", "test", 28, 1)
    assert (len(train), len(test)) == (60_000, 10_000)
    assert train[0]["pixel_values"].shape == (1, 28, 28)
