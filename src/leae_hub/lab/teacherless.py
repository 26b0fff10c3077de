"""Teacherless seq-JEPA with a coding-rate regulariser (issue 16; the experiments of docs/teacherless.md).

The model follows seq-JEPA (Ghaemi et al. 2025). An encoder maps each view v_i to z_i ∈ R^D (the per-view,
equivariant code `z_eq`). The context views 0 … V−2 become tokens [z_i; P(a_i)] (a_i the relative action of view i,
P a linear projection to R^A), an aggregation token is put in front, and a small transformer (pre-norm, 4 heads)
turns the sequence into the aggregation output, projected back to R^D: the invariant code `z_inv`. A predictor MLP
maps [z_inv; P(a_{V−1})] to ẑ, the code of the held-out last view. The objective is

    L = 1 − cos(ẑ, sg(z_{V−1})) − λ R(Z),     R(Z) = log det((1 + ε) I + α Z̃ᵀZ̃ / B)    (MCR², arXiv:2006.08558,
                                                                                      eq. 2; SimDINO, arXiv:2502.10385)

with the target z_{V−1} from an EMA copy of the encoder (the reference and experiment A) or from the online encoder
under stop-gradient (B–E). Z is `z_inv` (rate_target "agg_out"), the context codes z_i ("z_t") or both (the two rates
added). Z̃ follows `LossConfig.rate_convention`: "centred" (the default, the seed author's: Z minus its batch mean,
α = 1, ε = 1e-4; kaikun213/seq-jepa, experiments/losses/coding_rate.py:38-52) or "unit-rows" (the lab's first runs:
rows L2-normalised, not centred, α = D, ε = 0). The experiments, each building on the one before:

- reference: EMA teacher, λ = 0;  A: EMA teacher + rate;  B: stop-gradient target + rate;
- C: B plus the reverse prediction (the context read backwards predicts view 0), the two losses averaged;
- D: B with DINO-style sharpening: target p_t = softmax((z − c)/τ_t) with c an EMA of the batch mean of target
  codes, prediction p_s = softmax(ẑ/τ_s), loss 1 − cos(p_s, p_t) (Caron et al. 2021, arXiv:2104.14294, §3.1);
- E: B with a CRATE encoder (MSSA + ISTA blocks, Yu et al. 2023, arXiv:2306.01129).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..configuration_leae import LeaeConfig
from ..judges import ema_update
from ..modeling_leae import LeaeEncoder
from ..regularizers import coding_rate
from .runner import settings_from_dict
from .teacherless_data import AffineFamily, RotationFamily, TransformFamily, make_sequences
from .teacherless_online import OnlineProbes
from .teacherless_resnet import CifarResNet18

RATE_TARGETS = ("agg_out", "z_t", "both")
RATE_CONVENTIONS = ("centred", "unit-rows")
TARGETS = ("ema", "stopgrad")
ENCODERS = ("conv", "crate", "resnet18")
SAMPLINGS = ("replacement", "epochs")
UNFRAMED = {"crop": 0, "repeat_channels": 1, "mean": 0.0, "std": 1.0}


@dataclass
class DataConfig:
    """Which images and transforms: dataset "mnist" or "cifar10"; mode "affine", "rotation" (MNIST: rotation-only
    ±180°; CIFAR-10: 0/90/180/270°) or "affine-jitter" (CIFAR-10: continuous affine + colour jitter).

    `num_train` training images; with `subset_seed` None they are drawn with the run's seed, with an int as the seed
    author draws them (`teacherless_data.author_subset`, the same digits for every run seed), and `num_val`
    validation images (the online probes' and the offline probes' test set) come from the test split with
    `subset_seed + 1` (the run's seed + 1 when None). MNIST views can be framed as the author's: `crop` (28: the
    centre of the 40-px canvas), `repeat_channels` (3) and (x − `pixel_mean`) / `pixel_std` (0.1307, 0.3081)."""

    dataset: str = "mnist"
    mode: str = "affine"
    root: str = "../shared/data/mnist-full"
    num_train: int = 60000
    num_views: int = 4
    num_val: int = 0
    subset_seed: int | None = None
    crop: int = 0
    repeat_channels: int = 1
    pixel_mean: float = 0.0
    pixel_std: float = 1.0

    def family(self) -> TransformFamily:
        """The transform family of this dataset and mode (parameters in the issue; CIFAR shifts ±4 px)."""
        frame = dict(crop=self.crop, repeat_channels=self.repeat_channels, mean=self.pixel_mean, std=self.pixel_std)
        if self.dataset == "cifar10" and frame != UNFRAMED:
            raise ValueError(
                f"data.crop, repeat_channels, pixel_mean and pixel_std frame MNIST views only, got {frame} for "
                "cifar10: leave them at 0, 1, 0.0 and 1.0"
            )
        if self.dataset == "mnist" and self.mode == "affine":
            return AffineFamily(max_degrees=75.0, max_shift=7, min_scale=0.5, **frame)
        if self.dataset == "mnist" and self.mode == "rotation":
            return AffineFamily(max_degrees=180.0, max_shift=0, min_scale=1.0, **frame)
        if self.dataset == "cifar10" and self.mode == "rotation":
            return RotationFamily()
        if self.dataset == "cifar10" and self.mode == "affine-jitter":
            return AffineFamily(max_degrees=75.0, max_shift=4, min_scale=0.5, jitter=0.4)
        raise ValueError(
            f"unknown dataset/mode {self.dataset!r}/{self.mode!r}: use mnist/affine, mnist/rotation, "
            "cifar10/rotation or cifar10/affine-jitter"
        )


@dataclass
class ModelConfig:
    """Encoder ("conv": the leae conv encoder with a pooled latent; "crate": `CrateEncoder`; "resnet18": a ResNet-18
    with the CIFAR stem and `resnet_width` channels in its first stage, whose code has embed_dim = 8 × resnet_width
    values) and the sequence model."""

    encoder: str = "conv"
    resnet_width: int = 16
    embed_dim: int = 64
    hidden_channels: int = 16
    action_embed_dim: int = 16
    depth: int = 2
    heads: int = 4
    predictor_hidden: int = 256
    crate_patch: int = 8
    crate_depth: int = 2


@dataclass
class LossConfig:
    """Target ("ema" or "stopgrad"), rate weight λ, α, ε, convention and placement, symmetric prediction and
    sharpening. The rate's defaults are the seed author's (module docstring); the configs of the lab's first runs
    state `alpha: D, rate_convention: unit-rows, rate_eps: 0.0`."""

    target: str = "ema"
    ema_momentum: float = 0.99
    lambda_rate: float = 0.0
    alpha: float = 1.0
    rate_convention: str = "centred"
    rate_eps: float = 1e-4
    rate_target: str = "agg_out"
    symmetric: bool = False
    sharpen: bool = False
    teacher_temperature: float = 0.04
    student_temperature: float = 0.1
    center_momentum: float = 0.9


@dataclass
class TrainConfig:
    """AdamW with a linear warm-up over `warmup_steps` (0 or 1: a constant learning rate). Batches are drawn with
    replacement (`sampling: replacement`) or as epochs (`sampling: epochs`: each epoch a new permutation of the
    training images in batches, the last partial batch dropped, as the author's `DataLoader(shuffle=True,
    drop_last=True)`, train.py:712-721; 10,000 digits in batches of 64 make 156 steps an epoch, 20 epochs 3,120)."""

    steps: int = 500
    batch_size: int = 64
    lr: float = 1e-3
    warmup_steps: int = 50
    weight_decay: float = 0.0
    sampling: str = "replacement"


@dataclass
class EvalConfig:
    """The offline probes after training (`teacherless_metrics.evaluate`) and, with `online_probes`, the author's
    online probes during training (`teacherless_online`, Adam at `probe_lr`), reported at the end of every epoch of
    num_train // batch_size steps."""

    num_probe_train: int = 5000
    num_probe_test: int = 2000
    probe_steps: int = 400
    online_probes: bool = False
    probe_lr: float = 1e-3


@dataclass
class ExperimentConfig:
    name: str
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        if self.loss.target not in TARGETS:
            raise ValueError(f"loss.target must be one of {TARGETS}, got {self.loss.target!r}")
        if self.loss.rate_target not in RATE_TARGETS:
            raise ValueError(f"loss.rate_target must be one of {RATE_TARGETS}, got {self.loss.rate_target!r}")
        if self.loss.rate_convention not in RATE_CONVENTIONS:
            raise ValueError(
                f"loss.rate_convention must be one of {RATE_CONVENTIONS}, got {self.loss.rate_convention!r}"
            )
        if self.model.encoder not in ENCODERS:
            raise ValueError(f"model.encoder must be one of {ENCODERS}, got {self.model.encoder!r}")
        if self.train.sampling not in SAMPLINGS:
            raise ValueError(f"train.sampling must be one of {SAMPLINGS}, got {self.train.sampling!r}")
        if self.eval.online_probes and self.data.num_val < 1:
            raise ValueError("eval.online_probes needs validation images: set data.num_val (the author's 2000)")
        self.data.family()

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ExperimentConfig:
        """Build from a nested dict (a YAML file) with `settings_from_dict`: an unknown key or a value of the wrong
        type raises a `ValueError` naming the valid keys or the type."""
        return settings_from_dict(cls, raw)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunBatch:
    """`training/teacherless.py run`: each config (a YAML file) at each seed, one JSON per run under `out`/runs (the
    script's default: the repository's docs/teacherless), skipping runs whose JSON exists unless `force`; with
    `untrained`, the configs' models as initialised (0 steps)."""

    configs: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0, 1, 2)
    out: str = "docs/teacherless"
    force: bool = False
    untrained: bool = False


class CrateBlock(nn.Module):
    r"""One CRATE layer (Yu et al. 2023, "White-Box Transformers via Sparse Rate Reduction", arXiv:2306.01129, §2.3).

    Compression (MSSA, eq. 9): with K subspaces U_k ∈ R^{d×p} (one shared query/key/value map per head),

        SSA_k(Z) = (U_kᵀZ) softmax((U_kᵀZ)ᵀ(U_kᵀZ) / √p),   Z ← Z + W_o [SSA_1(Z); …; SSA_K(Z)]   (on LN(Z)),

    then sparsification (ISTA, eq. 11) with a learned dictionary D ∈ R^{d×d}, step η and threshold λ:

        Z ← ReLU(Z + η Dᵀ(Z − D Z) − η λ)                                                           (on LN(Z)).
    """

    def __init__(self, dim: int, heads: int, step_size: float = 0.1, threshold: float = 0.1):
        super().__init__()
        if dim % heads:
            raise ValueError(f"the CRATE width {dim} must be divisible by heads={heads}")
        self.heads, self.head_dim = heads, dim // heads
        self.step_size, self.threshold = step_size, threshold
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.subspaces = nn.Linear(dim, dim, bias=False)
        self.out = nn.Linear(dim, dim)
        self.dictionary = nn.Parameter(torch.empty(dim, dim))
        nn.init.kaiming_uniform_(self.dictionary, a=math.sqrt(5))

    def forward(self, tokens: Tensor) -> Tensor:
        batch, length, dim = tokens.shape
        projected = self.subspaces(self.norm1(tokens)).view(batch, length, self.heads, self.head_dim).transpose(1, 2)
        attended = F.scaled_dot_product_attention(projected, projected, projected)
        tokens = tokens + self.out(attended.transpose(1, 2).reshape(batch, length, dim))
        z = self.norm2(tokens)
        residual = z - z @ self.dictionary.T  # Z − D Z, with tokens as rows
        return F.relu(z + self.step_size * residual @ self.dictionary - self.step_size * self.threshold)


class CrateEncoder(nn.Module):
    """Patch embedding, CRATE blocks and the mean over tokens, projected to the embedding: [N, C, H, W] → [N, D]."""

    def __init__(self, in_channels: int, image_size: int, embed_dim: int, patch: int, depth: int, heads: int):
        super().__init__()
        if image_size % patch:
            raise ValueError(f"image_size {image_size} must be divisible by model.crate_patch={patch}")
        self.patchify = nn.Conv2d(in_channels, embed_dim, kernel_size=patch, stride=patch)
        self.position = nn.Parameter(torch.randn(1, (image_size // patch) ** 2, embed_dim) * 0.02)
        self.blocks = nn.ModuleList(CrateBlock(embed_dim, heads) for _ in range(depth))
        self.head = nn.Sequential(nn.LayerNorm(embed_dim), nn.Linear(embed_dim, embed_dim))

    def forward(self, images: Tensor) -> Tensor:
        tokens = self.patchify(images).flatten(2).transpose(1, 2) + self.position
        for block in self.blocks:
            tokens = block(tokens)
        return self.head(tokens.mean(dim=1))


def build_encoder(model: ModelConfig, in_channels: int, image_size: int) -> nn.Module:
    """The per-view encoder: the leae conv encoder (pooled latent, no latent norm), a `CrateEncoder` or a
    `CifarResNet18`. The conv encoder needs a side divisible by 8: other sides (the author's 28 px) are padded to
    the next multiple of 8 by repeating the border pixels (the digits' background)."""
    if model.encoder == "crate":
        return CrateEncoder(in_channels, image_size, model.embed_dim, model.crate_patch, model.crate_depth, model.heads)
    if model.encoder == "resnet18":
        if model.embed_dim != 8 * model.resnet_width:
            raise ValueError(
                f"model.embed_dim {model.embed_dim} must be the ResNet-18's code width 8 × resnet_width = "
                f"{8 * model.resnet_width}: set embed_dim: {8 * model.resnet_width}"
            )
        return CifarResNet18(in_channels, model.resnet_width)
    pad = -image_size % 8
    config = LeaeConfig(
        image_size=image_size + pad,
        in_channels=in_channels,
        hidden_channels=model.hidden_channels,
        latent_type="pooled",
        latent_channels=model.embed_dim,
        pooled_map_channels=2 * model.hidden_channels,
        latent_norm="none",
    )
    if not pad:
        return LeaeEncoder(config)
    return nn.Sequential(nn.ReplicationPad2d((pad // 2, pad - pad // 2) * 2), LeaeEncoder(config))


class SeqJepa(nn.Module):
    """Encoder, action projection, aggregation transformer and predictor (see the module docstring)."""

    def __init__(self, model: ModelConfig, in_channels: int, image_size: int, action_dim: int):
        super().__init__()
        width = model.embed_dim + model.action_embed_dim
        if width % model.heads:
            raise ValueError(
                f"embed_dim + action_embed_dim = {width} must be divisible by heads={model.heads}; change either"
            )
        self.encoder = build_encoder(model, in_channels, image_size)
        self.action_proj = nn.Linear(action_dim, model.action_embed_dim)
        self.agg_token = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            width, model.heads, dim_feedforward=2 * width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.aggregator = nn.TransformerEncoder(layer, model.depth, enable_nested_tensor=False)
        self.to_inv = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, model.embed_dim))
        self.predictor = nn.Sequential(
            nn.Linear(model.embed_dim + model.action_embed_dim, model.predictor_hidden),
            nn.GELU(),
            nn.Linear(model.predictor_hidden, model.predictor_hidden),
            nn.GELU(),
            nn.Linear(model.predictor_hidden, model.embed_dim),
        )

    def encode(self, views: Tensor) -> Tensor:
        """Per-view codes z_eq: views [N, V, C, H, W] → [N, V, D]."""
        return self.encoder(views.flatten(0, 1)).view(*views.shape[:2], -1)

    def aggregate(self, codes: Tensor, actions: Tensor) -> Tensor:
        """z_inv from context codes [N, V, D] and their relative actions [N, V, A]: [N, D]."""
        tokens = torch.cat([codes, self.action_proj(actions)], dim=-1)
        tokens = torch.cat([self.agg_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        return self.to_inv(self.aggregator(tokens)[:, 0])

    def predict(self, z_inv: Tensor, action: Tensor) -> Tensor:
        """ẑ of the next view from z_inv [N, D] and its action relative to the last context view [N, A]."""
        return self.predictor(torch.cat([z_inv, self.action_proj(action)], dim=-1))


def rate_term(z_inv: Tensor, context: Tensor, loss: LossConfig) -> Tensor:
    """R(Z) of the codes chosen by `loss.rate_target` (the two rates added for "both"), in the convention of
    `loss.rate_convention` (module docstring): centred rows, or L2-normalised ones."""
    unit = loss.rate_convention == "unit-rows"
    options = {"normalize": unit, "center": not unit, "eps": loss.rate_eps}
    rate = z_inv.new_zeros(())
    if loss.rate_target in ("agg_out", "both"):
        rate = rate + coding_rate(z_inv, loss.alpha, **options)
    if loss.rate_target in ("z_t", "both"):
        rate = rate + coding_rate(context.flatten(0, 1), loss.alpha, **options)
    return rate


class Trainer:
    """One run: builds the model (and the EMA teacher), draws batches of view sequences, optimises L; with
    `eval.online_probes`, trains the online probes on every batch and reports them at the end of every epoch.

    Args:
        config: the experiment.
        images: training images [N, C, S, S] (canvases, before the transforms).
        seed: seeds the model's initialisation and the batches and views.
        labels: their classes [N] (needed by the online probes).
        validation: (images, labels) of the validation set (needed by the online probes).
    """

    def __init__(
        self,
        config: ExperimentConfig,
        images: Tensor,
        seed: int,
        labels: Tensor | None = None,
        validation: tuple[Tensor, Tensor] | None = None,
    ):
        self.config, self.images, self.labels, self.validation = config, images, labels, validation
        self.family = config.data.family()
        torch.manual_seed(seed)
        self.generator = torch.Generator().manual_seed(seed)
        view = self.family.frame(images[:1])
        self.model = SeqJepa(config.model, view.shape[1], view.shape[-1], self.family.action_dim)
        self.teacher = None
        if config.loss.target == "ema":
            self.teacher = copy.deepcopy(self.model.encoder).requires_grad_(False)
        self.center = torch.zeros(config.model.embed_dim)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=config.train.lr, weight_decay=config.train.weight_decay
        )
        warmup = max(config.train.warmup_steps, 1)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: min(1.0, (step + 1) / warmup))
        self.order, self.cursor = torch.zeros(0, dtype=torch.long), 0
        self.epoch_steps = max(1, images.shape[0] // config.train.batch_size)
        self.probes = None
        if config.eval.online_probes:
            if labels is None or validation is None:
                raise ValueError("eval.online_probes needs the training labels and a validation set: pass both")
            classes = int(max(labels.max(), validation[1].max())) + 1
            dim = config.model.embed_dim
            self.probes = OnlineProbes(dim, dim, self.family.action_dim, classes, config.eval.probe_lr)
            self.validation_generator = torch.Generator().manual_seed(30_000 + seed)

    def targets(self, views: Tensor, codes: Tensor) -> Tensor:
        """Target codes of all views [N, V, D], without gradient (EMA teacher or stop-gradient online codes)."""
        if self.teacher is None:
            return codes.detach()
        with torch.no_grad():
            return self.teacher(views.flatten(0, 1)).view_as(codes)

    def prediction_loss(self, predicted: Tensor, target: Tensor) -> Tensor:
        """1 − cos(ẑ, z) averaged over the batch; with sharpening, 1 − cos of the two softmax distributions."""
        loss = self.config.loss
        if not loss.sharpen:
            return 1 - F.cosine_similarity(predicted, target, dim=-1).mean()
        teacher = F.softmax((target - self.center) / loss.teacher_temperature, dim=-1)
        student = F.softmax(predicted / loss.student_temperature, dim=-1)
        self.center = loss.center_momentum * self.center + (1 - loss.center_momentum) * target.mean(dim=0)
        return 1 - F.cosine_similarity(student, teacher, dim=-1).mean()

    def batch_index(self) -> Tensor:
        """Indices of the next batch: drawn with replacement, or the next slice of this epoch's permutation (a new
        permutation when fewer than a batch are left: the remainder is dropped)."""
        batch, count = self.config.train.batch_size, self.images.shape[0]
        if self.config.train.sampling == "replacement":
            return torch.randint(0, count, (batch,), generator=self.generator)
        if self.cursor + batch > self.order.shape[0]:
            if batch > count:
                raise ValueError(f"train.batch_size {batch} exceeds the {count} training images; lower it")
            self.order, self.cursor = torch.randperm(count, generator=self.generator), 0
        self.cursor += batch
        return self.order[self.cursor - batch : self.cursor]

    def step(self) -> dict[str, float]:
        """One optimisation step on a fresh batch (and one step of the online probes); returns the loss terms."""
        cfg = self.config
        index = self.batch_index()
        views, params, actions = make_sequences(self.images[index], self.family, cfg.data.num_views, self.generator)
        codes = self.model.encode(views)
        targets = self.targets(views, codes)
        z_inv = self.model.aggregate(codes[:, :-1], actions[:, :-1])
        pred_loss = self.prediction_loss(self.model.predict(z_inv, actions[:, -1]), targets[:, -1])
        if cfg.loss.symmetric:
            reverse_actions = self.family.actions(params.flip(1))
            z_rev = self.model.aggregate(codes.flip(1)[:, :-1], reverse_actions[:, :-1])
            reverse_loss = self.prediction_loss(self.model.predict(z_rev, reverse_actions[:, -1]), targets[:, 0])
            pred_loss = (pred_loss + reverse_loss) / 2
        rate = rate_term(z_inv, codes[:, :-1], cfg.loss)
        total = pred_loss - cfg.loss.lambda_rate * rate
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        self.scheduler.step()
        if self.teacher is not None:
            ema_update(self.teacher, self.model.encoder, cfg.loss.ema_momentum)
        if self.probes is not None:
            self.probes.train_step(z_inv, codes[:, 0], codes[:, 1], actions[:, 1], self.labels[index])
        return {"loss": total.item(), "pred_loss": pred_loss.item(), "rate": rate.item()}

    @torch.no_grad()
    def online_validation(self) -> dict[str, float]:
        """The online probes' `*_test` numbers on fresh views of the validation images, the model in eval mode."""
        (images, labels), config = self.validation, self.config
        features = []
        self.model.eval()
        for chunk in images.split(config.train.batch_size):
            views, _, actions = make_sequences(chunk, self.family, config.data.num_views, self.validation_generator)
            codes = self.model.encode(views)
            z_inv = self.model.aggregate(codes[:, :-1], actions[:, :-1])
            features.append((z_inv, codes[:, 0], codes[:, 1], actions[:, 1]))
        self.model.train()
        columns = (torch.cat(column) for column in zip(*features, strict=True))
        return self.probes.evaluate(*columns, labels, config.train.batch_size)

    def fit(self, log: Callable[[int, dict[str, float]], None] | None = None, log_every: int = 50) -> dict[str, Any]:
        """Run `train.steps` steps; returns the loss history (every `log_every` steps), the online probes' numbers
        per epoch ("online", empty without them), the wall time and the part of it spent validating them."""
        start, history, online, validating = time.perf_counter(), [], [], 0.0
        self.model.train()
        steps = self.config.train.steps
        for step in range(steps):
            terms = self.step()
            if not all(math.isfinite(v) for v in terms.values()):
                raise FloatingPointError(f"non-finite loss at step {step}: {terms}; lower train.lr or loss.lambda_rate")
            if step % log_every == 0 or step == steps - 1:
                history.append({"step": step, **terms})
                if log is not None:
                    log(step, terms)
            if self.probes is not None and ((step + 1) % self.epoch_steps == 0 or step == steps - 1):
                begin = time.perf_counter()
                epoch = {"epoch": math.ceil((step + 1) / self.epoch_steps), "step": step + 1}
                online.append({**epoch, **self.probes.end_epoch(), **self.online_validation()})
                validating += time.perf_counter() - begin
        self.model.eval()
        return {
            "history": history,
            "online": online,
            "train_seconds": time.perf_counter() - start,
            "online_seconds": validating,
        }
