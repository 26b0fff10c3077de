import copy
import math
from typing import Any

import pytest
import torch
from conftest import tiny_config

from leae_hub import LeaeModel
from leae_hub.data import build_dataset
from leae_hub.recipes import RECIPES, RUN_ARGUMENTS, JudgedRecipe, Recipe, Stage, build_recipe, register_recipe
from leae_hub.views import inpainting_view

# What one optimiser step must move, per recipe.
MOVES = {
    "self-teaching": {"encoder", "decoder"},
    "masked": {"encoder", "decoder"},
    "baseline": {"encoder", "decoder"},
    "jepa": {"encoder", "predictor"},
    "decoder-probe": {"decoder"},
}
VARIANTS = [
    ("self-teaching", {}),
    ("self-teaching", {"views": ("crop", "pixel-mask", "patch-mask", "detail", "plain"), "num_crops": 2}),
    ("self-teaching", {"judge": "ema", "judge_norm": "running"}),
    ("self-teaching", {"judge": "live"}),
    ("masked", {}),
    ("masked", {"judge_norm": "running", "crop_size": 16}),
    ("baseline", {}),
    ("baseline", {"clean_inputs": True, "hole_ratio": 0.35}),
    ("jepa", {}),
    ("jepa", {"target": "stop-grad", "regularizer": "coding-rate", "prediction_loss": "mse"}),
    ("jepa", {"regularizer": "vicreg", "predictor": "conv", "augmentations": ("crop", "inpaint", "affine")}),
    ("decoder-probe", {}),
]


@pytest.fixture(scope="module")
def batch():
    dataset = build_dataset("synthetic-shapes", image_size=32)
    return {"pixel_values": torch.stack([dataset[i]["pixel_values"] for i in range(16)])}


def _snapshot(model, recipe):
    state = {f"model.{k}": v.clone() for k, v in model.state_dict().items()}
    state.update({f"recipe.{k}": v.clone() for k, v in recipe.state_dict().items()})
    return state


def _group(key):
    if key.startswith("recipe.predictor"):
        return "predictor"
    if key.startswith("recipe."):
        return "recipe-state"
    return key.split(".")[1]  # model.encoder... / model.decoder...


@pytest.mark.parametrize(("name", "options"), VARIANTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(VARIANTS)])
def test_one_step_moves_exactly_what_it_should(batch, name, options):
    model = LeaeModel(tiny_config()).train()
    recipe = build_recipe(name, **options)
    optimizer = torch.optim.AdamW(recipe.trainable_parameters(model), lr=1e-3)
    before = _snapshot(model, recipe)
    out = recipe(model, batch, step=0)
    assert out.loss.ndim == 0 and math.isfinite(out.loss.item())
    assert out.logs["loss"] == pytest.approx(out.loss.item())
    assert all(math.isfinite(value) for value in out.logs.values())
    assert "input" in out.images and all(not image.requires_grad for image in out.images.values())
    optimizer.zero_grad()
    out.loss.backward()
    optimizer.step()
    after = _snapshot(model, recipe)
    moved_parameters = {
        _group(key)
        for key, value in after.items()
        if key in before and not torch.equal(before[key], value) and "running" not in key and "num_batches" not in key
    }
    assert moved_parameters == MOVES[name]
    if name == "decoder-probe":  # frozen encoder: not even its batch-norm statistics move
        assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("model.encoder"))
    # Judge / teacher state is never touched by the optimiser, only by update().
    assert all(torch.equal(before[k], after[k]) for k in before if _group(k) == "recipe-state")


def _fixed_draw_loss(model, recipe, batch) -> float:
    """The objective on `batch` at five fixed steps (so fixed views, masks and augmentations), without training."""
    with torch.no_grad():
        return sum(recipe(model, batch, step=10_000 + i).loss.item() for i in range(5)) / 5


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RECIPES))
def test_fifty_steps_lower_the_loss(batch, name):
    torch.manual_seed(0)
    model = LeaeModel(tiny_config()).train()
    recipe = build_recipe(name)
    optimizer = torch.optim.AdamW(recipe.trainable_parameters(model), lr=3e-3)
    first = _fixed_draw_loss(model, recipe, batch)
    for step in range(50):
        out = recipe(model, batch, step)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        recipe.update(model, step)
    last = _fixed_draw_loss(model, recipe, batch)
    assert last < 0.9 * first, f"{name}: {first:.4f} -> {last:.4f}"


