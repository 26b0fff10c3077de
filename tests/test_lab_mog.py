"""The 2-D mixture lab (leae_hub.lab.mog): the mixture, its exact score, every objective, and the measurements."""

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from leae_hub.judges import ema_update
from leae_hub.lab import mog

pytestmark = pytest.mark.usefixtures("one_thread")


def test_mixture_matches_the_seed_spec():
    mixture = mog.GaussianMixture()
    x, labels = mixture.sample(200_000, torch.Generator().manual_seed(0))
    assert x.shape == (200_000, 2) and x.dtype == torch.float32 and labels.shape == (200_000,)
    weights = torch.tensor(mog.WEIGHTS)
    assert torch.allclose(torch.bincount(labels).float() / len(labels), weights, atol=5e-3)
    for k, (mean, cov) in enumerate(zip(mog.MEANS, mog.COVARIANCES, strict=True)):
        part = x[labels == k].double()
        assert torch.allclose(part.mean(0), torch.tensor(mean, dtype=torch.float64), atol=0.02)
        assert torch.allclose(torch.cov(part.T), torch.tensor(cov, dtype=torch.float64), atol=0.02)
    means = torch.tensor(mog.MEANS, dtype=torch.float64)
    covs = torch.tensor(mog.COVARIANCES, dtype=torch.float64)
    mixture_mean = (weights.double()[:, None] * means).sum(0)
    second = (weights.double()[:, None, None] * (covs + means[:, :, None] * means[:, None, :])).sum(0)
    assert torch.allclose(x.double().mean(0), mixture_mean, atol=0.03)
    assert torch.allclose(torch.cov(x.double().T), second - torch.outer(mixture_mean, mixture_mean), atol=0.1)


def test_log_prob_integrates_to_one_and_smoothing_widens():
    mixture = mog.GaussianMixture()
    xs, ys = torch.linspace(-15, 15, 601), torch.linspace(-12, 20, 641)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="ij"), dim=-1).reshape(-1, 2)
    cell = (xs[1] - xs[0]) * (ys[1] - ys[0])
    for sigma in (0.0, 1.0):
        assert float(mixture.log_prob(grid, sigma).exp().sum() * cell) == pytest.approx(1.0, abs=1e-3)
    plain, _ = mixture.sample(50_000, torch.Generator().manual_seed(1))
    smoothed, _ = mixture.sample(50_000, torch.Generator().manual_seed(1), sigma=1.0)
    cov_plain, cov_smoothed = torch.cov(plain.double().T), torch.cov(smoothed.double().T)
    assert torch.allclose(cov_smoothed, cov_plain + torch.eye(2, dtype=torch.float64), atol=0.15)


@pytest.mark.parametrize("sigma", [0.0, 1.0])
def test_exact_score_matches_finite_differences(sigma):
    mixture = mog.GaussianMixture()
    x = torch.tensor([[0.3, -0.2], [5.0, 4.0], [-4.0, 6.5], [2.5, 2.5], [-9.0, 14.0]], dtype=torch.float64)
    h = 1e-5
    fd = torch.stack(
        [
            (mixture.log_prob(x + h * e, sigma) - mixture.log_prob(x - h * e, sigma)) / (2 * h)
            for e in torch.eye(2, dtype=torch.float64)
        ],
        dim=1,
    )
    assert torch.allclose(mixture.score(x, sigma), fd, rtol=1e-6, atol=1e-6)


def test_marginal_posterior_matches_the_one_dimensional_mixture():
    mixture = mog.GaussianMixture()
    values = torch.tensor([-5.0, 0.0, 3.0])
    post = mixture.marginal_posterior(values, 0)
    var = torch.tensor([c[0][0] for c in mog.COVARIANCES], dtype=torch.float64)
    mean = torch.tensor([m[0] for m in mog.MEANS], dtype=torch.float64)
    lik = (
        torch.tensor(mog.WEIGHTS, dtype=torch.float64)
        * torch.exp(-((values[:, None].double() - mean) ** 2) / (2 * var))
        / torch.sqrt(2 * math.pi * var)
    )
    assert torch.allclose(post, lik / lik.sum(1, keepdim=True))


