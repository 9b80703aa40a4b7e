"""Build the embedding network named in a config: standardisation, missing-data mask, body."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor, nn

from cardiosbi.errors import ConfigError
from cardiosbi.nn.missing import MissingDataMask
from cardiosbi.nn.mlp import IdentityEmbedding, MLPEmbedding
from cardiosbi.nn.resnet1d import ResNet1dEmbedding
from cardiosbi.nn.scalars import SeriesWithScalars
from cardiosbi.nn.standardize import Standardize
from cardiosbi.nn.tcn import TCNEmbedding
from cardiosbi.nn.transformer import TransformerEmbedding

SERIES_KINDS = ("resnet1d", "tcn", "transformer")
VECTOR_KINDS = ("identity", "mlp")


@dataclass
class EmbeddingConfig:
    """Embedding network settings (hydra group ``model``, key ``embedding``).

    ``kind``: auto (resnet1d for (C, T) series, identity for vectors), resnet1d, tcn,
    transformer, mlp, identity. ``channels``: conv widths per stage (resnet1d) or per level
    (tcn); the transformer uses ``channels[-1]`` as its token width, ``len(channels)`` layers
    and patches of ``patch`` samples.
    ``missing_mask``: accept NaN samples (missing data) and add an indicator channel.
    ``scalar_channels``: the last this many channels of a series are per-window constants
    (e.g. log DC per LED); they bypass the series body (:class:`SeriesWithScalars`).
    """

    kind: str = "auto"
    features: int = 64
    hidden: list[int] = field(default_factory=lambda: [128, 128])
    channels: list[int] = field(default_factory=lambda: [16, 32, 64, 64])
    kernel_size: int = 7
    tcn_downsample: int = 4
    patch: int = 25
    missing_mask: bool = False
    scalar_channels: int = 0


class EmbeddingNet(nn.Module):
    """Standardise, optionally mask missing values, then apply the body: ``x -> (B, E)``."""

    def __init__(self, standardize: nn.Module, mask: nn.Module, body: nn.Module) -> None:
        super().__init__()
        self.standardize = standardize
        self.mask = mask
        self.body = body
        self.out_features: int = body.out_features

    def forward(self, x: Tensor) -> Tensor:
        return self.body(self.mask(self.standardize(x)))


def resolve_kind(config: EmbeddingConfig, x_shape: tuple[int, ...]) -> str:
    """The concrete embedding kind for data of per-row shape ``x_shape``."""
    if len(x_shape) not in (1, 2):
        raise ConfigError(f"x must be (N, D) vectors or (N, C, T) series, got per-row shape {x_shape}")
    is_series = len(x_shape) == 2
    kind = config.kind
    if kind == "auto":
        return "resnet1d" if is_series else "identity"
    valid = SERIES_KINDS if is_series else VECTOR_KINDS
    if kind not in valid:
        what = "(C, T) series" if is_series else "(D,) vectors"
        raise ConfigError(f"model.embedding.kind={kind!r} does not fit {what}; use one of {', '.join(valid)}")
    return kind


def build_embedding(config: EmbeddingConfig, x_shape: tuple[int, ...]) -> EmbeddingNet:
    """An :class:`EmbeddingNet` for rows of shape ``x_shape``; fit its standardiser afterwards."""
    kind = resolve_kind(config, x_shape)
    scalars = _scalar_channels(config, kind, x_shape)
    width = x_shape[0] - scalars
    mask: nn.Module = nn.Identity()
    if config.missing_mask:
        mask = MissingDataMask()
        width = MissingDataMask.out_channels(width)
    if kind == "resnet1d":
        body: nn.Module = ResNet1dEmbedding(width, config.features, config.channels, config.kernel_size)
    elif kind == "tcn":
        body = TCNEmbedding(width, config.features, config.channels, config.kernel_size, config.tcn_downsample)
    elif kind == "transformer":
        if x_shape[1] < config.patch or config.channels[-1] % 4:
            raise ConfigError(
                f"transformer embedding needs windows of at least model.embedding.patch={config.patch} "
                f"samples (got {x_shape[1]}) and a token width channels[-1] divisible by 4 heads"
            )
        body = TransformerEmbedding(width, config.features, width=config.channels[-1],
                                    layers=len(config.channels), patch=config.patch)
    elif kind == "mlp":
        body = MLPEmbedding(width, config.features, config.hidden)
    else:
        body = IdentityEmbedding(width)
    if scalars:
        body = SeriesWithScalars(body, scalars, config.features)
    return EmbeddingNet(Standardize(x_shape), mask, body)


def _scalar_channels(config: EmbeddingConfig, kind: str, x_shape: tuple[int, ...]) -> int:
    n = config.scalar_channels
    if n == 0:
        return 0
    if kind not in SERIES_KINDS or not 0 < n < x_shape[0]:
        raise ConfigError(f"model.embedding.scalar_channels={n} needs (C, T) series with more than "
                          f"{n} channels, got per-row shape {x_shape}")
    if config.missing_mask:
        raise ConfigError("model.embedding.scalar_channels does not combine with missing_mask")
    return n
