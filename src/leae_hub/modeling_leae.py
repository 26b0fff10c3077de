"""The self-teaching autoencoder (leae): a conv (or timm) encoder, a latent batch norm, and a mirrored conv decoder.

This file is self-contained apart from its relative import of `configuration_leae`: publishing copies both next to the
weights so that `trust_remote_code=True` works where `leae_hub` is not installed. timm is imported only when a timm
backbone is asked for. It is the plain formulation; training switches on same-math speed-ups per instance with
`leae_hub.speedups.enable_fast_path(model)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.utils import ModelOutput

from .configuration_leae import CONV_ENCODER_STRIDE, PLAIN_DECODER_STRIDE, LeaeConfig

# How the latent batch norm normalises: "auto" follows the module's train/eval mode (batch statistics and a running
# update in training, running statistics in eval); "batch" uses the batch's statistics without touching the running
# ones (the upstream judge); "running" always uses the running statistics.
NormMode = Literal["auto", "batch", "running"]
NORM_MODES = ("auto", "batch", "running")


def _check_real_batch(values: torch.Tensor, name: str) -> None:
    if values.device.type == "meta":
        raise ValueError(f"{name} is a meta tensor (no data): create it on a real device, e.g. torch.rand(...).")
    if values.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(values.shape)}): pass at least one item.")


@dataclass
class LeaeEncoderOutput(ModelOutput):
    """Output of [`LeaeModel.encode`].

    Args:
        latents (`torch.FloatTensor`): `[B, C, h, w]` for a spatial latent, `[B, D]` for a pooled one.
    """

    latents: torch.FloatTensor | None = None


@dataclass
class LeaeDecoderOutput(ModelOutput):
    """Output of [`LeaeModel.decode`].

    Args:
        reconstruction (`torch.FloatTensor` of shape `[B, C, H, W]`): images in [0, 1].
    """

    reconstruction: torch.FloatTensor | None = None


@dataclass
class LeaeModelOutput(ModelOutput):
    """Output of [`LeaeModel.forward`].

    Args:
        reconstruction (`torch.FloatTensor` of shape `[B, C, H, W]`): the decoded images, in [0, 1].
        latents (`torch.FloatTensor`): the codes the images were decoded from.
    """

    reconstruction: torch.FloatTensor | None = None
    latents: torch.FloatTensor | None = None


class LeaeDownBlock(GradientCheckpointingLayer):
    """Halves the resolution: SiLU(shortcut(x) + conv3×3(SiLU(conv3×3/2(x)))).

    The shortcut has no parameters: space-to-channel by 2 (C → 4C channels), then the mean over consecutive groups of
    4C / C_out channels.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.out_channels = out_channels
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)

    def shortcut(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = F.pixel_unshuffle(hidden, 2)  # [B, 4C, H/2, W/2]
        batch, channels, height, width = hidden.shape
        return hidden.view(batch, self.out_channels, channels // self.out_channels, height, width).mean(dim=2)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.silu(self.shortcut(hidden) + self.conv2(F.silu(self.conv1(hidden))))


class LeaeUpBlock(GradientCheckpointingLayer):
    """Doubles the resolution: SiLU(conv1×1(up(x)) + conv3×3(SiLU(conv3×3(up(x))))), up = nearest ×2.

    The 1×1 shortcut runs before the upsampling, which gives the same result (nearest upsampling commutes with a
    pointwise conv) at a quarter of the cost.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        self.shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        shortcut = F.interpolate(self.shortcut(hidden), scale_factor=2.0, mode="nearest")
        return F.silu(
            shortcut + self.conv2(F.silu(self.conv1(F.interpolate(hidden, scale_factor=2.0, mode="nearest"))))
        )


class LeaeConvBackbone(nn.Module):
    """Stem (4×4 conv, stride 2, SiLU) and two down blocks: [B, C_in, H, W] → [B, C_map, H/8, W/8]."""

    reduction = CONV_ENCODER_STRIDE

    def __init__(self, config: LeaeConfig):
        super().__init__()
        hidden = config.hidden_channels
        self.stem = nn.Conv2d(config.in_channels, hidden, kernel_size=4, stride=2, padding=1)
        self.down1 = LeaeDownBlock(hidden, 2 * hidden)
        self.down2 = LeaeDownBlock(2 * hidden, config.map_channels)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.down2(self.down1(F.silu(self.stem(pixel_values))))


class LeaePlainBackbone(nn.Module):
    """Three stages of 3×3 stride-2 conv, batch norm and SiLU (hidden, 2·hidden, 4·hidden channels), then global
    average pooling: [B, C_in, H, W] → [B, 4·hidden, 1, 1]. Any input size works; the stride is 8 before pooling."""

    reduction = 8

    def __init__(self, config: LeaeConfig):
        super().__init__()
        widths = [config.in_channels, config.hidden_channels, 2 * config.hidden_channels, 4 * config.hidden_channels]
        self.stages = nn.Sequential(
            *(
                nn.Sequential(
                    nn.Conv2d(widths[i], widths[i + 1], kernel_size=3, stride=2, padding=1),
                    nn.BatchNorm2d(widths[i + 1]),
                    nn.SiLU(),
                )
                for i in range(3)
            )
        )

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.stages(pixel_values).mean(dim=(2, 3), keepdim=True)


def _import_timm(backbone: str):
    """timm, imported where a timm backbone is used and only there: inside `try` (which transformers' remote-code
    import scan skips), so a published repo of a conv model loads with torch and transformers alone."""
    try:
        import timm
    except ImportError as error:
        raise ImportError(f"encoder_backbone={backbone!r} needs timm: pip install timm") from error
    return timm


class LeaeTimmBackbone(nn.Module):
    """Any timm model as the feature extractor (`features_only`, last stage), projected by a 1×1 conv to C_map.

    Built with `pretrained=False`, so constructing it never downloads; see [`LeaeModel.load_pretrained_backbone`].
    """

    def __init__(self, config: LeaeConfig):
        super().__init__()
        self.backbone = _import_timm(config.encoder_backbone).create_model(
            config.encoder_backbone,
            pretrained=False,
            features_only=True,
            out_indices=(-1,),
            in_chans=config.in_channels,
            **(config.encoder_backbone_kwargs or {}),
        )
        self.reduction = int(self.backbone.feature_info.reduction()[-1])
        self.channels_last_output = str(getattr(self.backbone, "output_fmt", "NCHW")).endswith("NHWC")
        self.proj = nn.Conv2d(int(self.backbone.feature_info.channels()[-1]), config.map_channels, kernel_size=1)
        for module in self.backbone.modules():
            module._leae_timm_module = True  # keeps timm's own init (see LeaePreTrainedModel._init_weights)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        features = self.backbone(pixel_values)[-1]
        if self.channels_last_output:
            features = features.permute(0, 3, 1, 2)
        return self.proj(features)


class LeaeEncoder(nn.Module):
    """Backbone, optional pooling through one linear layer, and the latent norm (batch norm, layer norms or none).

    Takes any float tensor (no input checks), so recipes can call it on views outside [0, 1]; [`LeaeModel.encode`]
    is the checked public entry point.
    """

    def __init__(self, config: LeaeConfig):
        super().__init__()
        self.config = config
        if config.encoder_type == "plain":
            self.backbone: nn.Module = LeaePlainBackbone(config)
        else:
            self.backbone = LeaeTimmBackbone(config) if config.encoder_backbone else LeaeConvBackbone(config)
        self.map_size = 1 if config.encoder_type == "plain" else config.image_size // self.backbone.reduction
        if config.latent_type == "pooled":
            self.to_latent = nn.Linear(config.map_channels * self.map_size**2, config.latent_channels)
        if config.latent_norm == "batchnorm":
            norm_class = nn.BatchNorm2d if config.latent_type == "spatial" else nn.BatchNorm1d
            self.latent_norm = norm_class(
                config.latent_channels, eps=config.latent_norm_eps, momentum=config.latent_norm_momentum
            )
        elif config.latent_norm == "layernorm":
            self.latent_norm = nn.Sequential(
                *(
                    nn.LayerNorm(config.latent_channels, eps=config.latent_norm_eps)
                    for _ in range(config.latent_norm_layers)
                )
            )

    def normalize(self, latents: torch.Tensor, norm_mode: NormMode = "auto") -> torch.Tensor:
        """Apply the latent norm. For a batch norm, `norm_mode` chooses batch or running statistics (see `NormMode`);
        layer norms standardise each latent on its own, whatever the mode."""
        if self.config.latent_norm == "none":
            return latents
        if self.config.latent_norm == "layernorm":
            return self.latent_norm(latents)
        norm = self.latent_norm
        if norm_mode == "auto":
            return norm(latents)
        use_batch = norm_mode == "batch"
        return F.batch_norm(
            latents,
            None if use_batch else norm.running_mean,
            None if use_batch else norm.running_var,
            norm.weight,
            norm.bias,
            training=use_batch,
            momentum=0.0,
            eps=norm.eps,
        )

    def forward(self, pixel_values: torch.Tensor, norm_mode: NormMode = "auto") -> torch.Tensor:
        """Latents of `pixel_values`: `[B, C, h, w]` (spatial) or `[B, D]` (pooled)."""
        features = self.backbone(pixel_values)  # [B, C_map, H/r, W/r]
        if self.config.latent_type == "pooled":
            features = self.to_latent(features.flatten(1))  # [B, D]
        return self.normalize(features, norm_mode)


class LeaeDecoder(nn.Module):
    """Mirror of the encoder: [optional linear back to the map], up blocks, then nearest ×2 + 3×3 conv + sigmoid.

    The number of up blocks follows the encoder's stride r: log2(r) − 1 blocks, then the head's ×2.
    Widths: 2·hidden for every block but the last, which has `hidden` channels.
    """

    def __init__(self, config: LeaeConfig, reduction: int):
        super().__init__()
        self.config = config
        self.map_size = config.image_size // reduction
        hidden = config.hidden_channels
        if config.latent_type == "pooled":
            self.from_latent = nn.Linear(config.latent_channels, config.map_channels * self.map_size**2)
        num_blocks = int(math.log2(reduction)) - 1
        widths = [config.map_channels] + [2 * hidden] * (num_blocks - 1) + [hidden]
        self.up_blocks = nn.ModuleList(LeaeUpBlock(widths[i], widths[i + 1]) for i in range(num_blocks))
        self.head = nn.Conv2d(hidden, config.in_channels, kernel_size=3, padding=1)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        hidden = latents
        if self.config.latent_type == "pooled":
            hidden = self.from_latent(latents).view(-1, self.config.map_channels, self.map_size, self.map_size)
        for block in self.up_blocks:
            hidden = block(hidden)
        return torch.sigmoid(self.head(F.interpolate(hidden, scale_factor=2.0, mode="nearest")))


class LeaePreTrainedModel(PreTrainedModel):
    config_class = LeaeConfig
    base_model_prefix = "leae"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True  # the residual blocks recompute their activations in the backward pass
    _no_split_modules = ["LeaeDownBlock", "LeaeUpBlock"]

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | None,
        *model_args: Any,
        allow_missing_weights: bool = False,
        allow_non_finite_weights: bool = False,
        allow_other_model_type: bool = False,
        **kwargs: Any,
    ):
        """`PreTrainedModel.from_pretrained`, refusing weights that would load silently wrong: a config of another
        `model_type` (transformers only warns) unless `allow_other_model_type=True`, a checkpoint that lacks some of
        the model's weights (encoder-only weights, another architecture; transformers would initialise them at random
        with a warning) unless `allow_missing_weights=True`, and NaN or inf weights unless
        `allow_non_finite_weights=True`."""
        if not allow_other_model_type and kwargs.get("config") is None and pretrained_model_name_or_path is not None:
            where = ("revision", "cache_dir", "token", "local_files_only", "subfolder", "force_download")
            found, _ = cls.config_class.get_config_dict(
                pretrained_model_name_or_path, **{key: kwargs[key] for key in where if key in kwargs}
            )
            if found.get("model_type") != cls.config_class.model_type:
                raise ValueError(
                    f"{pretrained_model_name_or_path} holds a model of type {found.get('model_type')!r}, not "
                    f"{cls.config_class.model_type!r}: load it with its own class (AutoModel), or pass "
                    "allow_other_model_type=True to try anyway."
                )
        wants_info = kwargs.pop("output_loading_info", False)
        model, info = super().from_pretrained(
            pretrained_model_name_or_path, *model_args, output_loading_info=True, **kwargs
        )
        missing = sorted(info.get("missing_keys") or [])
        if missing and not allow_missing_weights:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise ValueError(
                f"{pretrained_model_name_or_path} lacks {len(missing)} of the model's weights ({shown}): it holds "
                "another architecture or only part of the model. Pass allow_missing_weights=True to initialise them "
                "at random."
            )
        if not allow_non_finite_weights:
            broken = [name for name, tensor in model.state_dict().items() if not torch.isfinite(tensor).all()]
            if broken:
                raise ValueError(
                    f"{pretrained_model_name_or_path} has NaN or inf weights in {', '.join(broken[:5])}: the "
                    "checkpoint is broken (a diverged run?). Pass allow_non_finite_weights=True to load it anyway."
                )
        return (model, info) if wants_info else model

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """PyTorch's default init for our convs and linears; timm's own init for a timm backbone.

        Conv/linear weights: U(−b, b) with b = 1/sqrt(fan_in) (kaiming-uniform with a = √5, He et al. 2015), biases
        U(−b, b): what the reference implementation trained with. Inside a timm backbone only the non-persistent
        buffers are rebuilt (they are not in the checkpoint); its weights keep timm's init or come from the file.
        """
        if getattr(module, "_leae_timm_module", False):
            if hasattr(module, "init_non_persistent_buffers"):
                module.init_non_persistent_buffers()
            return
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                fan_in = module.weight[0].numel()
                bound = 1.0 / math.sqrt(fan_in)
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)


class LeaeModel(LeaePreTrainedModel):
    """A self-teaching autoencoder: `encode` images in [0, 1] to latents, `decode` latents back to images.

    Example:

    ```python
    >>> import torch, leae_hub
    >>> from transformers import AutoModel
    >>> model = AutoModel.from_config(leae_hub.LeaeConfig.from_preset("leae-cifar")).eval()
    >>> out = model(torch.rand(2, 3, 32, 32))
    >>> out.reconstruction.shape, out.latents.shape
    (torch.Size([2, 3, 32, 32]), torch.Size([2, 32, 4, 4]))
    ```
    """

    def __init__(self, config: LeaeConfig):
        super().__init__(config)
        config.check_layout()
        self.encoder = LeaeEncoder(config)
        # A globally pooled latent fixes no map size: the plain encoder's decoder starts at image_size / 4.
        reduction = PLAIN_DECODER_STRIDE if config.encoder_type == "plain" else self.encoder.backbone.reduction
        if config.image_size % reduction:
            raise ValueError(
                f"image_size={config.image_size} must be divisible by the encoder's stride {reduction} "
                f"(encoder_backbone={config.encoder_backbone!r}): use a multiple of {reduction}."
            )
        if reduction < 2 or reduction & (reduction - 1):
            raise ValueError(f"the encoder's stride must be a power of two ≥ 2 for the decoder, got {reduction}.")
        self.decoder = LeaeDecoder(config, reduction)
        self.post_init()

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """Shape of one image's latent: (C, h, w) for a spatial latent, (D,) for a pooled one."""
        if self.config.latent_type == "pooled":
            return (self.config.latent_channels,)
        size = self.encoder.map_size
        return (self.config.latent_channels, size, size)

    @property
    def compression_ratio(self) -> float:
        """Input values per latent value at `image_size`."""
        return self.config.in_channels * self.config.image_size**2 / math.prod(self.latent_shape)

    def _prepare_pixel_values(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Check images and cast floating ones to the model's dtype (float64, fp16 or bf16 inputs to an fp32 model)."""
        if not isinstance(pixel_values, torch.Tensor):
            raise TypeError(
                f"pixel_values must be a torch.Tensor, got {type(pixel_values).__name__}: "
                "use LeaeImageProcessor to turn PIL images or arrays into pixel_values."
            )
        if not pixel_values.is_floating_point():
            raise TypeError(
                f"pixel_values must be a float tensor in [0, 1], got dtype {pixel_values.dtype}: "
                "convert with pixel_values.float() / 255 or use LeaeImageProcessor."
            )
        if pixel_values.ndim != 4:
            hint = " Add a batch dimension with pixel_values.unsqueeze(0)." if pixel_values.ndim == 3 else ""
            raise ValueError(f"pixel_values must have shape [B, C, H, W], got {tuple(pixel_values.shape)}.{hint}")
        _check_real_batch(pixel_values, "pixel_values")
        channels, height, width = pixel_values.shape[1:]
        if channels != self.config.in_channels:
            raise ValueError(
                f"pixel_values has {channels} channels but the model expects in_channels={self.config.in_channels}: "
                "convert the images (LeaeImageProcessor does it)."
            )
        if (height, width) != (self.config.image_size, self.config.image_size):
            raise ValueError(
                f"pixel_values has spatial size {height}×{width} but the model expects "
                f"{self.config.image_size}×{self.config.image_size}: resize with LeaeImageProcessor."
            )
        pixel_values = pixel_values.to(self.dtype)
        if torch.compiler.is_compiling():  # the value checks below read the data: skipped in compiled/exported graphs
            return pixel_values
        if not torch.isfinite(pixel_values).all():
            raise ValueError("pixel_values contains NaN or inf: clean the input before encoding.")
        low, high = pixel_values.aminmax()
        if high > 1.0 + 1e-3 or low < -1e-3:
            hint = " They look like 0–255 values: divide by 255." if high > 2.0 else ""
            raise ValueError(
                f"pixel_values must lie in [0, 1], got values in [{low.item():.3g}, {high.item():.3g}].{hint}"
            )
        return pixel_values

    def _return_dict(self, return_dict: bool | None) -> bool:
        return self.config.return_dict if return_dict is None else return_dict

    def encode(
        self, pixel_values: torch.Tensor, norm_mode: NormMode = "auto", return_dict: bool | None = None
    ) -> LeaeEncoderOutput | tuple[torch.Tensor]:
        """Encode images `[B, C, H, W]` in [0, 1] to latents (`[B, C, h, w]` spatial or `[B, D]` pooled)."""
        pixel_values = self._prepare_pixel_values(pixel_values)
        if norm_mode not in NORM_MODES:
            raise ValueError(f"norm_mode must be one of {', '.join(NORM_MODES)}, got {norm_mode!r}.")
        latents = self.encoder(pixel_values, norm_mode)
        return LeaeEncoderOutput(latents=latents) if self._return_dict(return_dict) else (latents,)

    def decode(self, latents: torch.Tensor, return_dict: bool | None = None) -> LeaeDecoderOutput | tuple[torch.Tensor]:
        """Decode latents to images `[B, C, H, W]` in [0, 1]. Floating latents are cast to the model's dtype."""
        expected = self.latent_shape
        if not isinstance(latents, torch.Tensor) or tuple(latents.shape[1:]) != expected:
            shape = tuple(latents.shape) if isinstance(latents, torch.Tensor) else type(latents).__name__
            raise ValueError(f"latents must have shape [B, {', '.join(map(str, expected))}], got {shape}.")
        if not latents.is_floating_point():
            raise TypeError(f"latents must be a float tensor, got dtype {latents.dtype}: pass latents.float().")
        _check_real_batch(latents, "latents")
        latents = latents.to(self.dtype)
        if not torch.compiler.is_compiling() and not torch.isfinite(latents).all():
            raise ValueError("latents contain NaN or inf: decode finite latents (check what produced them).")
        reconstruction = self.decoder(latents)
        return LeaeDecoderOutput(reconstruction=reconstruction) if self._return_dict(return_dict) else (reconstruction,)

    def forward(
        self, pixel_values: torch.Tensor, return_dict: bool | None = None
    ) -> LeaeModelOutput | tuple[torch.Tensor, torch.Tensor]:
        """Reconstruct images: x̂ = D(E(x)). Returns the reconstruction and the latents (a tuple in that order with
        `return_dict=False`)."""
        pixel_values = self._prepare_pixel_values(pixel_values)
        latents = self.encoder(pixel_values)
        reconstruction = self.decoder(latents)
        if not self._return_dict(return_dict):
            return reconstruction, latents
        return LeaeModelOutput(reconstruction=reconstruction, latents=latents)

    @torch.no_grad()
    def inpaint(self, pixel_values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Fill the holes of `pixel_values` where `mask` is 1 (1 = hole, 0 = keep, as in diffusers).

        The hole is first filled with the per-channel mean of the visible pixels, the result is reconstructed, and the
        known pixels are pasted back, so they are returned exactly: out = m ⊙ D(E(x̃)) + (1 − m) ⊙ x. It always runs
        in eval mode (running batch-norm statistics, left unchanged), also on a model in training mode, and without
        autograd (an inference method: no graph is kept, whatever the caller's grad mode).
        """
        pixel_values = self._prepare_pixel_values(pixel_values)
        expected = (pixel_values.shape[0], 1, *pixel_values.shape[2:])
        if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != expected:
            shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise ValueError(f"mask must have shape {list(expected)} (1 = hole, 0 = keep), got {shape}.")
        mask = mask.to(pixel_values.dtype)
        if ((mask != 0) & (mask != 1)).any():
            raise ValueError("mask must contain only 0 (keep) and 1 (hole): threshold it, e.g. (mask > 0.5).float().")
        hole_area = mask.flatten(1).sum(dim=1)
        if (hole_area == 0).any():
            raise ValueError("mask is empty for at least one image: mark the hole to fill with 1.")
        if (hole_area == mask[0].numel()).any():
            raise ValueError("mask covers the whole image for at least one image: keep some pixels (0).")
        keep = 1.0 - mask
        visible_mean = (pixel_values * keep).sum(dim=(2, 3), keepdim=True) / keep.sum(dim=(2, 3), keepdim=True)
        filled = pixel_values * keep + visible_mean * mask
        was_training = self.training
        self.eval()
        try:
            reconstruction = self.decoder(self.encoder(filled))
        finally:
            self.train(was_training)
        return reconstruction * mask + pixel_values * keep

    def load_pretrained_backbone(self, **timm_kwargs) -> None:
        """Load timm's pretrained weights into a timm encoder backbone (needs the internet or timm's cache).

        Only the backbone changes; the projection, the latent norm and the decoder keep their weights. Extra keyword
        arguments go to `timm.create_model` (for example `pretrained_cfg_overlay=dict(file="weights.safetensors")`).
        """
        if not self.config.encoder_backbone:
            raise ValueError("load_pretrained_backbone needs a timm encoder: set encoder_backbone in the config.")
        pretrained = _import_timm(self.config.encoder_backbone).create_model(
            self.config.encoder_backbone,
            pretrained=True,
            features_only=True,
            out_indices=(-1,),
            in_chans=self.config.in_channels,
            **{**(self.config.encoder_backbone_kwargs or {}), **timm_kwargs},
        )
        self.encoder.backbone.backbone.load_state_dict(pretrained.state_dict())


__all__ = [
    "LeaeDecoderOutput",
    "LeaeEncoderOutput",
    "LeaeModel",
    "LeaeModelOutput",
    "LeaePreTrainedModel",
]