def test_steps_are_reproducible(batch):
    """Views, masks and SIGReg directions come from (seed, step): the same step gives the same loss."""
    model = LeaeModel(tiny_config()).train()
    recipe = build_recipe("masked", seed=3)
    with torch.no_grad():
        model.eval()  # running statistics stay put between the calls
        first = recipe(model, batch, step=7).loss
        second = recipe(model, batch, step=7).loss
        other = recipe(model, batch, step=8).loss
    assert torch.equal(first, second) and not torch.equal(first, other)


@pytest.mark.parametrize("name", ["masked", "baseline"])
def test_random_holes_reach_the_masked_input(name, batch):
    """`hole_shape=random` cuts `random_hole_mask` holes drawn from the step's generator (rectangles of random size or
    brush strokes), filled with the image mean; a bad hole option fails when the recipe is built, naming the option."""
    model = LeaeModel(tiny_config()).eval()
    recipe = build_recipe(name, hole_shape="random", hole_ratio=0.45)
    with torch.no_grad():
        out = recipe(model, batch, step=4)
    x = batch["pixel_values"]
    expected, _ = inpainting_view(x, 0.45, "image-mean", recipe.generator(4), "random")
    torch.testing.assert_close(out.images["masked_input"], expected)
    assert not torch.equal(expected, inpainting_view(x, 0.45, "image-mean", recipe.generator(4))[0])  # not squares
    with pytest.raises(ValueError, match="hole_shape must be 'square' or 'random', got 'circle'"):
        build_recipe(name, hole_shape="circle")
    with pytest.raises(ValueError, match="hole_ratio"):
        build_recipe(name, hole_shape="random", hole_ratio=0.01)


@pytest.mark.slow
def test_batched_judge_calls_match_separate_ones(batch):
    """With running-statistics judges, judge calls are concatenated; the loss must equal the unbatched math."""
    model = LeaeModel(tiny_config()).eval()  # no running-statistics update between the two calls
    recipe = build_recipe("masked", judge_norm="running")
    batched = recipe(model, batch, step=1).loss
    recipe.judge.batch_independent = lambda encoder: False
    separate = recipe(model, batch, step=1).loss
    assert torch.allclose(batched, separate, rtol=1e-5)


