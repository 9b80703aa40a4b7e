"""The bijection between physical parameters in a box [low, high] and standardised reals.

Flows work on R^k (NSF splines act on [-5, 5]), so a bounded parameter is first mapped to R
with a logit, then z-scored with statistics of the training set. Unbounded dimensions
(low = -inf and high = +inf) skip the logit. The transform is a
:class:`torch.distributions.Transform`, so the log-determinant that turns a density over the
standardised variable into a density in physical units is part of it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Transform, constraints

from cardiosbi.errors import ConfigError

# Work in float64: in float32 a value within ~1e-7 of a bound rounds onto it and its logit is inf.
_EPS = 1e-12


def check_bounds(low: Tensor, high: Tensor) -> None:
    """Each dimension must be a finite box (low < high) or fully unbounded (-inf, inf)."""
    bounded = torch.isfinite(low) & torch.isfinite(high)
    unbounded = torch.isneginf(low) & torch.isposinf(high)
    if not bool((bounded | unbounded).all()):
        raise ConfigError("parameter bounds must be finite (low < high) or (-inf, inf) per dimension")
    if not bool((high[bounded] > low[bounded]).all()):
        raise ConfigError("every parameter needs low < high")


class BoxToStandard(Transform):
    """Physical theta in [low, high]^k -> logit -> (u - mean) / std.  ``event_dim = 1``."""

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, low: Tensor, high: Tensor, mean: Tensor, std: Tensor, cache_size: int = 0):
        super().__init__(cache_size=cache_size)
        self.low, self.high, self.mean, self.std = low, high, mean, std
        self.bounded = torch.isfinite(low) & torch.isfinite(high)

    def __eq__(self, other: object) -> bool:
        return self is other

    def _unconstrain(self, theta: Tensor) -> Tensor:
        """Physical -> R (logit on bounded dimensions), in float64."""
        theta = theta.double()
        low, high = self.low.double(), self.high.double()
        unit = ((theta - low) / (high - low)).clamp(_EPS, 1 - _EPS)
        return torch.where(self.bounded, torch.logit(unit), theta)

    def _call(self, theta: Tensor) -> Tensor:
        u = self._unconstrain(theta)
        return ((u - self.mean.double()) / self.std.double()).to(theta.dtype)

    def _inverse(self, z: Tensor) -> Tensor:
        u = z.double() * self.std.double() + self.mean.double()
        low, high = self.low.double(), self.high.double()
        theta = torch.where(self.bounded, low + (high - low) * torch.sigmoid(u), u)
        return theta.to(z.dtype)

    def log_abs_det_jacobian(self, theta: Tensor, z: Tensor) -> Tensor:
        """log |d z / d theta| summed over parameters; -inf outside the box."""
        t = theta.double()
        low, high = self.low.double(), self.high.double()
        unit = (t - low) / (high - low)
        inside = (unit > 0) & (unit < 1)
        safe = torch.where(inside, unit, torch.full_like(unit, 0.5))
        # d logit(unit)/d theta = 1 / (unit (1 - unit) (high - low))
        bounded_term = -(torch.log(safe) + torch.log1p(-safe) + torch.log(high - low))
        bounded_term = torch.where(inside, bounded_term, torch.full_like(unit, -math.inf))
        per_dim = torch.where(self.bounded, bounded_term, torch.zeros_like(t))
        return (per_dim - torch.log(self.std.double())).sum(dim=-1).to(theta.dtype)

    def unconstrained(self, theta: Tensor) -> Tensor:
        """The logit-space value before z-scoring (used to fit ``mean`` and ``std``)."""
        return self._unconstrain(theta).to(theta.dtype)
