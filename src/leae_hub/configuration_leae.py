"""Configuration of the self-teaching autoencoder (leae).

This file is self-contained (it imports only `transformers` and `huggingface_hub`), because `save_pretrained` copies it
next to the weights so that `trust_remote_code=True` works where `leae_hub` is not installed.
"""

from __future__ import annotations

from typing import Any, Literal

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig
from transformers.utils import logging

logger = logging.get_logger(__name__)

# Reference architectures (design §1). Parameter counts are pinned by the tests:
# leae-2m 2,126,083 · leae-11m 11,153,155 · leae-36m 36,320,131 · leae-cifar 580,291 · leae-mnist 2,223,105.
_PRESETS: dict[str, dict[str, Any]] = {
    "leae-2m": {
        "image_size": 128,
        "hidden_channels": 128,
        "latent_type": "spatial",
        "latent_channels": 32,
    },
    "leae-11m": {
        "image_size": 128,
        "hidden_channels": 128,
        "latent_type": "pooled",
        "latent_channels": 128,
        "pooled_map_channels": 128,
    },
    "leae-36m": {
        "image_size": 128,
        "hidden_channels": 128,
        "latent_type": "pooled",
        "latent_channels": 512,
        "pooled_map_channels": 128,
    },
    "leae-cifar": {
        "image_size": 32,
        "hidden_channels": 64,
        "latent_type": "spatial",
        "latent_channels": 32,
    },
    # The MNIST JEPA encoder of the second seed report: three stride-2 3×3 convs (64/128/256) with batch norm and
    # SiLU, global average pooling, a 128-d embedding; 28 px grey digits.
    "leae-mnist": {
        "image_size": 28,
        "in_channels": 1,
        "hidden_channels": 64,
        "encoder_type": "plain",
        "latent_type": "pooled",
        "latent_channels": 128,
        "latent_norm": "none",
    },
}
PRESETS: tuple[str, ...] = tuple(_PRESETS)

CONV_ENCODER_STRIDE = 8  # the conv encoder's total stride (stem ×2, two down blocks ×2): the one place it lives
PLAIN_DECODER_STRIDE = 4  # the plain encoder's decoder starts from a map of side image_size / 4
# timm.create_model arguments a config may carry (a config can come from anyone's Hub repo): shapes and
# regularisation only, each a number, a string or a list of numbers.
BACKBONE_KWARGS = frozenset(
    {"img_size", "patch_size", "window_size", "embed_dim", "depth", "depths", "num_heads", "mlp_ratio"}
    | {"drop_rate", "drop_path_rate", "output_stride", "global_pool"}
)
# The largest value of each size field (a downloaded config.json is not trusted: sizes are checked before any weight
# is allocated), and the largest pooled-latent linear layer, map_channels · (image_size / stride)² · latent_channels
# weights (leae-36m: 16.8 M; the limit, 2^27, is 512 MiB in float32).
_INT_LIMITS = {
    "image_size": 4096,
    "in_channels": 64,
    "hidden_channels": 2048,
    "latent_channels": 65536,
    "pooled_map_channels": 4096,
    "latent_norm_layers": 16,
}
MAX_POOLED_WEIGHTS = 2**27
# Keys a config.json may hold that are not LeaeConfig fields: transformers' own bookkeeping (and its older names).
_PASSED_THROUGH = frozenset(
    {
        "auto_map",
        "model_type",
        "transformers_version",
        "custom_pipelines",
        "torch_dtype",
        "num_labels",
        "name_or_path",
        "_name_or_path",
        "_commit_hash",
        "output_attentions",
        "attn_implementation",
        "experts_implementation",
    }
)
_INT_FIELDS = (
    "image_size",
    "in_channels",
    "hidden_channels",
    "latent_channels",
    "pooled_map_channels",
    "latent_norm_layers",
)


