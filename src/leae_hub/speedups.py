"""Training speed-ups for a `LeaeModel`: the same math as the plain model, in less time and memory.

`modeling_leae.py` is the plain model a reader expects (and what `trust_remote_code=True` loads). Training switches
these on per model instance, as diffusers does with its `enable_*` methods:

```python
>>> from leae_hub.speedups import enable_fast_path, encode_groups
>>> enable_fast_path(model)                                   # doctest: +SKIP
>>> z_a, z_b = encode_groups(model.encoder, torch.cat([a, b]), groups=2).chunk(2)  # doctest: +SKIP
```

What `enable_fast_path` changes (docs/performance.md measures each):

- **channels-last**: the conv encoder and decoder run their feature maps in channels-last layout (what oneDNN and
  cuDNN prefer);
- **folded up-convolution**: a nearest ×2 upsampling followed by a 3×3 conv (padding 1) runs as one 4×4 stride-2
  transposed conv on the small map, with the kernel K = M w Mᵀ (M = `NEAREST_UP_TAPS`): 16 instead of 36
  multiply-adds per input pixel and channel pair (`upsample_conv3x3`);
- **pooled shortcut**: the down blocks' space-to-channel + channel-group mean runs as an average pool straight from
  the channels-last map, with a backward that keeps nothing (`_BlockMean`);
- **frozen-weight convs**: a conv whose weights get no gradient (a step-frozen or EMA judge's pass) keeps only its
  weight for the backward pass, whose one product is the input gradient (`_FrozenWeightConv2d`);
- **grouped batch norm**: `encode_groups` encodes several equal batches in one call, each normalised with its own
  statistics (the judge's and the masked recipe's branches); without the fast path it makes one call per batch.

The modules keep their parameters and state-dict keys (their class is swapped for a subclass that only overrides
`forward`), so checkpoints and `save_pretrained` are unchanged. `disable_fast_path` restores the plain classes, and
`fast_path(model, False)` does so for a `with` block. Results agree with the plain model up to float rounding
(tests/test_benchmark.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

# Below this many pixels (h·w of the small map) the plain upsample + conv is the faster one on oneDNN.
TRANSPOSED_CONV_MIN_PIXELS = 64
# Nearest ×2 upsampling then a 3×3 conv (padding 1) is a 4×4 transposed conv with stride 2 (padding 1): input pixel i
# reaches output pixels 2i − 1 … 2i + 2 through the taps w2, w1 + w2, w0 + w1, w0 (rows of this matrix, per axis).
NEAREST_UP_TAPS = ((0.0, 0.0, 1.0), (0.0, 1.0, 1.0), (1.0, 1.0, 0.0), (1.0, 0.0, 0.0))


def upsample_conv3x3(hidden: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """`conv(nearest_upsample_×2(hidden))` for a 3×3 conv with padding 1, without building the upsampled map."""
    if hidden.shape[-2] * hidden.shape[-1] >= TRANSPOSED_CONV_MIN_PIXELS:
        taps = conv.weight.new_tensor(NEAREST_UP_TAPS)  # [4, 3]
        kernel = torch.einsum("ay,oiyx,bx->ioab", taps, conv.weight, taps)  # [C_in, C_out, 4, 4]
        return F.conv_transpose2d(hidden, kernel, conv.bias, stride=2, padding=1)
    return conv(F.interpolate(hidden, scale_factor=2.0, mode="nearest"))


def _channels_last(hidden: torch.Tensor) -> torch.Tensor:
    return hidden.contiguous(memory_format=torch.channels_last)


class _FrozenWeightConv2d(torch.autograd.Function):
    """conv2d for weights that get no gradient: only the weight is kept for the backward pass, whose one product, the
    input gradient, is the transposed conv of the output gradient. Plain autograd would also keep the input, which
    only the weight gradient needs."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, stride, padding):
        ctx.save_for_backward(weight)
        ctx.geometry = (stride, padding, hidden.shape[-2:])
        return F.conv2d(hidden, weight, bias, stride, padding)

    @staticmethod
    def backward(ctx, grad_output):
        (weight,) = ctx.saved_tensors
        stride, padding, size = ctx.geometry
        # output_padding restores the input rows and columns that a strided conv skips.
        extra = [
            size[i] - ((grad_output.shape[i - 2] - 1) * stride[i] - 2 * padding[i] + weight.shape[i - 2])
            for i in (0, 1)
        ]
        return F.conv_transpose2d(grad_output, weight, None, stride, padding, extra), None, None, None, None


class _BlockMean(torch.autograd.Function):
    """Mean over non-overlapping (kh, kw) blocks (`avg_pool2d`) whose backward spreads the gradient back evenly,
    keeping nothing for it (`avg_pool2d` keeps its input)."""

    @staticmethod
    def forward(ctx, hidden, block):
        ctx.block = block
        return F.avg_pool2d(hidden, block)

    @staticmethod
    def backward(ctx, grad_output):
        block = ctx.block
        return F.interpolate(grad_output / (block[0] * block[1]), scale_factor=block, mode="nearest"), None


