"""Transformer encoder over patches of a multichannel series (a third series embedding)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sinusoidal_positions(length: int, width: int, device, dtype) -> Tensor:
    """Fixed sine/cosine position codes (length, width), so any window length works."""
    position = torch.arange(length, device=device, dtype=dtype)[:, None]
    frequency = torch.exp(torch.arange(0, width, 2, device=device, dtype=dtype) * (-math.log(1e4) / width))
    codes = torch.zeros(length, width, device=device, dtype=dtype)
    codes[:, 0::2] = torch.sin(position * frequency)
    codes[:, 1::2] = torch.cos(position * frequency[: width // 2])
    return codes


class TransformerEmbedding(nn.Module):
    """Non-overlapping patches of ``patch`` samples -> linear tokens -> encoder -> mean pool.

    Patching keeps attention cost low (a 1,000-sample window at patch 25 is 40 tokens).
    Dropout is off so that training and evaluation give the same embedding.
    """

    def __init__(
        self, in_channels: int, features: int, width: int = 64, layers: int = 2,
        heads: int = 4, patch: int = 25,
    ) -> None:
        super().__init__()
        self.tokens = nn.Conv1d(in_channels, width, kernel_size=patch, stride=patch)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, features))
        self.out_features = features

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.tokens(x).transpose(1, 2)  # (B, L, width)
        tokens = tokens + sinusoidal_positions(tokens.shape[1], tokens.shape[2], x.device, x.dtype)
        return self.head(self.encoder(tokens).mean(dim=1))