def test_dsm_loss_is_minimised_by_the_true_smoothed_score():
    # Data N(0, I) smoothed by σ = 1 is N(0, 2I) with score −x/2: among scores −c·x, DSM is lowest at c = 1/2.
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200_000, 2, generator=g)
    noise = torch.randn(200_000, 2, generator=g)

    def loss_for(scale: float) -> float:
        return mog.dsm_loss(lambda z: -0.5 * scale * z.pow(2).sum(1), x, noise, 1.0).item()

    assert loss_for(0.5) < loss_for(0.4) and loss_for(0.5) < loss_for(0.6)


@pytest.mark.parametrize("name", mog.METHODS)
def test_every_objective_decreases_and_has_the_right_shapes(name):
    run = mog.train(name, seed=0, steps=60)
    assert len(run.losses) == 60 and all(math.isfinite(v) for v in run.losses)
    assert sum(run.losses[-10:]) / 10 < sum(run.losses[:10]) / 10
    x = torch.randn(7, 2)
    with torch.no_grad():
        z = run.model.embed(x)
        width = 128 if isinstance(run.model, mog.EnergyMethod) else 64 if name in mog.SEED_EXACT else 4
        assert z.shape == (7, width)
        assert run.model.masked_embed(x, 0).shape == z.shape
        assert run.model.landscape(x, torch.zeros(2)).shape == (7,)
    if isinstance(run.model, mog.EnergyMethod):
        assert run.model.score(x).shape == (7, 2)


def test_seed_barlow_twins_loss_is_the_scripts_formula():
    z1, z2 = torch.randn(16, 5, generator=torch.Generator().manual_seed(0)), torch.randn(16, 5)
    n1 = (z1 - z1.mean(0)) / z1.std(0, unbiased=True)
    n2 = (z2 - z2.mean(0)) / z2.std(0, unbiased=True)
    c = n1.T @ n2 / 16
    expected = sum((c[i, i] - 1) ** 2 for i in range(5)) + 5e-3 * sum(
        c[i, j] ** 2 for i in range(5) for j in range(5) if i != j
    )
    assert float(mog.barlow_twins_loss(z1, z2)) == pytest.approx(float(expected), rel=1e-5)
    # Each dimension is standardised first: scaling and shifting the embedding changes nothing.
    assert float(mog.barlow_twins_loss(3 * z1 + 1, z2)) == pytest.approx(float(expected), rel=1e-4)


def test_seed_masked_pairwise_compares_every_prediction_with_every_full_point_target():
    model = mog.SeedMaskedPairwise()
    assert model.noise_std == 0.0 and model.decay == 0.99
    x = torch.tensor([[1.0, 2.0], [-3.0, 4.0], [0.5, -0.5]])
    generator = torch.Generator().manual_seed(0)
    coord = int(torch.randint(0, 2, (1,), generator=torch.Generator().manual_seed(0)))
    with torch.no_grad():
        predicted = torch.nn.functional.normalize(model.predictor(model.encoder(mog.mask_coordinate(x, coord))), dim=1)
        target = torch.nn.functional.normalize(model.target(x), dim=1)  # the whole point, nothing masked
        expected = torch.stack([(p - t).pow(2).sum() for p in predicted for t in target]).mean()
        assert float(model.loss(x, generator)) == pytest.approx(float(expected), rel=1e-6)


def test_the_default_sweep_is_the_like_for_like_set():
    assert mog.MogSweep().methods == mog.LIKE_FOR_LIKE == mog.METHODS[:7]
    assert set(mog.SEED_EXACT) == {"seed-masked-pairwise", "seed-barlow-twins"}


