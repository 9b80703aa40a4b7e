"""Embeddings for vector data ``(B, D)``: identity (summary statistics already) or an MLP."""

from __future__ import annotations

from collections.abc import Sequence

import zuko
from torch import Tensor, nn


class MLPEmbedding(nn.Module):
    """Fully connected network with ELU activations mapping ``(B, D)`` to ``(B, features)``."""

    def __init__(self, in_features: int, features: int, hidden: Sequence[int] = (128, 128)) -> None:
        super().__init__()
        self.net = zuko.nn.MLP(in_features, features, hidden, activation=nn.ELU)
        self.out_features = features

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class IdentityEmbedding(nn.Module):
    """Passes (standardised) vectors through unchanged; ``out_features`` is the input size."""

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.out_features = in_features

    def forward(self, x: Tensor) -> Tensor:
        return x
