"""Teacherless seq-JEPA lab (issue 16): the rate, the controlled transforms, the model and loss, the metrics."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from leae_hub.data import data_dir
from leae_hub.lab.common import r2_score
from leae_hub.lab.runner import run_experiment, settings_from_dict, settings_from_flags
from leae_hub.lab.teacherless import (
    ExperimentConfig,
    LossConfig,
    ModelConfig,
    SeqJepa,
    Trainer,
    build_encoder,
    rate_term,
)
from leae_hub.lab.teacherless_data import (
    AffineFamily,
    RotationFamily,
    author_subset,
    load_cifar10,
    load_mnist,
    make_sequences,
)
from leae_hub.lab.teacherless_metrics import (
    evaluate,
    invariance_error,
    mlp_probe_r2,
    principal_angles,
    principal_directions,
    spectrum,
)
from leae_hub.lab.teacherless_online import OnlineProbes, author_r2
from leae_hub.lab.teacherless_resnet import CifarResNet18
from leae_hub.regularizers import coding_rate

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "training" / "configs" / "teacherless"


def _tiny_config(**loss) -> ExperimentConfig:
    return ExperimentConfig.from_dict(
        {
            "name": "tiny",
            "model": {"embed_dim": 16, "hidden_channels": 8, "action_embed_dim": 8, "predictor_hidden": 32},
            "loss": loss,
            "train": {"steps": 3, "batch_size": 8, "warmup_steps": 1},
        }
    )


def _digits(count: int = 16, size: int = 40, seed: int = 0) -> torch.Tensor:
    """Random blocky 'digits' in the middle of a size×size canvas."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.zeros(count, 1, size, size)
    images[:, :, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = torch.rand(
        count, 1, size // 2, size // 2, generator=generator
    )
    return images


# ---- the coding rate ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("batch", "dim"), [(7, 4), (3, 5)])
def test_coding_rate_matches_direct_logdet(batch: int, dim: int) -> None:
    z = torch.randn(batch, dim, generator=torch.Generator().manual_seed(batch), dtype=torch.float64)
    for alpha in (0.5, 64.0):
        direct = torch.logdet(torch.eye(dim, dtype=torch.float64) + alpha * z.T @ z / batch)
        torch.testing.assert_close(coding_rate(z, alpha), direct)
        unit = torch.nn.functional.normalize(z, dim=1)
        direct_unit = torch.logdet(torch.eye(dim, dtype=torch.float64) + alpha * unit.T @ unit / batch)
        torch.testing.assert_close(coding_rate(z, alpha, normalize=True), direct_unit)


def test_coding_rate_gradient_finite_when_rank_deficient() -> None:
    direction = torch.randn(1, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for z in (torch.randn(10, 1, dtype=torch.float64) @ direction, torch.zeros(10, 6, dtype=torch.float64)):
        z.requires_grad_(True)
        coding_rate(z, alpha=64.0).backward()
        assert torch.isfinite(z.grad).all()
    rank_one = (torch.randn(10, 1, dtype=torch.float64) @ direction).requires_grad_(True)
    value = coding_rate(rank_one, alpha=64.0, normalize=True)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(rank_one.grad).all()
    # A rank-1 set has one non-zero eigenvalue: R = log(1 + α·‖Z‖²_F / B).
    torch.testing.assert_close(value, torch.log1p(torch.tensor(64.0, dtype=torch.float64)))


def test_coding_rate_equals_the_author_formula() -> None:
    """The lab's default rate is the seed author's (experiments/losses/coding_rate.py), written out here:
    Z̄ = Z − mean over the batch, C = Z̄ᵀZ̄ / B, R = log det(I + α C + ε I) with α = 1 and ε = 1e-4."""
    for batch, dim in ((6, 4), (3, 5)):  # both Gram branches: B > D and B < D
        z = 3 * torch.randn(batch, dim, generator=torch.Generator().manual_seed(dim), dtype=torch.float64) + 1
        centred = z - z.mean(dim=0, keepdim=True)
        covariance = centred.T @ centred / batch
        eye = torch.eye(dim, dtype=torch.float64)
        author = torch.logdet(eye + 1.0 * covariance + 1e-4 * eye)
        torch.testing.assert_close(coding_rate(z, 1.0, center=True, eps=1e-4), author, rtol=1e-12, atol=1e-12)
        loss = LossConfig()
        assert (loss.alpha, loss.rate_convention, loss.rate_eps) == (1.0, "centred", 1e-4)
        torch.testing.assert_close(rate_term(z, z[None], loss), author, rtol=1e-12, atol=1e-12)
    constant = torch.ones(5, 3, dtype=torch.float64)  # centring removes a shared code: only ε is left
    torch.testing.assert_close(
        coding_rate(constant, center=True, eps=1e-4), torch.tensor(3 * math.log1p(1e-4)).double()
    )


def test_unit_rows_option_keeps_the_old_values() -> None:
    """`rate_convention: unit-rows, rate_eps: 0.0` is the lab's first convention, to float64 rounding: the values below
    were computed by `coding_rate(z, 64.0, normalize=True)` before the centred convention existed (on another CPU,
    whose log-determinant kernel rounds the last digit differently, so the match is to a few ulps, not bit for bit;
    any change of convention moves them by far more)."""
    old = {(8, 4, 0): 10.609758956650264, (3, 5, 1): 7.268139149181634}
    loss = LossConfig(alpha=64.0, rate_convention="unit-rows", rate_eps=0.0)
    for (batch, dim, seed), value in old.items():
        z = torch.randn(batch, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        assert rate_term(z, z[None], loss).item() == pytest.approx(value, rel=1e-14, abs=0)
        assert coding_rate(z, 64.0, normalize=True).item() == pytest.approx(value, rel=1e-14, abs=0)
    z = torch.randn(64, 64, generator=torch.Generator().manual_seed(2))
    assert torch.equal(rate_term(z, z[None], loss), coding_rate(z, 64.0, normalize=True))


# ---- the transforms -------------------------------------------------------------------------------------------------


def test_integer_shifts_are_exact() -> None:
    family = AffineFamily(max_degrees=0.0, max_shift=7, min_scale=1.0)
    image = torch.zeros(1, 1, 40, 40)
    image[0, 0, 17, 22] = 1.0
    params = family.identity(3)
    params[:, 1:3] = torch.tensor([[3.0, -5.0], [-7.0, 7.0], [0.0, 2.0]])
    views = family.apply(image.expand(3, -1, -1, -1), params)
    for view, (tx, ty) in zip(views, params[:, 1:3].tolist(), strict=True):
        row, col = divmod(int(view.argmax()), 40)
        assert (col - 22, row - 17) == (tx, ty)
        torch.testing.assert_close(view.sum(), torch.tensor(1.0), atol=1e-5, rtol=0)
        assert view.max() > 1 - 1e-5


def _blob(center: tuple[float, float], size: int = 40, sigma: float = 1.5) -> torch.Tensor:
    grid = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    y, x = torch.meshgrid(grid, grid, indexing="ij")
    return torch.exp(-((x - center[0]) ** 2 + (y - center[1]) ** 2) / (2 * sigma**2))[None, None]


def test_rotation_scale_shift_recovered_from_blob_centroid() -> None:
    family = AffineFamily()
    image = _blob((8.0, 0.0))  # a blob 8 px right of the centre
    params = family.sample(6, torch.Generator().manual_seed(1))
    views = family.apply(image.expand(6, -1, -1, -1), params)
    grid = torch.arange(40, dtype=torch.float32) - 19.5
    for view, (theta, tx, ty, log_scale) in zip(views[:, 0], params.tolist(), strict=True):
        mass = view.sum()
        cx, cy = (view.sum(0) * grid).sum() / mass - tx, (view.sum(1) * grid).sum() / mass - ty
        assert math.degrees(abs(math.atan2(cy, cx) - theta)) < 0.5
        assert abs(math.hypot(cx, cy) / 8.0 - math.exp(log_scale)) < 0.01


def test_actions_are_relative_and_view_zero_is_identity() -> None:
    family = AffineFamily()
    views, params, actions = make_sequences(_digits(5), family, 4, torch.Generator().manual_seed(0))
    assert views.shape == (5, 4, 1, 40, 40) and actions.shape == (5, 4, 5)
    torch.testing.assert_close(views[:, 0], _digits(5), atol=1e-5, rtol=0)
    torch.testing.assert_close(actions[:, 0], torch.tensor([0.0, 1.0, 0, 0, 0]).expand(5, -1))
    delta = params[:, 2] - params[:, 1]
    torch.testing.assert_close(actions[:, 2, :2], torch.stack([delta[:, 0].sin(), delta[:, 0].cos()], -1))
    torch.testing.assert_close(actions[:, 2, 2:], delta[:, 1:])
    assert params[:, 1:, 1:3].abs().max() <= 7 and (params[:, 1:, 1:3] == params[:, 1:, 1:3].round()).all()
    assert params[:, 1:, 0].abs().max() <= math.radians(75)
    assert params[:, 1:, 3].min() >= math.log(0.5) and params[:, 1:, 3].max() <= 0


def test_quarter_rotations_are_exact_and_jitter_changes_colour_only() -> None:
    family = RotationFamily()
    image = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    params = torch.tensor([[0.0], [math.pi / 2], [math.pi], [3 * math.pi / 2]])
    views = family.apply(image.expand(4, -1, -1, -1), params)
    for k in range(4):
        assert torch.equal(views[k], torch.rot90(image[0], k, dims=(-2, -1)))
    actions = family.actions(params[None])[0]
    torch.testing.assert_close(actions[1:], torch.tensor([[1.0, 0.0]]).expand(3, -1), atol=1e-6, rtol=0)
    jitter = AffineFamily(max_degrees=0.0, max_shift=0, min_scale=1.0, jitter=0.4)
    identity = jitter.apply(image, jitter.identity(1))
    torch.testing.assert_close(identity, image, atol=1e-5, rtol=0)
    brighter = jitter.identity(1)
    brighter[0, 4] = 1.2
    torch.testing.assert_close(jitter.apply(image, brighter), (image * 1.2).clamp(0, 1), atol=1e-5, rtol=0)


# ---- the model and the loss -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "loss",
    [
        {"target": "ema", "lambda_rate": 0.0},
        {"target": "ema", "lambda_rate": 0.01, "rate_target": "both"},
        {"target": "stopgrad", "lambda_rate": 0.01, "symmetric": True},
        {"target": "stopgrad", "lambda_rate": 0.01, "sharpen": True, "rate_target": "z_t"},
    ],
)
@pytest.mark.slow
def test_trainer_steps_every_experiment(loss: dict) -> None:
    config = _tiny_config(**loss)
    trainer = Trainer(config, _digits(), seed=0)
    teacher_before = None if trainer.teacher is None else [p.clone() for p in trainer.teacher.parameters()]
    out = trainer.fit()
    assert len(out["history"]) == 2 and all(math.isfinite(v) for v in out["history"][-1].values())
    assert (trainer.teacher is None) == (loss["target"] == "stopgrad")
    if teacher_before is not None:
        assert any(not torch.equal(a, b) for a, b in zip(teacher_before, trainer.teacher.parameters(), strict=True))
    if loss.get("sharpen"):
        assert trainer.center.abs().sum() > 0


def test_author_views_are_28_px_three_channel_standardised_crops() -> None:
    family = AffineFamily(crop=28, repeat_channels=3, mean=0.1307, std=0.3081)
    digits = _digits(5)
    views, _, actions = make_sequences(digits, family, 4, torch.Generator().manual_seed(0))
    assert views.shape == (5, 4, 3, 28, 28) and actions.shape == (5, 4, 5)
    expected = ((digits[..., 6:34, 6:34] - 0.1307) / 0.3081).expand(-1, 3, -1, -1)
    torch.testing.assert_close(views[:, 0], expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(family.frame(digits), expected)
    model = SeqJepa(ModelConfig(embed_dim=16, hidden_channels=8, action_embed_dim=8), 3, 28, 5)  # padded to 32 px
    assert model.encode(views).shape == (5, 4, 16)


def test_resnet18_output_and_parameter_count_at_width_16() -> None:
    width, channels = 16, 3
    resnet = CifarResNet18(channels, width)
    assert resnet(torch.zeros(2, channels, 28, 28)).shape == (2, 8 * width)

    def conv_bn(inputs: int, outputs: int, kernel: int) -> int:
        return kernel * kernel * inputs * outputs + 2 * outputs

    def stage(inputs: int, outputs: int) -> int:
        first = conv_bn(inputs, outputs, 3) + conv_bn(outputs, outputs, 3)
        shortcut = conv_bn(inputs, outputs, 1) if inputs != outputs else 0
        return first + shortcut + 2 * conv_bn(outputs, outputs, 3)

    widths = [width, width, 2 * width, 4 * width, 8 * width]
    expected = conv_bn(channels, width, 3) + sum(stage(a, b) for a, b in zip(widths, widths[1:], strict=False))
    assert expected == 700_176 == sum(p.numel() for p in resnet.parameters())
    x = torch.randn(2, width, 8, 8, generator=torch.Generator().manual_seed(0))
    block = resnet.layers[3]  # the first block of stage 1 starts as its shortcut, the identity, then ReLU
    torch.testing.assert_close(block(x), x.relu())
    assert build_encoder(ModelConfig(encoder="resnet18", embed_dim=128, resnet_width=16), 3, 28) is not None
    with pytest.raises(ValueError, match="set embed_dim: 128"):
        build_encoder(ModelConfig(encoder="resnet18", embed_dim=64, resnet_width=16), 3, 28)


def test_crate_encoder_runs_and_rate_placement() -> None:
    config = ExperimentConfig.from_dict(
        {
            "name": "crate",
            "model": {"encoder": "crate", "embed_dim": 16, "action_embed_dim": 8, "crate_patch": 8, "heads": 4},
            "train": {"steps": 2, "batch_size": 4},
        }
    )
    model = SeqJepa(config.model, 1, 40, 5)
    views, _, actions = make_sequences(_digits(4), AffineFamily(), 3, torch.Generator().manual_seed(0))
    codes = model.encode(views)
    z_inv = model.aggregate(codes[:, :-1], actions[:, :-1])
    assert codes.shape == (4, 3, 16) and z_inv.shape == (4, 16)
    assert model.predict(z_inv, actions[:, -1]).shape == (4, 16)
    for convention, options in (("centred", {"center": True, "eps": 1e-4}), ("unit-rows", {"normalize": True})):
        loss = LossConfig(alpha=16.0, rate_convention=convention, rate_eps=options.get("eps", 0.0))
        inv_only = rate_term(z_inv, codes[:, :-1], loss)
        torch.testing.assert_close(inv_only, coding_rate(z_inv, 16.0, **options))
        loss.rate_target = "both"
        both = rate_term(z_inv, codes[:, :-1], loss)
        torch.testing.assert_close(both - inv_only, coding_rate(codes[:, :-1].flatten(0, 1), 16.0, **options))


def test_config_errors_name_the_fix_and_shipped_configs_load() -> None:
    with pytest.raises(ValueError, match="valid"):
        ExperimentConfig.from_dict({"name": "x", "loss": {"lamda_rate": 0.1}})
    with pytest.raises(ValueError, match="rate_target"):
        ExperimentConfig.from_dict({"name": "x", "loss": {"rate_target": "all"}})
    with pytest.raises(ValueError, match="write 1.0e-3"):
        ExperimentConfig.from_dict({"name": "x", "loss": {"lambda_rate": "1e-3"}})
    with pytest.raises(ValueError, match="train.steps must be of type int"):
        ExperimentConfig.from_dict({"name": "x", "train": {"steps": 2.5}})
    with pytest.raises(ValueError, match="mnist/affine"):
        ExperimentConfig.from_dict({"name": "x", "data": {"dataset": "mnist", "mode": "jitter"}})
    with pytest.raises(ValueError, match="rate_convention"):
        ExperimentConfig.from_dict({"name": "x", "loss": {"rate_convention": "unit"}})
    with pytest.raises(ValueError, match="data.num_val"):
        ExperimentConfig.from_dict({"name": "x", "eval": {"online_probes": True}})
    names = set()
    for path in sorted(CONFIGS.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        config = ExperimentConfig.from_dict(raw)
        assert config.name == path.stem
        names.add(config.name)
        if not config.name.startswith("author-"):  # the lab's first runs keep their rate explicitly
            assert {k: raw["loss"][k] for k in ("rate_convention", "rate_eps")} == {
                "rate_convention": "unit-rows",
                "rate_eps": 0.0,
            }
    modes = ("mnist", "mnist-rot", "cifar-rot", "cifar-aff")
    assert {f"{d}-{e}" for d in modes for e in ("ref", "A", "B", "C", "D", "E")} <= names
    author = {f"author-{d}-{e}" for d in ("mf", "rot") for e in ("ref", "A", "B", "C", "D", "E")}
    assert author | {f"author-mf-resnet-{e}" for e in ("ref", "A", "B")} <= names


ENCODER_FIELDS = {"conv": {"hidden_channels"}, "crate": {"crate_patch", "crate_depth"}, "resnet18": {"resnet_width"}}


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("author-*.yaml")), ids=lambda path: path.stem)
def test_author_budget_configs_state_every_setting(path: Path) -> None:
    """The author's budget: 28-px 3-channel views of a 10,000-digit subset (2,000 validation digits from the test
    split), batches of 64 drawn as epochs, 20 epochs = 3,120 steps, α = 1 on centred codes, the online probes; every
    setting written out (the model's only for its own encoder)."""
    raw = yaml.safe_load(path.read_text())
    config = ExperimentConfig.from_dict(raw)
    for section in ("data", "loss", "train", "eval"):
        assert set(raw[section]) == {f.name for f in dataclasses.fields(getattr(config, section))}, section
    others = set().union(*ENCODER_FIELDS.values()) - ENCODER_FIELDS[config.model.encoder]
    assert set(raw["model"]) == {f.name for f in dataclasses.fields(config.model)} - others
    data, train, loss = config.data, config.train, config.loss
    assert (data.num_train, data.num_val, data.subset_seed, data.num_views) == (10_000, 2_000, 42, 4)
    assert (data.crop, data.repeat_channels, data.pixel_mean, data.pixel_std) == (28, 3, 0.1307, 0.3081)
    assert (train.batch_size, train.sampling, train.lr, train.warmup_steps) == (64, "epochs", 1e-3, 0)
    assert train.steps == 20 * (data.num_train // train.batch_size) == 3_120
    assert (loss.alpha, loss.rate_convention, loss.rate_eps, loss.ema_momentum) == (1.0, "centred", 1e-4, 0.996)
    assert config.eval.online_probes and config.eval.probe_lr == 1e-3
    assert data.mode == ("rotation" if "-rot-" in config.name else "affine")
    if "-resnet-" in config.name:
        assert (config.model.encoder, config.model.resnet_width, config.model.embed_dim) == ("resnet18", 8, 64)


@dataclasses.dataclass(frozen=True)
class _Sweep:
    seeds: tuple[int, ...] = (0,)
    steps: int | None = 10
    out: str = "docs"


def test_runner_reads_settings_and_writes_the_result_atomically(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="need 'name'"):
        settings_from_dict(ExperimentConfig, {"train": {"steps": 2}})
    with pytest.raises(ValueError, match="train must be a mapping"):
        settings_from_dict(ExperimentConfig, {"name": "x", "train": 2})
    sweep = settings_from_flags(_Sweep, argparse.Namespace(seeds=[0, 1], steps=None, out="x", command="run"))
    assert sweep == _Sweep(seeds=(0, 1), steps=None, out="x")
    with pytest.raises(ValueError, match=r"seeds\[1\] must be of type int"):
        settings_from_dict(_Sweep, {"seeds": [0, "1"]})
    path = tmp_path / "out" / "result.json"
    threads = torch.get_num_threads()
    inside = []
    result = run_experiment(
        lambda: inside.append(torch.get_num_threads()) or {"value": torch.rand(1).item(), "nan": math.nan},
        path,
        seed=3,
        threads=threads + 1,
    )
    assert inside == [threads + 1] and torch.get_num_threads() == threads  # the process's setting comes back
    assert result["value"] == torch.rand(1, generator=torch.Generator().manual_seed(3)).item()  # seeded first
    assert [p.name for p in path.parent.iterdir()] == ["result.json"]  # no temporary file left beside it
    assert path.read_text().endswith("\n") and json.loads(path.read_text())["value"] == result["value"]


def test_online_probes_leave_training_alone_and_report_each_epoch() -> None:
    """Epoch sampling visits every image once an epoch; the online probes report once an epoch (and for a last,
    partial one) and do not change the model's training: the loss history is the same with and without them."""
    raw = {
        "name": "tiny",
        "data": {"num_val": 8},
        "model": {"embed_dim": 16, "hidden_channels": 8, "action_embed_dim": 8, "predictor_hidden": 32},
        "loss": {"target": "stopgrad", "lambda_rate": 0.01},
        "train": {"steps": 5, "batch_size": 6, "warmup_steps": 1, "sampling": "epochs"},
    }
    images, labels = _digits(13), torch.arange(13) % 3
    validation = (_digits(8, seed=1), torch.arange(8) % 3)
    plain = Trainer(ExperimentConfig.from_dict(raw), images, seed=0)
    first_epoch = torch.cat([plain.batch_index(), plain.batch_index()])
    assert sorted(first_epoch.tolist()) == sorted(set(first_epoch.tolist())) and len(first_epoch) == 12
    plain = Trainer(ExperimentConfig.from_dict(raw), images, seed=0)
    raw["eval"] = {"online_probes": True}
    probed = Trainer(ExperimentConfig.from_dict(raw), images, seed=0, labels=labels, validation=validation)
    history, fit = plain.fit(log_every=1)["history"], probed.fit(log_every=1)
    assert fit["history"] == history
    assert [(row["epoch"], row["step"]) for row in fit["online"]] == [(1, 2), (2, 4), (3, 5)]
    assert {"online_linacc_train", "online_r2_test", "leakage_linacc_test", "leakage_r2_loss_test"} <= set(
        fit["online"][-1]
    )
    with pytest.raises(ValueError, match="labels and a validation set"):
        Trainer(ExperimentConfig.from_dict(raw), images, seed=0)


def _separable(count: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Codes that carry the class (one-hot, scaled) and the action (2 entries) linearly, plus noise."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (count,), generator=generator)
    action = torch.randn(count, 2, generator=generator)
    noise = 0.1 * torch.randn(count, 4, generator=generator)
    code = torch.cat([3 * torch.nn.functional.one_hot(labels, 4).float(), action, noise], dim=1)
    return code, code, torch.randn(count, 10, generator=generator), action, labels


def test_online_probes_learn_a_separable_toy_and_r2_as_the_author_logs_it() -> None:
    torch.manual_seed(0)
    probes = OnlineProbes(inv_dim=10, eq_dim=10, action_dim=2, num_classes=4, lr=1e-2)
    for step in range(100):
        probes.train_step(*_separable(64, seed=step))
    train = probes.end_epoch()
    assert train["online_linacc_train"] > 80 and probes.end_epoch() == {}  # every batch of the epoch; then anew
    test = probes.evaluate(*_separable(500, seed=999), batch_size=64)
    assert test["online_linacc_test"] > 99 and test["leakage_linacc_test"] > 99
    assert test["online_r2_test"] > 0.95 and test["leakage_r2_test"] > 0.9
    target = torch.tensor([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])  # sklearn's r2_score: a constant column scores 0 …
    assert author_r2(target, target + torch.tensor([0.0, 0.5])) == pytest.approx(0.5)
    assert author_r2(target, target) == 1.0  # … or 1 when predicted exactly


# ---- the metrics on representations with a known answer ------------------------------------------------------------


def _equivariant_toy(count: int, seed: int, dim: int = 12) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Codes that turn exactly with the image: z(θ) = Q₂ (cos(φ+θ), sin(φ+θ)) + Q_rest c, with a random image phase
    φ and an image-specific part c. Returns z(0), z(θ) and θ."""
    generator = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(torch.randn(dim, dim, generator=torch.Generator().manual_seed(99)))[0]
    phase = 2 * math.pi * torch.rand(count, generator=generator)
    theta = math.radians(75) * (2 * torch.rand(count, generator=generator) - 1)
    content = torch.randn(count, dim - 2, generator=generator)

    def code(angle: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.stack([angle.cos(), angle.sin()], -1), content], -1) @ basis.T

    return code(phase), code(phase + theta), theta


def test_r2_score_known_values() -> None:
    target = torch.tensor([[1.0, 2.0], [2.0, 2.0], [3.0, 2.0]])
    r2 = r2_score(target, target.clone())
    assert r2[0] == 1 and math.isnan(r2[1])
    assert r2_score(target[:, :1], torch.full((3, 1), 2.0)).item() == 0  # the mean as the prediction


@pytest.mark.slow
def test_equivariance_probe_on_exactly_rotating_codes() -> None:
    train0, train1, train_theta = _equivariant_toy(2000, seed=0, dim=6)
    test0, test1, test_theta = _equivariant_toy(500, seed=1, dim=6)
    targets = [torch.stack([t.sin(), t.cos()], -1) for t in (train_theta, test_theta)]
    r2 = mlp_probe_r2(torch.cat([train0, train1], 1), targets[0], torch.cat([test0, test1], 1), targets[1], steps=500)
    assert (r2 > 0.95).all()
    shuffled = mlp_probe_r2(
        torch.cat([train0, train1], 1), targets[0].roll(1, 0), torch.cat([test0, test1], 1), targets[1], steps=100
    )
    assert (shuffled < 0.1).all()


def test_subspace_metrics_on_exactly_rotating_codes() -> None:
    base, moved, _ = _equivariant_toy(500, seed=2)
    share, basis = principal_directions(moved - base, 2)
    assert share > 0.9999 and basis.shape == (12, 2)
    plane = torch.linalg.qr(torch.randn(12, 12, generator=torch.Generator().manual_seed(99)))[0][:, :2]
    torch.testing.assert_close(principal_angles(basis, plane), torch.zeros(2), atol=0.1, rtol=0)
    e = torch.eye(3)
    tilted = torch.stack([e[0], math.cos(0.3) * e[1] + math.sin(0.3) * e[2]], 1)
    torch.testing.assert_close(
        principal_angles(e[:, :2], tilted), torch.tensor([0.0, math.degrees(0.3)]), atol=1e-3, rtol=0
    )


def test_invariance_error_and_spectrum_known_values() -> None:
    z = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
    assert invariance_error(z, z.clone()) == 0
    other = torch.randn(200, 8, generator=torch.Generator().manual_seed(1))
    assert 0.8 < invariance_error(z, other) < 1.25
    assert invariance_error(z, z + 0.1 * other) < 0.01
    values = spectrum(torch.cat([torch.randn(4000, 1) * 3, torch.zeros(4000, 3)], 1))
    assert values[0] == pytest.approx(1.0) and sum(values) == pytest.approx(1.0)


@pytest.mark.slow
def test_evaluate_end_to_end_on_a_tiny_model() -> None:
    config = _tiny_config(target="stopgrad", lambda_rate=0.01)
    trainer = Trainer(config, _digits(32), seed=0)
    trainer.fit()
    labels = torch.arange(32) % 4
    images = _digits(32, seed=1)
    result = evaluate(trainer.model, trainer.family, 3, (images[:24], labels[:24]), (images[24:], labels[24:]), 20)
    assert set(result["action_r2"]) == {"sin", "cos", "shift_x", "shift_y", "log_scale"}
    assert set(result["group_r2"]) == {"rotation", "shift_x", "shift_y", "scale"}
    assert 0 <= result["class_acc_inv"] <= 1 and 1 <= result["effective_rank_inv"] <= 16
    assert all(0 <= share <= 1 for share in result["delta_variance_share"].values())
    assert len(result["principal_angles_deg"]) == 6 and len(result["figure"]["sweep_xy"]) == 5


def test_untrained_baseline_and_pixel_floors() -> None:
    """`run --untrained`: the config at 0 steps under its own name, plus the class-probe floors on raw pixels."""
    spec = importlib.util.spec_from_file_location("teacherless_script", ROOT / "training" / "teacherless.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    config = script.untrained(_tiny_config(target="stopgrad", lambda_rate=0.01))
    assert (config.name, config.train.steps, config.loss.lambda_rate) == ("tiny-untrained", 0, 0.01)
    trainer = Trainer(config, _digits(32), seed=0)
    before = {name: value.clone() for name, value in trainer.model.state_dict().items()}
    assert trainer.fit()["history"] == []
    assert all(torch.equal(before[name], value) for name, value in trainer.model.state_dict().items())
    images, labels = _digits(32, seed=1), torch.arange(32) % 4
    floors = script.pixel_floors(trainer, (images[:24], labels[:24]), (images[24:], labels[24:]), 3, 0)
    assert set(floors) == {"pixels_class_acc_identity", "pixels_class_acc_view"}
    assert all(0 <= value <= 1 for value in floors.values())


def test_time_subcommand_times_each_config_and_each_resnet_width(tmp_path: Path, monkeypatch) -> None:
    """`time`: one row per config, a ResNet config once per width asked for (its code 8 × width), a minute estimate
    that is the timed step scaled to the config's steps, and a table row per measurement."""
    spec = importlib.util.spec_from_file_location("teacherless_script", ROOT / "training" / "teacherless.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    conv = _tiny_config(target="ema")
    resnet = dataclasses.replace(
        conv,
        name="tiny-resnet",
        model=dataclasses.replace(conv.model, encoder="resnet18", resnet_width=2, embed_dim=16),
    )
    paths = []
    for config in (conv, resnet):
        paths.append(tmp_path / f"{config.name}.yaml")
        paths[-1].write_text(yaml.safe_dump(config.to_dict()))
    monkeypatch.setattr(
        script, "load_data", lambda config, seed: {"train": (_digits(32), torch.arange(32) % 4), "validation": None}
    )
    rows = script.time_steps([str(p) for p in paths], steps=2, widths=[2, 1], warmup=1)
    assert [(row["config"], row["resnet_width"]) for row in rows] == [
        ("tiny", None),
        ("tiny-resnet", 2),
        ("tiny-resnet", 1),
    ]
    assert rows[2]["encoder_parameters"] == sum(p.numel() for p in CifarResNet18(1, 1).parameters())
    assert rows[1]["encoder_parameters"] == sum(p.numel() for p in CifarResNet18(1, 2).parameters())
    for row in rows:
        assert row["seconds_per_step"] > 0 and row["steps_timed"] == 2
        assert row["run_minutes"] == pytest.approx(row["seconds_per_step"] * conv.train.steps / 60)
    table = script.timing_table(rows).splitlines()
    assert len(table) == 5 and "resnet18, width 1" in table[-1] and table[2].startswith("| `tiny` | conv |")


def test_author_table_sets_our_runs_under_the_authors_logged_numbers() -> None:
    """The author-budget table: the author's epoch-20 numbers first, then our `author-*` runs of that mode (small
    encoder, ResNet, untrained) as mean ± std, the raw-pixel floor last; other runs and empty modes left out."""
    spec = importlib.util.spec_from_file_location("teacherless_script", ROOT / "training" / "teacherless.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)

    def entry(encoder: str, seeds: int, **metrics: tuple[float, float]) -> dict:
        model = {"encoder": encoder, "resnet_width": 8}
        stats = {key: {"mean": mean, "std": std} for key, (mean, std) in metrics.items()}
        return {"seeds": list(range(seeds)), "config": {"data": {"mode": "affine"}, "model": model}, "metrics": stats}

    summary = {
        "author-mf-resnet-A": entry("resnet18", 3, online_linacc_test=(40.0, 2.0), class_acc_inv=(0.5, 0.01)),
        "author-mf-ref-untrained": entry("conv", 3, class_acc_inv=(0.3, 0.0), pixels_class_acc_identity=(0.9, 0.0)),
        "author-mf-A": entry("conv", 2, online_linacc_test=(20.0, 1.0), online_r2_test=(0.5, 0.1)),
        "mnist-A": entry("conv", 3, online_linacc_test=(99.0, 0.0)),
    }
    lines = script.author_tables(summary)
    assert lines[0] == "### the seed author's budget: MNIST / affine" and not any("rotation" in line for line in lines)
    rotation = entry("conv", 3, online_linacc_test=(50.0, 1.0))
    rotation["config"]["data"]["mode"] = "rotation"
    rotation_lines = script.author_tables({"author-rot-A": rotation})
    assert rotation_lines[0].endswith("MNIST / rotation") and "| 1 | 35.0 | 0.033 | – |" in rotation_lines[4]
    rows = [line.split(" | ") for line in lines if line.startswith("| ") and not line.startswith("| ---")]
    assert [row[0] for row in rows] == [
        "| run",
        "| the seed author's A, epoch 20",
        "| author-mf-A",
        "| author-mf-resnet-A",
        "| author-mf-ref-untrained",
        "| raw pixels, identity view",
    ]
    assert rows[1][3:6] == ["16.2", "0.466", "55.4"] and lines[-2].startswith("| raw pixels")
    assert rows[2][1:5] == ["conv", "2", "20.0 ± 1.0", "0.500 ± 0.100"]
    assert rows[3][1] == "ResNet-18, width 8" and rows[3][6] == "50.0 ± 1.0"
    assert rows[5][6] == "90.0 ± 0.0" and rows[5][3] == "–"


# ---- the real data -------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_loaders() -> None:
    mnist, cifar = data_dir() / "mnist-full", data_dir() / "cifar10-jpg.zip"
    if not (mnist / "t10k-images-idx3-ubyte.gz").is_file() or not cifar.is_file():
        pytest.skip(f"{mnist} or {cifar} not found (the data live beside the checkout; set LEAE_DATA_DIR)")
    digits, labels = load_mnist(mnist, "t10k", limit=50)
    assert digits.shape == (50, 1, 40, 40) and digits[..., :6, :].max() == 0 and labels.max() <= 9
    images, classes = load_cifar10(cifar, "test", limit=20)
    assert images.shape == (20, 3, 32, 32) and 0 <= images.min() and images.max() <= 1 and classes.max() <= 9
    with pytest.raises(FileNotFoundError, match="data.root"):
        load_mnist(mnist / "missing", "t10k")


def test_author_subset_sizes_and_disjointness() -> None:
    """The author's draw: 10,000 of the 60,000 training digits and 2,000 of the 10,000 test digits, each a seeded
    shuffle's head (the same digits for every run seed), distinct indices, and no validation digit among the training
    digits (checked on the pixels when the data are here)."""
    train, validation = author_subset(60_000, 10_000, 42), author_subset(10_000, 2_000, 43)
    assert len(train) == len(set(train.tolist())) == 10_000 and 0 <= train.min() and train.max() < 60_000
    assert len(validation) == len(set(validation.tolist())) == 2_000 and validation.max() < 10_000
    assert np.array_equal(train, author_subset(60_000, 10_000, 42))
    assert not np.array_equal(train, author_subset(60_000, 10_000, 0))
    assert np.array_equal(author_subset(50, None, 42), np.arange(50))
    mnist = data_dir() / "mnist-full"
    if not (mnist / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"{mnist} not found (the data live beside the checkout; set LEAE_DATA_DIR)")
    digits, labels = load_mnist(mnist, "train", limit=10_000, seed=42, author_draw=True)
    held_out, held_labels = load_mnist(mnist, "t10k", limit=2_000, seed=43, author_draw=True)
    assert digits.shape == (10_000, 1, 40, 40) and held_out.shape == (2_000, 1, 40, 40)
    assert set(labels.tolist()) == set(held_labels.tolist()) == set(range(10))

    def hashes(images: torch.Tensor) -> set[bytes]:
        return {hashlib.sha1(image.numpy().tobytes()).digest() for image in images}

    assert not hashes(digits) & hashes(held_out)
