"""Teacherless seq-JEPA lab (issue 16): the rate, the controlled transforms, the model and loss, the metrics."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch
import yaml

from leae_hub.data import data_dir
from leae_hub.lab.common import r2_score
from leae_hub.lab.runner import run_experiment, settings_from_dict, settings_from_flags
from leae_hub.lab.teacherless import ExperimentConfig, SeqJepa, Trainer, rate_term
from leae_hub.lab.teacherless_data import AffineFamily, RotationFamily, load_cifar10, load_mnist, make_sequences
from leae_hub.lab.teacherless_metrics import (
    evaluate,
    invariance_error,
    mlp_probe_r2,
    principal_angles,
    principal_directions,
    spectrum,
)
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
    inv_only = rate_term(z_inv, codes[:, :-1], config.loss)
    torch.testing.assert_close(inv_only, coding_rate(z_inv, config.loss.alpha, normalize=True))
    config.loss.rate_target = "both"
    both = rate_term(z_inv, codes[:, :-1], config.loss)
    torch.testing.assert_close(both - inv_only, coding_rate(codes[:, :-1].flatten(0, 1), config.loss.alpha, True))


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
    paths = sorted(CONFIGS.glob("*.yaml"))
    names = set()
    for path in paths:
        config = ExperimentConfig.from_dict(yaml.safe_load(path.read_text()))
        assert config.name == path.stem
        names.add(config.name)
    modes = ("mnist", "mnist-rot", "cifar-rot", "cifar-aff")
    assert {f"{d}-{e}" for d in modes for e in ("ref", "A", "B", "C", "D", "E")} <= names


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
