"""The noisy-TV lab (leae_hub.lab.noisy_tv): the environment, the losses, the five linear models and the readout."""

import cmath
import math
import sys

import numpy as np
import pytest
import torch

from leae_hub.lab import noisy_tv as tv
from leae_hub.lab.common import r2_score

pytestmark = pytest.mark.usefixtures("one_thread")


def test_rotation_matrix_spectrum():
    omega = 0.1 * math.pi
    R = tv.rotation_matrix(4, omega)
    assert torch.allclose(R @ R.T, torch.eye(4), atol=1e-6)
    eig = torch.linalg.eigvals(R.double())
    expected = torch.tensor([cmath.exp(1j * omega)] * 2 + [cmath.exp(-1j * omega)] * 2)
    assert torch.allclose(eig.abs(), torch.ones(4, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(torch.sort(eig.angle()).values, torch.sort(expected.angle()).values.double(), atol=1e-6)
    A = tv.NoisyTVConfig().a_scale * R
    assert float(torch.linalg.eigvals(A).abs().max()) == pytest.approx(0.99, abs=1e-6)
    with pytest.raises(ValueError, match="even"):
        tv.rotation_matrix(3, omega)


def test_rollout_follows_the_equations():
    config = tv.NoisyTVConfig()
    env = tv.rollout(4.0, seed=0)
    steps = config.train_steps + config.test_steps
    assert env.x.shape == (steps, 20) and env.s.shape == (steps, 4) and env.d.shape == (steps, 4)
    assert torch.allclose(env.C.norm(dim=0), torch.ones(4)) and torch.allclose(env.D.norm(dim=0), torch.ones(4))
    w = env.s[1:] - env.s[:-1] @ env.A.T
    v = env.d[1:] - config.distractor_decay * env.d[:-1]
    eps = env.x - env.s @ env.C.T - 4.0 * env.d @ env.D.T
    assert w.std().item() == pytest.approx(config.w_std, rel=0.05)
    assert v.std().item() == pytest.approx(config.v_std, rel=0.05)
    assert eps.std().item() == pytest.approx(config.eps_std, rel=0.05)
    # The stationary signal variance w²/(1 − a²) per coordinate, 0.01 / 0.0199 ≈ 0.50.
    assert env.s[1000:].var().item() == pytest.approx(config.w_std**2 / (1 - config.a_scale**2), rel=0.2)


def test_sigma_changes_only_the_distractor_and_seeds_reproduce():
    a, b = tv.rollout(0.0, seed=1), tv.rollout(8.0, seed=1)
    assert torch.equal(a.s, b.s) and torch.equal(a.d, b.d) and torch.equal(a.x_signal, b.x_signal)
    assert a.snr_db > 25 > 0 > -15 > b.snr_db
    assert torch.equal(tv.rollout(8.0, seed=1).x, b.x)
    assert not torch.equal(tv.rollout(8.0, seed=2).x, b.x)


def test_gaussian_kl_and_nll():
    mu, logvar = torch.randn(2, 50, 4), torch.randn(2, 50, 4)
    assert torch.allclose(tv.diag_gaussian_kl(mu, logvar, mu, logvar), torch.zeros(2), atol=1e-6)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    kl = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(-1).mean(-1)
    assert torch.allclose(tv.diag_gaussian_kl(mu, logvar), kl, atol=1e-5)
    z = torch.randn(2, 50, 4)
    assert torch.allclose(tv.diag_gaussian_nll(z, mu, logvar), -q.log_prob(z).sum(-1).mean(-1), atol=1e-5)


def test_vicreg_penalises_collapse_per_run():
    z = torch.randn(3, 500, 4)
    loss = tv.vicreg_loss(z, z.clone())
    assert loss.shape == (3,)
    collapsed = tv.vicreg_loss(torch.zeros(3, 500, 4), torch.zeros(3, 500, 4))
    assert torch.allclose(collapsed, torch.full((3,), 2 * 25 * (1 - math.sqrt(1e-4))))
    assert (loss < 2).all()


def test_readout():
    g = torch.Generator().manual_seed(0)
    f_train, f_test = torch.randn(400, 4, generator=g), torch.randn(100, 4, generator=g)
    W = torch.randn(4, 3, generator=g)
    prediction = tv.ols_fit_predict(f_train, f_train @ W + 2.0, f_test)
    assert float(r2_score(f_test @ W + 2.0, prediction, pooled=True)) == pytest.approx(1.0, abs=1e-9)
    y = torch.randn(100, 3, generator=g)
    assert float(r2_score(y, y.mean(0).expand_as(y), pooled=True)) == pytest.approx(0.0, abs=1e-9)


@pytest.fixture(scope="module")
def batch():
    return torch.stack([tv.rollout(sigma, seed).x[:600] for sigma, seed in ((0.0, 0), (4.0, 1))])


@pytest.mark.parametrize("name", tv.MODELS)
def test_every_model_trains_and_has_the_right_shapes(name, batch):
    model, losses = tv.train_model(name, batch, seeds=[0, 1], steps=80, lr=1e-2)
    assert losses.shape == (80, 2) and torch.isfinite(losses).all()
    assert (losses[-10:].mean(0) < losses[:10].mean(0)).all()
    with torch.no_grad():
        assert model.features(batch[:, :7]).shape == (2, 7, tv.LATENT_DIM)


def test_runs_are_reproducible_and_independent_of_their_batch(batch):
    a, losses_a = tv.train_model("BJEPA", batch, seeds=[0, 1], steps=15)
    b, losses_b = tv.train_model("BJEPA", batch, seeds=[0, 1], steps=15)
    assert torch.equal(losses_a, losses_b)
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb)
    alone, losses_alone = tv.train_model("BJEPA", batch[1:], seeds=[1], steps=15)
    assert torch.allclose(losses_alone[:, 0], losses_a[:, 1], rtol=1e-5)
    assert torch.allclose(alone.enc.weight[0], a.enc.weight[1], atol=1e-5)


def test_run_sweep_reports_every_model():
    config = tv.NoisyTVConfig(train_steps=400, test_steps=60)
    results, seconds = tv.run_sweep([0.0, 8.0], [0], steps=5, config=config)
    assert [(r.sigma, r.seed) for r in results] == [(0.0, 0), (8.0, 0)] and set(seconds) == set(tv.MODELS)
    for r in results:
        assert set(r.r2) == set(tv.MODELS) and r.predictions["JEPA"].shape == (59, 4) and r.s_next_test.shape == (59, 4)
        assert r.oracle["true_state"] > 0.9


def test_series_image_draws_every_model_without_matplotlib(monkeypatch):
    from leae_hub.lab import plots

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    config = tv.NoisyTVConfig(train_steps=300, test_steps=80)
    (result,), _ = tv.run_sweep([8.0], [0], steps=5, config=config)
    image = plots.series_image(result, size=(400, 200))
    assert image.size == (400, 200)
    pixels = np.asarray(image)
    for name, colour in plots.MODEL_COLOURS.items():  # each model's line (and legend) is drawn in its colour
        rgb = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
        assert (pixels == rgb).all(axis=-1).sum() > 20, name
    assert ((pixels == 0).all(axis=-1)).sum() > 300  # the true series, black and 3 px wide


def test_sweep_steps_yields_each_model_as_it_finishes():
    config = tv.NoisyTVConfig(train_steps=300, test_steps=60)
    seen = []
    for name, results, seconds in tv.sweep_steps([4.0], [1], steps=5, models=("AR", "JEPA"), config=config):
        seen.append((name, set(results[0].r2), set(seconds)))
    assert seen == [("AR", {"AR"}, {"AR"}), ("JEPA", {"AR", "JEPA"}, {"AR", "JEPA"})]
    (whole,), _ = tv.run_sweep([4.0], [1], steps=5, models=("AR", "JEPA"), config=config)
    assert whole.r2 == results[0].r2 and whole.oracle == results[0].oracle
