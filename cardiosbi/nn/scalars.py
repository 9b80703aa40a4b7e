"""Per-window scalars beside a waveform: channels that are constant in time skip the CNN.

Some inputs are one number per window (the log DC of each LED, a relative pulse amplitude).
Fed as constant channels through a CNN whose GroupNorm normalises each window over all its
channels and samples, their absolute level is divided away; here they bypass the body and join
its features in a small head instead.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SeriesWithScalars(nn.Module):
    """``(B, C, T)`` -> ``(B, features)``: the first ``C - n_scalars`` channels go through
    ``body``; the last ``n_scalars`` (constant over time; their time mean is used) join its
    output in a two-layer head."""

    def __init__(self, body: nn.Module, n_scalars: int, features: int) -> None:
        super().__init__()
        self.body = body
        self.n_scalars = n_scalars
        self.head = nn.Sequential(nn.Linear(body.out_features + n_scalars, features), nn.GELU(),
                                  nn.Linear(features, features))
        self.out_features = features

    def forward(self, x: Tensor) -> Tensor:
        series, scalars = x[:, :-self.n_scalars], x[:, -self.n_scalars:].mean(dim=-1)
        return self.head(torch.cat([self.body(series), scalars], dim=-1))
