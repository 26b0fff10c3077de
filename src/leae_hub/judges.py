"""How an encoder judges images: the J in the self-teaching losses ‖J(T(x)) − J(T(x̂))‖².

A judge maps images to latents with the model's encoder, in one of three ways:

- `live`: the encoder as it is, with gradients into its weights (the encoder may learn to hide the decoder's errors).
- `step-frozen`: the current encoder's weights as constants for this step; gradients still flow into the judged
  images, so only the decoder (and the encoder through the reconstruction path) learns from the comparison. Done with
  `torch.func.functional_call` on detached parameters: no copy of the weights, no `load_state_dict` per step.
- `ema`: an exponential moving average of the encoder's weights (BYOL, Grill et al. 2020, arXiv:2006.07733),
  θ̄ ← d·θ̄ + (1 − d)·θ after every optimiser step. Its weights are buffers, so they go into checkpoints.

`norm_mode` says how the judge's latent batch norm normalises: `"batch"` uses each judged batch's own statistics
without touching the running ones (upstream's choice, which hides batch-wide shifts from the loss), `"running"` uses
the running statistics, so every image is judged on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from .modeling_leae import LeaeEncoder
from .speedups import batch_separable, encode_groups

JudgeNormMode = Literal["batch", "running"]
JUDGE_KINDS = ("live", "step-frozen", "ema")


@torch.no_grad()
def ema_update(
    averages: nn.Module | Iterable[Tensor],
    values: nn.Module | Iterable[Tensor],
    decay: float,
    weighted_sum: bool = False,
) -> None:
    """θ̄ ← d·θ̄ + (1 − d)·θ in place, tensor by tensor (BYOL, Grill et al. 2020, arXiv:2006.07733, eq. 1).

    `averages` and `values` are modules (their parameters; buffers are left as they are) or matching sequences of
    tensors; a value is cast to its average's dtype. The sum is rounded as θ̄ + (1 − d)(θ − θ̄) (`Tensor.lerp_`: the
    EMA judge, the teacherless lab), or with `weighted_sum` as d·θ̄ then + (1 − d)·θ (two in-place steps, as the
    tutorial's scripts that the MoG and noisy-TV lab reproduce do): the same average, rounded differently, so each
    caller keeps the exact numbers it was measured with.
    """
    if isinstance(averages, nn.Module):
        averages = averages.parameters()
    if isinstance(values, nn.Module):
        values = values.parameters()
    for average, value in zip(averages, values, strict=True):
        if weighted_sum:
            average.mul_(decay).add_(value.to(average.dtype), alpha=1 - decay)
        else:
            average.lerp_(value.to(average.dtype), 1.0 - decay)


class Judge(nn.Module):
    """Base class: `judge(encoder, images) -> latents`; `judge.update(encoder)` after each optimiser step."""

    kind: str

    def __init__(self, norm_mode: JudgeNormMode = "batch"):
        super().__init__()
        if norm_mode not in ("batch", "running"):
            raise ValueError(f"judge norm_mode must be 'batch' or 'running', got {norm_mode!r}.")
        self.norm_mode = norm_mode

    def batch_independent(self, encoder: LeaeEncoder) -> bool:
        """True when each image's latent does not depend on the rest of the judged batch, so that several judge
        calls can be concatenated into one without changing the result."""
        return batch_separable(encoder) and (self.norm_mode == "running" or encoder.config.latent_norm != "batchnorm")

    def many(self, encoder: LeaeEncoder, images: Sequence[Tensor]) -> list[Tensor]:
        """`[self(encoder, x) for x in images]` in as few encoder calls as the result allows.

        Consecutive batches of the same shape go through the encoder together: simply concatenated when the judge is
        batch-independent, otherwise as groups (`leae_hub.speedups.encode_groups`), each batch normalised with its own
        statistics, which is the same math as one call per batch (upstream's judge). Backbones with their own batch
        norms get one call per batch.
        """
        runs: list[list[Tensor]] = []
        for batch in images:
            if runs and runs[-1][0].shape == batch.shape:
                runs[-1].append(batch)
            else:
                runs.append([batch])
        judged: list[Tensor] = []
        for run in runs:
            if len(run) == 1 or not batch_separable(encoder):
                judged.extend(self(encoder, batch) for batch in run)
                continue
            groups = 1 if self.batch_independent(encoder) else len(run)
            judged.extend(self(encoder, torch.cat(run), groups=groups).chunk(len(run)))
        return judged

    def update(self, encoder: LeaeEncoder) -> None:
        """Called after every optimiser step; only the EMA judge changes."""


class LiveJudge(Judge):
    """J = E, gradients flow into the encoder's weights."""

    kind = "live"

    def forward(self, encoder: LeaeEncoder, images: Tensor, groups: int = 1) -> Tensor:
        return encode_groups(encoder, images, self.norm_mode, groups)


class StepFrozenJudge(Judge):
    """J = E with its current weights held constant for the step; gradients reach the images only."""

    kind = "step-frozen"

    def forward(self, encoder: LeaeEncoder, images: Tensor, groups: int = 1) -> Tensor:
        params = {name: param.detach() for name, param in encoder.named_parameters()}
        return encode_groups(encoder, images, self.norm_mode, groups, parameters=params)


class EMAJudge(Judge):
    """J = E with exponentially averaged weights θ̄ ← d·θ̄ + (1 − d)·θ (buffers copied), no gradient to θ̄.

    The average starts from the encoder on the first call (or `reset(encoder)`) and lives in this module's buffers,
    so `state_dict()` carries it into checkpoints.
    """

    kind = "ema"

    def __init__(self, decay: float = 0.996, norm_mode: JudgeNormMode = "batch"):
        super().__init__(norm_mode)
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema decay must be in [0, 1), got {decay}.")
        self.decay = decay
        self.averages = nn.Module()  # one buffer per encoder tensor, named with "." → "__"

    def reset(self, encoder: LeaeEncoder) -> None:
        """Start the average at the encoder's current weights and buffers."""
        self.averages = nn.Module()
        for name, tensor in encoder.state_dict().items():
            self.averages.register_buffer(_key(name), tensor.detach().clone())

    def _weights(self, encoder: LeaeEncoder) -> dict[str, Tensor]:
        if not self.averages._buffers:
            self.reset(encoder)
        return {_name(key): tensor for key, tensor in self.averages.named_buffers()}

    def forward(self, encoder: LeaeEncoder, images: Tensor, groups: int = 1) -> Tensor:
        return encode_groups(encoder, images, self.norm_mode, groups, parameters=self._weights(encoder))

    @torch.no_grad()
    def update(self, encoder: LeaeEncoder) -> None:
        averages = self._weights(encoder)
        parameters = dict(encoder.named_parameters())
        ema_update([averages[name] for name in parameters], parameters.values(), self.decay)
        for name, tensor in encoder.state_dict().items():
            if name not in parameters:
                averages[name].copy_(tensor)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, errors):
        # The averages are created lazily: make room for them before a checkpoint is loaded into a fresh judge.
        stored = prefix + "averages."
        for key, tensor in state_dict.items():
            if key.startswith(stored) and key[len(stored) :] not in self.averages._buffers:
                self.averages.register_buffer(key[len(stored) :], torch.empty_like(tensor))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, errors)


def _key(name: str) -> str:
    return name.replace(".", "__")


def _name(key: str) -> str:
    return key.replace("__", ".")


def build_judge(kind: str = "step-frozen", norm_mode: JudgeNormMode = "batch", ema_decay: float = 0.996) -> Judge:
    """Build a judge by name: `"live"`, `"step-frozen"` or `"ema"`."""
    if kind == "live":
        return LiveJudge(norm_mode)
    if kind == "step-frozen":
        return StepFrozenJudge(norm_mode)
    if kind == "ema":
        return EMAJudge(ema_decay, norm_mode)
    raise ValueError(f"Unknown judge {kind!r}. Valid judges: {', '.join(JUDGE_KINDS)}.")


__all__ = ["EMAJudge", "JUDGE_KINDS", "Judge", "LiveJudge", "StepFrozenJudge", "build_judge", "ema_update"]