@pytest.mark.parametrize("name", ["dsm", "jepa-ema"])
def test_same_seed_is_bit_identical(name):
    a, b = mog.train(name, seed=3, steps=20), mog.train(name, seed=3, steps=20)
    assert a.losses == b.losses
    for pa, pb in zip(a.model.state_dict().values(), b.model.state_dict().values(), strict=True):
        assert torch.equal(pa, pb)
    assert mog.train(name, seed=4, steps=20).losses != a.losses


def test_ema_update_roundings_agree_and_weighted_sum_is_the_scripts_update():
    """The one EMA update: θ̄ ← d·θ̄ + (1 − d)·θ; `weighted_sum` is the tutorial scripts' mul_/add_ bit for bit, the
    default `lerp_` the same average rounded differently; buffers are not touched."""
    torch.manual_seed(0)
    online, target = torch.nn.BatchNorm1d(5), torch.nn.BatchNorm1d(5)
    for module in (online, target):
        torch.nn.init.normal_(module.weight)
        torch.nn.init.normal_(module.bias)
    online.running_mean.fill_(3.0)
    expected = [t.detach().clone().mul_(0.99).add_(o.detach(), alpha=1 - 0.99) for t, o in zip(
        target.parameters(), online.parameters(), strict=True)]  # fmt: skip
    lerped = [t.detach().clone() for t in target.parameters()]
    ema_update(lerped, online, 0.99)
    ema_update(target, online, 0.99, weighted_sum=True)
    for got, want, other in zip(target.parameters(), expected, lerped, strict=True):
        assert torch.equal(got, want)
        torch.testing.assert_close(other, want)
    assert torch.equal(target.running_mean, torch.zeros(5))


def test_dsm_score_sign_convention():
    # U = −f and s = −∇U = +∇f: for f(x) = −‖x‖²/2 the score is −x and the energy is low at the origin.
    model = mog.DenoisingScoreMatching()
    with torch.no_grad():
        model.net[-1].weight.zero_()
        model.net[-1].bias.zero_()
    x = torch.randn(5, 2)
    assert torch.equal(model.score(x), torch.zeros(5, 2))
    model.output = lambda z: -0.5 * z.pow(2).sum(1)
    assert torch.allclose(model.score(x), -x)
    assert float(model.energy(torch.zeros(1, 2))) < float(model.energy(torch.ones(1, 2)))


def test_langevin_with_the_exact_score_samples_a_gaussian():
    mixture = mog.GaussianMixture(weights=(1.0,), means=((1.0, -2.0),), covariances=(((1.0, 0.5), (0.5, 1.0)),))
    g = torch.Generator().manual_seed(0)
    samples, frames = mog.langevin(lambda x: mixture.score(x), torch.zeros(4000, 2), 0.05, 400, g, keep_every=100)
    assert len(frames) == 5
    assert torch.allclose(samples.mean(0), torch.tensor([1.0, -2.0]), atol=0.08)
    assert torch.allclose(torch.cov(samples.T), torch.tensor([[1.0, 0.5], [0.5, 1.0]]), atol=0.1)


def test_mmd_is_near_zero_for_the_same_distribution_and_positive_otherwise():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(800, 2, generator=g), torch.randn(800, 2, generator=g)
    assert abs(mog.mmd_rbf(a, b)) < 0.01
    assert mog.mmd_rbf(a, b + 1.0) > 0.1


def test_collapse_metrics_separate_collapsed_from_spread_embeddings():
    labels = torch.arange(300) % 3
    spread = torch.nn.functional.one_hot(labels, 4).float() + 0.05 * torch.randn(300, 4)
    assert mog.cosine_gap(spread, labels) > 0.8
    assert mog.cosine_gap(torch.ones(300, 4), labels) == pytest.approx(0.0, abs=1e-9)