@strict
class LeaeConfig(PreTrainedConfig):
    r"""Configuration of a [`LeaeModel`], a convolutional (or timm-backed) autoencoder.

    Encoder (`encoder_type="residual"`): a 4×4 stride-2 stem with SiLU, then two residual down blocks whose shortcut
    has no parameters (space-to-channel by 2, then the mean over groups of channels), giving a map of stride 8. The
    latent is either that map (`latent_type="spatial"`, `latent_channels` channels) or the map flattened through one
    linear layer to a vector (`latent_type="pooled"`, map with `pooled_map_channels` channels, vector of
    `latent_channels` values). `encoder_type="plain"` is the small CNN of the MNIST JEPA run: three 3×3 stride-2
    convs (hidden, 2·hidden, 4·hidden channels), each with batch norm and SiLU, global average pooling, and one linear
    layer to a pooled latent; its decoder starts from a map of side image_size / 4 with 4·hidden channels.
    A batch norm normalises the latent (or, for a pooled latent, `latent_norm_layers` LayerNorms, as the MNIST JEPA
    seed's encoder ends in two; or nothing). The decoder mirrors the encoder with nearest-upsample residual blocks
    (learned 1×1 shortcut) and a sigmoid head, so reconstructions lie in [0, 1].

    Args:
        image_size (`int`, defaults to 128): side of the square input images, divisible by the encoder stride.
        in_channels (`int`, defaults to 3): image channels (3 for RGB, 1 for grey).
        hidden_channels (`int`, defaults to 128): width of the stem; the down blocks use twice this.
        latent_type (`str`, defaults to `"spatial"`): `"spatial"` (a map of stride 8) or `"pooled"` (a vector).
        latent_channels (`int`, defaults to 32): channels of the spatial latent, or length of the pooled latent.
        pooled_map_channels (`int`, defaults to 128): channels of the map that the pooled latent is computed from.
        latent_norm (`str`, defaults to `"batchnorm"`): `"batchnorm"`, `"layernorm"` (each latent vector standardised
            on its own, then scaled and shifted: pooled latents only) or `"none"`.
        latent_norm_momentum (`float`, defaults to 0.1): momentum of the latent batch norm's running statistics.
        latent_norm_eps (`float`, defaults to 1e-5): epsilon of the latent batch norm or layer norms.
        latent_norm_layers (`int`, defaults to 1): how many LayerNorms follow each other with `"layernorm"` (the
            MNIST JEPA seed's encoder has 2).
        encoder_type (`str`, defaults to `"residual"`): `"residual"` (the stem and residual down blocks) or
            `"plain"` (three conv–batch-norm–SiLU stages and global pooling; needs `latent_type="pooled"`).
        encoder_backbone (`str`, *optional*): a timm model name; replaces the conv encoder by that model
            (`features_only`, built with `pretrained=False`, never downloading), projected to the latent by a 1×1 conv.
            The decoder follows the backbone's stride.
        encoder_backbone_kwargs (`dict`, *optional*): extra keyword arguments for `timm.create_model`
            (for example `{"img_size": 64}` for a ViT).

    Example:

    ```python
    >>> from leae_hub import LeaeConfig, LeaeModel
    >>> config = LeaeConfig.from_preset("leae-cifar")
    >>> model = LeaeModel(config)
    ```
    """

    model_type = "leae_autoencoder"

    image_size: int = 128
    in_channels: int = 3
    hidden_channels: int = 128
    latent_type: Literal["spatial", "pooled"] = "spatial"
    latent_channels: int = 32
    pooled_map_channels: int = 128
    latent_norm: Literal["batchnorm", "layernorm", "none"] = "batchnorm"
    latent_norm_momentum: float = 0.1
    latent_norm_eps: float = 1e-5
    latent_norm_layers: int = 1
    encoder_type: Literal["residual", "plain"] = "residual"
    encoder_backbone: str | None = None
    encoder_backbone_kwargs: dict | None = None

    def __post_init__(self, **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - _PASSED_THROUGH)
        if unknown:
            logger.warning(
                "LeaeConfig got keys it does not know: %s. They are kept as attributes but change nothing in the "
                "model; check the config.json (a typo of a field, or another model's config?).",
                unknown,
            )
        super().__post_init__(**kwargs)
        self.check_layout()

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> LeaeConfig:
        """Build the configuration of a reference architecture (see `PRESETS`), with optional field overrides."""
        if name not in _PRESETS:
            raise ValueError(f"Unknown preset {name!r}. Valid presets: {', '.join(PRESETS)}.")
        return cls(**{**_PRESETS[name], **overrides})

    @property
    def map_channels(self) -> int:
        """Channels of the encoder's last feature map (the spatial latent itself, or the map before pooling)."""
        if self.encoder_type == "plain":
            return 4 * self.hidden_channels
        return self.latent_channels if self.latent_type == "spatial" else self.pooled_map_channels

    def check_layout(self) -> None:
        """Raise a `ValueError` (`TypeError` for a wrong type) that names the field and the fix when the fields do not
        fit together."""
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(
                    f"{name} must be an integer, got {value!r} ({type(value).__name__}): e.g. 32, unquoted."
                )
            if value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value}.")
            if value > _INT_LIMITS[name]:
                raise ValueError(
                    f"{name}={value} is larger than leae-hub builds (at most {_INT_LIMITS[name]}): check the "
                    "config.json you loaded."
                )
        if self.latent_type not in ("spatial", "pooled"):
            raise ValueError(f"latent_type must be 'spatial' or 'pooled', got {self.latent_type!r}.")
        if self.latent_norm not in ("batchnorm", "layernorm", "none"):
            raise ValueError(f"latent_norm must be 'batchnorm', 'layernorm' or 'none', got {self.latent_norm!r}.")
        if self.latent_norm == "layernorm" and self.latent_type != "pooled":
            raise ValueError(
                "latent_norm='layernorm' normalises a latent vector, so it needs latent_type='pooled' (got "
                f"{self.latent_type!r}): use latent_norm='batchnorm' for a spatial latent."
            )
        for name in ("latent_norm_momentum", "latent_norm_eps"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
                raise ValueError(f"{name} must be a number in [0, 1), got {value!r}.")
        if self.encoder_type not in ("residual", "plain"):
            raise ValueError(f"encoder_type must be 'residual' or 'plain', got {self.encoder_type!r}.")
        if self.encoder_type == "plain":
            self._check_plain_layout()
            return
        if self.encoder_backbone_kwargs is not None:
            self._check_backbone_kwargs()
        if self.encoder_backbone is not None:
            self._check_backbone_name()
            return
        if self.image_size % CONV_ENCODER_STRIDE:
            lower = self.image_size // CONV_ENCODER_STRIDE * CONV_ENCODER_STRIDE
            raise ValueError(
                f"image_size must be divisible by {CONV_ENCODER_STRIDE}, got {self.image_size}: "
                f"use {max(lower, CONV_ENCODER_STRIDE)} or {lower + CONV_ENCODER_STRIDE}."
            )
        # The second down block's shortcut turns 2·hidden channels into 8·hidden by space-to-channel, then averages
        # groups of them into the map's channels, so those must divide 8·hidden.
        if (8 * self.hidden_channels) % self.map_channels:
            field = "latent_channels" if self.latent_type == "spatial" else "pooled_map_channels"
            raise ValueError(
                f"{field}={self.map_channels} must divide 8 * hidden_channels = {8 * self.hidden_channels} "
                f"(the parameter-free shortcut averages groups of channels): pick a divisor such as "
                f"{_nearest_divisor(8 * self.hidden_channels, self.map_channels)}."
            )
        self._check_pooled_weights(self.image_size // CONV_ENCODER_STRIDE)

    def _check_pooled_weights(self, map_size: int) -> None:
        """Refuse a pooled latent whose linear layer (map → latent, and latent → the decoder's first map) would hold
        more than `MAX_POOLED_WEIGHTS` weights, before anything is allocated."""
        weights = self.map_channels * map_size**2 * self.latent_channels
        if self.latent_type == "pooled" and weights > MAX_POOLED_WEIGHTS:
            raise ValueError(
                f"a pooled latent of {self.latent_channels} from a {self.map_channels}×{map_size}×{map_size} map needs "
                f"a linear layer of {weights:,} weights ({4 * weights / 2**30:.1f} GiB), more than leae-hub builds "
                f"({MAX_POOLED_WEIGHTS:,}): lower image_size or latent_channels, or use latent_type='spatial'."
            )

    def _check_plain_layout(self) -> None:
        if self.encoder_backbone is not None:
            raise ValueError(
                f"encoder_type='plain' is the built-in small CNN and takes no encoder_backbone "
                f"(got {self.encoder_backbone!r}): drop one of the two."
            )
        if self.latent_type != "pooled":
            raise ValueError(
                "encoder_type='plain' pools its map globally, so it needs latent_type='pooled', got "
                f"{self.latent_type!r}."
            )
        if self.image_size % PLAIN_DECODER_STRIDE:
            lower = self.image_size // PLAIN_DECODER_STRIDE * PLAIN_DECODER_STRIDE
            raise ValueError(
                f"image_size must be divisible by {PLAIN_DECODER_STRIDE} for the plain encoder's decoder, got "
                f"{self.image_size}: use {max(lower, PLAIN_DECODER_STRIDE)} or {lower + PLAIN_DECODER_STRIDE}."
            )
        self._check_pooled_weights(self.image_size // PLAIN_DECODER_STRIDE)  # the decoder's latent → map layer

    def _check_backbone_kwargs(self) -> None:
        kwargs = self.encoder_backbone_kwargs
        if not isinstance(kwargs, dict):
            raise TypeError(f"encoder_backbone_kwargs must be a dict, got {type(kwargs).__name__}.")
        unknown = sorted(set(kwargs) - BACKBONE_KWARGS)
        if unknown:
            raise ValueError(
                f"encoder_backbone_kwargs has keys that are not allowed: {unknown}. Allowed (shapes and "
                f"regularisation, passed to timm.create_model): {', '.join(sorted(BACKBONE_KWARGS))}."
            )
        for key, value in kwargs.items():
            items = value if isinstance(value, (list, tuple)) else [value]
            if not all(isinstance(item, (int, float, str)) and not isinstance(item, bool) for item in items):
                raise TypeError(f"encoder_backbone_kwargs[{key!r}] must be a number, a string or a list of numbers.")

    def _check_backbone_name(self) -> None:
        try:
            import timm
        except ImportError:  # the model raises a clearer error when it is built
            return
        if not timm.is_model(self.encoder_backbone):
            close = timm.list_models(f"*{self.encoder_backbone.split('_')[0]}*")[:8]
            hint = f" Similar names: {', '.join(close)}." if close else ""
            raise ValueError(
                f"encoder_backbone={self.encoder_backbone!r} is not a timm model name; see timm.list_models().{hint}"
            )


def _nearest_divisor(number: int, target: int) -> int:
    return min((d for d in range(1, number + 1) if number % d == 0), key=lambda d: abs(d - target))


__all__ = ["CONV_ENCODER_STRIDE", "PLAIN_DECODER_STRIDE", "LeaeConfig", "PRESETS"]
