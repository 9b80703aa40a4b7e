"""Temporal convolutional network (dilated causal convolutions): the alternative series embedding."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional


class CausalConv1d(nn.Conv1d):
    """A convolution that only looks back in time (left padding of ``dilation * (k - 1)``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation)
        self.left_padding = dilation * (kernel_size - 1)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(functional.pad(x, (self.left_padding, 0)))


class TemporalBlock(nn.Module):
    """Two dilated causal convolutions with a residual connection (Bai et al., 2018)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            CausalConv1d(in_channels, out_channels, kernel_size, dilation),
            nn.GroupNorm(1, out_channels),
            nn.GELU(),
            CausalConv1d(out_channels, out_channels, kernel_size, dilation),
            nn.GroupNorm(1, out_channels),
        )
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv1d(in_channels, out_channels, 1)
        self.activation = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(self.body(x) + self.skip(x))


class TCNEmbedding(nn.Module):
    """Stack of temporal blocks with dilations 1, 2, 4, ...; the receptive field grows as 2^L.

    An initial strided average pooling (``downsample``) shortens long windows cheaply before
    the dilated stack; the output is mean+max pooled over time and projected to ``features``.
    """

    def __init__(
        self,
        in_channels: int,
        features: int,
        channels: Sequence[int] = (32, 32, 32, 32, 32, 32),
        kernel_size: int = 3,
        downsample: int = 4,
    ) -> None:
        super().__init__()
        self.pool = nn.AvgPool1d(downsample) if downsample > 1 else nn.Identity()
        blocks = []
        width = in_channels
        for level, size in enumerate(channels):
            blocks.append(TemporalBlock(width, size, kernel_size, dilation=2**level))
            width = size
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(2 * width, features)
        self.out_features = features

    def forward(self, x: Tensor) -> Tensor:
        h = self.blocks(self.pool(x))
        return self.head(torch.cat([h.mean(dim=-1), h.amax(dim=-1)], dim=-1))