@pytest.mark.slow
def test_no_recipe_copies_the_model_per_step(batch, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("recipes must not copy the model or reload its state every step")

    model = LeaeModel(tiny_config()).train()
    recipes = [build_recipe(name) for name in RECIPES] + [build_recipe("self-teaching", judge="ema")]
    for recipe in recipes:
        recipe(model, batch, step=0)  # lazily built state (EMA, predictor) is created once, outside the check
    monkeypatch.setattr(copy, "deepcopy", forbidden)
    monkeypatch.setattr(torch.nn.Module, "load_state_dict", forbidden)
    for recipe in recipes:
        for step in range(1, 3):
            recipe(model, batch, step).loss.backward()
            recipe.update(model, step)


def test_unknown_recipe_and_option():
    with pytest.raises(ValueError, match="Valid recipes: baseline, decoder-probe, jepa, masked, self-teaching"):
        build_recipe("mae")
    with pytest.raises(ValueError, match=r"Unknown option\(s\) \['crop'\] for recipe 'masked'"):
        build_recipe("masked", crop=0.2)
    with pytest.raises(ValueError, match="views must be a non-empty subset"):
        build_recipe("self-teaching", views=("rotate",))


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_option_is_typed_defaulted_and_documented(name):
    """Options are the constructor's keyword arguments; the training script's flags and help come from them."""
    for option in RECIPES[name].options():
        assert option.name not in RUN_ARGUMENTS
        assert option.help, f"{name}: document {option.name!r} in the class docstring's Args: section"
    build_recipe(name, **{option.name: option.default for option in RECIPES[name].options()})


def test_registration_needs_a_free_name_and_typed_options():
    class Taken(Recipe):
        name = "masked"

    with pytest.raises(ValueError, match="'masked' is already taken by leae_hub.recipes.masked.MaskedRecipe"):
        register_recipe(Taken)

    class Untyped(Recipe):
        name = "untyped-test"

        def __init__(self, strength=1.0, seed: int = 0):
            super().__init__(seed)

    with pytest.raises(TypeError, match="Option 'strength' of recipe 'untyped-test' needs a type annotation"):
        register_recipe(Untyped)
    assert "untyped-test" not in RECIPES


def test_options_follow_kwargs_into_the_parent_constructor():
    """A recipe that passes `**kwargs` on lists its own options, then its parent's, each once; its docstring wins."""

    class Child(JudgedRecipe):
        """A test recipe.

        Args:
            strength: how strong.
            crop_ratio: the child's own word on the crop.
        """

        name = "kwargs-test"

        def __init__(self, strength: float = 1.0, crop_ratio: float = 0.3, **kwargs: Any):
            super().__init__(crop_ratio=crop_ratio, **kwargs)

    names = [option.name for option in Child.options()]
    assert names[:2] == ["strength", "crop_ratio"]
    assert names[2:] == [option.name for option in JudgedRecipe.options() if option.name != "crop_ratio"]
    helps = {option.name: option.help for option in Child.options()}
    assert helps["crop_ratio"] == "the child's own word on the crop."
    assert helps["judge_norm"].startswith("the judge's batch norms")
    assert Child.options()[1].default == 0.3 and Child.run_arguments() == {"seed"}
    recipe = Child(strength=2.0, judge="ema", seed=3)
    assert (recipe.crop_ratio, recipe.seed, recipe.judge.kind) == (0.3, 3, "ema")
    # The shipped recipes get their judge options this way, documented and defaulted like their own.
    for name in ("self-teaching", "masked"):
        assert {option.name for option in JudgedRecipe.options()} <= {option.name for option in RECIPES[name].options()}

    class Starred(Recipe):
        name = "starred-test"

        def __init__(self, *sizes: int, seed: int = 0):
            super().__init__(seed)

    with pytest.raises(TypeError, match=r"takes \*sizes; declare each option by name"):
        register_recipe(Starred)


def test_jepa_declares_its_decoder_probe_stage():
    assert RECIPES["jepa"].stages({"target": "ema"}) == [Stage("jepa", {"target": "ema"})]
    assert RECIPES["jepa"].stages({"target": "ema", "decoder_probe_steps": 30}) == [
        Stage("jepa", {"target": "ema", "decoder_probe_steps": 0}, output_subdir="jepa"),
        Stage("decoder-probe", max_steps=30, init_from_previous=True),
    ]
    with pytest.raises(ValueError, match="decoder_probe_steps must be 0 .* got -1"):
        build_recipe("jepa", decoder_probe_steps=-1)


def test_jepa_coding_rate_is_the_seed_authors_by_default_and_the_raw_rate_on_request():
    from leae_hub.regularizers import coding_rate

    z = torch.randn(16, 2, 4, 4, generator=torch.Generator().manual_seed(0)) + 3.0  # off-centre codes
    flat = z.flatten(1)
    default = build_recipe("jepa", regularizer="coding-rate")
    raw = build_recipe("jepa", regularizer="coding-rate", coding_rate_center=False, coding_rate_eps=0.0)
    centred = flat - flat.mean(dim=0)
    expected = torch.logdet((1 + 1e-4) * torch.eye(32) + centred.T @ centred / 16)  # log det(I + C + εI)
    assert float(-default._regularize(z, step=0)) == pytest.approx(float(expected), rel=1e-5)
    assert torch.equal(raw._regularize(z, step=0), -coding_rate(flat, 1.0))
    with pytest.raises(ValueError, match="coding_rate_eps"):
        build_recipe("jepa", regularizer="coding-rate", coding_rate_eps=-1.0)
