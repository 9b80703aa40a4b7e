"""Binary-indicator augmentation for missing data: NaN samples become 0 plus a mask channel.

Amortised inference stays usable on windows with gaps or rejected stretches when the network
sees *where* data are missing instead of imputed values (Wang et al., 2024, "Missing data in
amortized simulation-based neural posterior estimation"; BayesFlow's NanToNum with mask).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MissingDataMask(nn.Module):
    """Replace non-finite entries by 0 and append one observed(1)/missing(0) indicator per channel.

    Series ``(B, C, T)`` become ``(B, 2C, T)``; vectors ``(B, D)`` become ``(B, 2D)``.
    """

    def forward(self, x: Tensor) -> Tensor:
        observed = torch.isfinite(x)
        filled = torch.where(observed, x, torch.zeros_like(x))
        dim = 1
        return torch.cat([filled, observed.to(x.dtype)], dim=dim)

    @staticmethod
    def out_channels(channels: int) -> int:
        return 2 * channels
