"""Feature standardisation with statistics fitted once on training data and saved as buffers."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Standardize(nn.Module):
    """``(x - mean) / std`` per feature (vectors, ``(B, D)``) or per channel (series, ``(B, C, T)``).

    The statistics are buffers, so they travel with the weights in every saved posterior.
    NaNs (missing samples) are ignored when fitting and stay NaN when applied; a later
    :class:`~cardiosbi.nn.missing.MissingDataMask` turns them into zeros plus an indicator.
    """

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        stat_shape = (shape[0], 1) if len(shape) == 2 else (shape[0],)
        self.register_buffer("mean", torch.zeros(stat_shape))
        self.register_buffer("std", torch.ones(stat_shape))

    @torch.no_grad()
    def fit(self, x: Tensor) -> Standardize:
        """Set mean and std from a sample ``x`` of shape ``(N, *shape)`` (NaN-aware)."""
        flat = x.transpose(0, 1).reshape(x.shape[1], -1) if x.dim() == 3 else x.T
        finite = torch.isfinite(flat)
        count = finite.sum(dim=1).clamp(min=1)
        values = torch.where(finite, flat, torch.zeros_like(flat)).double()
        mean = values.sum(dim=1) / count
        var = (torch.where(finite, values - mean[:, None], 0.0) ** 2).sum(dim=1) / count
        # Constant features (e.g. an unused channel) keep unit scale instead of dividing by 0.
        std = torch.where(var.sqrt() > 1e-8, var.sqrt(), torch.ones_like(var))
        self.mean.copy_(mean.reshape(self.mean.shape).to(self.mean.dtype))
        self.std.copy_(std.reshape(self.std.shape).to(self.std.dtype))
        return self

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std
