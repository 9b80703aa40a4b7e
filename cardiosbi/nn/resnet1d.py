"""1-D residual CNN: the default embedding for multichannel waveform windows ``(B, C, T)``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class ResidualBlock1d(nn.Module):
    """Two convolutions with a skip connection; ``stride`` > 1 halves the time axis.

    GroupNorm (one group) instead of BatchNorm keeps outputs independent of the batch, so
    training and evaluation agree and results do not depend on the batch size.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        padding = kernel_size // 2
        self.body = nn.Sequential(
            nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, padding=padding),
            nn.GroupNorm(1, out_channels),
            nn.GELU(),
            nn.Conv1d(out_channels, out_channels, kernel_size, padding=padding),
            nn.GroupNorm(1, out_channels),
        )
        self.skip = (
            nn.Identity()
            if in_channels == out_channels and stride == 1
            else nn.Conv1d(in_channels, out_channels, 1, stride=stride)
        )
        self.activation = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(self.body(x) + self.skip(x))


class ResNet1dEmbedding(nn.Module):
    """Stem convolution, one strided residual block per stage, then mean+max pooling over time.

    Pooling over time makes the network accept any window length; concatenating the mean and
    the maximum keeps both level and peak information (systolic peaks, pulse amplitude).
    """

    def __init__(
        self,
        in_channels: int,
        features: int,
        channels: Sequence[int] = (16, 32, 64, 64),
        kernel_size: int = 7,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv1d(in_channels, channels[0], kernel_size, padding=kernel_size // 2), nn.GELU()
        )
        blocks = []
        width = channels[0]
        for size in channels:
            blocks.append(ResidualBlock1d(width, size, kernel_size, stride=2))
            width = size
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(2 * width, features)
        self.out_features = features

    def forward(self, x: Tensor) -> Tensor:
        h = self.blocks(self.stem(x))
        pooled = torch.cat([h.mean(dim=-1), h.amax(dim=-1)], dim=-1)
        return self.head(pooled)