def test_evaluate_reports_every_number():
    run = mog.train("dsm", seed=0, steps=30)
    metrics = mog.evaluate(run, num_test=300, langevin_steps=20)
    for key in (
        "emb_std",
        "rankme",
        "knn",
        "cos_gap",
        "masked_knn",
        "score_rel_err_smoothed",
        "mmd_samples",
        "mmd_reference",
    ):
        assert math.isfinite(metrics[key])
    assert metrics["bayes_acc"] > 0.98 and 0.8 < metrics["bayes_masked_acc"] < 0.95


def test_train_steps_yields_the_run_as_it_trains_and_matches_train():
    seen = [(len(run.losses), run.seconds) for run in mog.train_steps("jepa", seed=5, steps=25, every=10)]
    assert [count for count, _ in seen] == [10, 20, 25]  # every 10 steps, and the last step
    assert all(seconds > 0 for _, seconds in seen) and seen[0][1] < seen[-1][1]
    *_, streamed = mog.train_steps("jepa", seed=5, steps=25, every=3)
    whole = mog.train("jepa", seed=5, steps=25)
    assert streamed.losses == whole.losses  # yielding does not change the training
    for a, b in zip(streamed.model.state_dict().values(), whole.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match=r"steps \(0\) and every \(1\) must be at least 1"):
        next(mog.train_steps("jepa", steps=0))
    with pytest.raises(ValueError, match="unknown method 'jepa2'; choose from energy"):
        mog.train("jepa2")


def test_embedding_stats_see_collapse():
    run = mog.train("jepa", seed=0, steps=5)
    spread = mog.embedding_stats(run.model, run.data[:500])
    assert 0 < spread["emb_std"] <= 1 and 1 <= spread["rankme"] <= 4
    with torch.no_grad():
        run.model.encoder[-1].weight.zero_()  # a constant embedding: the bias alone
    collapsed = mog.embedding_stats(run.model, run.data[:500])
    assert collapsed["emb_std"] == pytest.approx(0.0, abs=1e-6) and collapsed["rankme"] < spread["rankme"]
    assert run.model.training  # its mode is left as it was


def test_landscape_image_needs_no_matplotlib(monkeypatch):
    from leae_hub.lab import plots

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    energy, jepa = mog.train("energy", seed=0, steps=20), mog.train("jepa-masked", seed=0, steps=20)
    one = plots.landscape_image(energy.model, energy.data, "energy", resolution=40)
    three = plots.landscape_image(jepa.model, jepa.data, "jepa-masked", resolution=40)
    title = plots.TITLE_HEIGHT
    assert one.size == (40, 40 + 2 * title) and three.size == (3 * 40 + 2 * 6, 40 + 2 * title)
    pixels = np.asarray(three.convert("RGB"))[2 * title :]
    panels = [pixels[:, i * 46 : i * 46 + 40] for i in range(3)]
    assert all(panel.std() > 10 for panel in panels)  # each panel is coloured over its own range
    assert not np.array_equal(panels[0], panels[1])  # a different reference point, a different landscape
    enlarged = plots.landscape_image(energy.model, energy.data, "energy", resolution=40, size=90)
    assert enlarged.size == (90, 90 + 2 * title)  # evaluated on 40², drawn at 90 px
    with pytest.raises(ImportError):
        plots.save_landscape_png(energy.model, energy.data, Path("unused.png"), "needs matplotlib")


def test_colorize_follows_matplotlibs_inferno():
    from leae_hub.lab import plots

    matplotlib = pytest.importorskip("matplotlib")
    levels = np.linspace(0, 1, 256)
    expected = matplotlib.colormaps["inferno"](levels)[:, :3] * 255
    got = plots.colorize(levels * 4 - 2, -2.0, 2.0).astype(float)
    assert np.abs(got - expected).max() < 8
    assert plots.colorize(np.array([-5.0, 5.0]), 0.0, 1.0).tolist() == [list(plots.INFERNO[0]), list(plots.INFERNO[-1])]
    assert plots.colorize(np.zeros(3), 1.0, 1.0).shape == (3, 3)  # a flat landscape does not divide by zero