# --- forward overrides, mixed in front of the model's own classes -----------------------------------------------------


class _FastConv2d:
    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if (
            hidden.requires_grad
            and not self.weight.requires_grad
            and (self.bias is None or not self.bias.requires_grad)
            and isinstance(self.padding, tuple)
            and self.padding_mode == "zeros"
            and self.groups == 1
            and self.dilation == (1, 1)
            and not torch.is_autocast_enabled(hidden.device.type)
            and torch.is_grad_enabled()
        ):
            return _FrozenWeightConv2d.apply(hidden, self.weight, self.bias, self.stride, self.padding)
        return super().forward(hidden)


class _FastConvBackbone:
    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.down2(self.down1(F.silu(self.stem(_channels_last(pixel_values)))))


class _FastDownBlock:
    def shortcut(self, hidden: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = hidden.shape
        group = 4 * channels // self.out_channels  # space-to-channel values averaged into one output channel
        if group % 4 == 0:
            # Space-to-channel puts value (c, dy, dx) of a 2×2 block at channel 4c + 2dy + dx, so output g averages
            # the 2×2 blocks of channels g·group/4 … (g + 1)·group/4 − 1: a 2×2 average pool, then channel groups.
            pooled = _BlockMean.apply(hidden, (2, 2)).permute(0, 2, 3, 1)  # [B, H/2, W/2, C], free for channels-last
            out = pooled.unflatten(-1, (self.out_channels, group // 4)).mean(dim=-1)
            return out.permute(0, 3, 1, 2)  # [B, C_out, H/2, W/2]
        if group == 2:
            # Output 2c + dy averages channel c over the pixels dx = 0, 1 of row dy of each 2×2 block.
            pooled = _BlockMean.apply(hidden, (1, 2)).permute(0, 2, 3, 1)  # [B, H, W/2, C]
            pooled = pooled.unflatten(1, (height // 2, 2)).permute(0, 1, 3, 4, 2)  # [B, H/2, W/2, C, 2]
            return pooled.reshape(batch, height // 2, width // 2, -1).permute(0, 3, 1, 2)
        return super().shortcut(hidden)


class _FastUpBlock:
    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        shortcut = F.interpolate(self.shortcut(hidden), scale_factor=2.0, mode="nearest")
        return F.silu(shortcut + self.conv2(F.silu(upsample_conv3x3(hidden, self.conv1))))


class _FastDecoder:
    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        hidden = latents
        if self.config.latent_type == "pooled":
            hidden = self.from_latent(latents).view(-1, self.config.map_channels, self.map_size, self.map_size)
        hidden = _channels_last(hidden)
        for block in self.up_blocks:
            hidden = block(hidden)
        return torch.sigmoid(upsample_conv3x3(hidden, self.head)).contiguous()


class _FastEncoder:
    def forward(self, pixel_values: torch.Tensor, norm_mode: str = "auto", groups: int = 1) -> torch.Tensor:
        """Latents; with `groups` > 1 each of that many equal consecutive slices is normalised with its own batch
        statistics (and, in training mode, updates the running statistics once per slice, in order)."""
        features = self.backbone(pixel_values)  # [B, C_map, H/r, W/r]
        if self.config.latent_type == "pooled":
            features = self.to_latent(features.flatten(1))  # [B, D]
        norm = self.latent_norm if self.config.latent_norm == "batchnorm" else None
        use_batch = norm is not None and (norm_mode == "batch" or (norm_mode == "auto" and norm.training))
        if groups > 1 and use_batch:
            return _grouped_batch_norm(norm, features, groups, update=norm_mode == "auto").contiguous()
        return self.normalize(features, norm_mode).contiguous()


def _grouped_batch_norm(norm: nn.modules.batchnorm._BatchNorm, latents: torch.Tensor, groups: int, update: bool):
    if latents.shape[0] % groups:
        raise ValueError(f"a batch of {latents.shape[0]} latents does not split into {groups} equal groups.")
    # [G·b, C, …] → [b, G·C, …]: channel (g, c) of one batch norm sees exactly group g's values of channel c.
    folded = latents.unflatten(0, (groups, -1)).transpose(0, 1).flatten(1, 2)
    if update and norm.track_running_stats:
        with torch.no_grad():
            reduce = [0, *range(2, folded.ndim)]
            var, mean = torch.var_mean(folded.detach(), dim=reduce)  # unbiased, as BatchNorm's running update
            for group_mean, group_var in zip(mean.view(groups, -1), var.view(groups, -1), strict=True):
                norm.num_batches_tracked.add_(1)
                factor = norm.momentum if norm.momentum is not None else 1.0 / norm.num_batches_tracked.item()
                norm.running_mean.copy_(factor * group_mean + (1 - factor) * norm.running_mean)
                norm.running_var.copy_(factor * group_var + (1 - factor) * norm.running_var)
    weight = None if norm.weight is None else norm.weight.repeat(groups)
    bias = None if norm.bias is None else norm.bias.repeat(groups)
    out = F.batch_norm(folded, None, None, weight, bias, training=True, momentum=0.0, eps=norm.eps)
    return out.unflatten(1, (groups, -1)).transpose(0, 1).flatten(0, 1)


# Model class name → the override mixed in front of it. Names, not classes, so that a model loaded with
# `trust_remote_code=True` (its classes come from the Hub repo's copy of modeling_leae.py) is sped up too.
_OVERRIDES = {
    "LeaeConvBackbone": _FastConvBackbone,
    "LeaeDownBlock": _FastDownBlock,
    "LeaeUpBlock": _FastUpBlock,
    "LeaeDecoder": _FastDecoder,
    "LeaeEncoder": _FastEncoder,
}
_SUBCLASSES: dict[tuple[type, type], type] = {}


def _fast_class(base: type, override: type) -> type:
    key = (base, override)
    if key not in _SUBCLASSES:
        _SUBCLASSES[key] = type(f"Fast{base.__name__}", (override, base), {"_leae_plain_class": base})
    return _SUBCLASSES[key]


def _plain_name(module: nn.Module) -> str:
    return getattr(type(module), "_leae_plain_class", type(module)).__name__


def _targets(model: nn.Module) -> Iterator[tuple[nn.Module, type]]:
    """(module, override) for every module the fast path changes: the Leae* blocks named in `_OVERRIDES`, and the
    convs of the conv encoder and of the decoder (a timm backbone keeps its own)."""
    conv_parts = [model.decoder]
    if _plain_name(model.encoder.backbone) == "LeaeConvBackbone":
        conv_parts.append(model.encoder.backbone)
    for module in model.modules():
        if _plain_name(module) in _OVERRIDES:
            yield module, _OVERRIDES[_plain_name(module)]
    for part in conv_parts:
        for module in part.modules():
            if isinstance(module, nn.Conv2d):
                yield module, _FastConv2d


def fast_path_enabled(module: nn.Module) -> bool:
    """Whether `enable_fast_path` is in effect on a `LeaeModel` (or on its encoder)."""
    return hasattr(type(getattr(module, "encoder", module)), "_leae_plain_class")


def enable_fast_path(model: nn.Module) -> nn.Module:
    """Switch on the same-math speed-ups (module docstring) on this `LeaeModel` instance; returns the model."""
    if not hasattr(model, "encoder") or not hasattr(model, "decoder"):
        raise TypeError(f"enable_fast_path needs a LeaeModel (encoder + decoder), got {type(model).__name__}")
    for module, override in list(_targets(model)):
        if not hasattr(type(module), "_leae_plain_class"):
            module.__class__ = _fast_class(type(module), override)
    return model


def disable_fast_path(model: nn.Module) -> nn.Module:
    """Undo `enable_fast_path`: every module gets its plain class back; returns the model."""
    for module in model.modules():
        plain = getattr(type(module), "_leae_plain_class", None)
        if plain is not None:
            module.__class__ = plain
    return model


@contextlib.contextmanager
def fast_path(model: nn.Module, enabled: bool = True) -> Iterator[nn.Module]:
    """Run a block with the fast path on (or off, `enabled=False`), then restore the model's previous state."""
    before = fast_path_enabled(model)
    (enable_fast_path if enabled else disable_fast_path)(model)
    try:
        yield model
    finally:
        (enable_fast_path if before else disable_fast_path)(model)


def batch_separable(encoder: nn.Module) -> bool:
    """Whether several batches can share one encoder call (as groups) with the result of separate calls: no batch
    norm inside the backbone, whose statistics would mix the batches."""
    return not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in encoder.backbone.modules())


def encode_groups(
    encoder: nn.Module,
    images: torch.Tensor,
    norm_mode: str = "auto",
    groups: int = 1,
    parameters: dict[str, Any] | None = None,
) -> torch.Tensor:
    """Latents of `groups` equal consecutive batches stacked in `images`, each normalised as if encoded on its own.

    One grouped call when the fast path is on and the backbone has no batch norm (`batch_separable`); otherwise one
    call per group (the plain formulation). `parameters` runs the encoder with these tensors in place of its own
    (`torch.func.functional_call`; the step-frozen judge passes detached weights).
    """

    def call(pixel_values: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        if parameters is None:
            return encoder(pixel_values, **kwargs)
        return functional_call(encoder, parameters, (pixel_values,), kwargs, strict=False)

    if groups == 1:
        return call(images, norm_mode=norm_mode)
    if fast_path_enabled(encoder) and batch_separable(encoder):
        return call(images, norm_mode=norm_mode, groups=groups)
    return torch.cat([call(chunk, norm_mode=norm_mode) for chunk in images.chunk(groups)])


__all__ = [
    "TRANSPOSED_CONV_MIN_PIXELS",
    "batch_separable",
    "disable_fast_path",
    "enable_fast_path",
    "encode_groups",
    "fast_path",
    "fast_path_enabled",
    "upsample_conv3x3",
]
