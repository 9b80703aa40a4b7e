"""The bijection between physical parameters in a box [low, high] and standardised reals.

Flows work on R^k (NSF splines act on [-B, B]), so a bounded parameter is first mapped to R,
then z-scored with statistics of the training set. Three choices (``theta_map``):

- ``logit`` (default): logit of the position in the box. It bends the whole box: a posterior
  that is a fixed shape in physical units (the two-moons crescent) becomes a different shape at
  every position, which the flow has to learn (every model saved before 2026-11-23 uses it).
- ``soft_box``: with the box scaled to u in (-1, 1), y = u for |u| <= 1 - d, and
  y = sign(u) (1 - d + d log(d / (1 - |u|))) beyond: affine in the interior, slope 1 at the
  joint (C1), y -> +-inf at the bounds, so draws map back into the box without rejection and
  the density stays exact. ``d`` is :data:`SOFT_BOX_MARGIN`.
- ``truncated``: no map, z-scoring only, as sbi does. Not a bijection onto the box: the flow
  puts some mass outside it, so the posterior (:class:`~cardiosbi.inference.npe_posterior.NPEPosterior`)
  rejects draws outside the box and divides the density by the in-box mass, estimated by Monte
  Carlo per window. The flow then learns the posterior's shape in physical units everywhere.

Unbounded dimensions (low = -inf and high = +inf) skip the map. The transform is a
:class:`torch.distributions.Transform`, so the log-determinant that turns a density over the
standardised variable into a density in physical units is part of it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Transform, constraints

from cardiosbi.errors import ConfigError

BIJECTIVE_MAPS = ("logit", "soft_box")
THETA_MAPS = (*BIJECTIVE_MAPS, "truncated")

# Where ``soft_box`` bends, in half-widths of the box: the outer 10 % of the box on each side.
# Chosen on two moons against sbi (benchmarks/RESULTS.md (b): d = 0.05 / 0.1 / 0.2 / 0.3 gave
# C2ST +0.030 / +0.012 / +0.007 / +0.019 vs sbi on seeds 0-1): a thinner margin leaves the flow
# steep exponential tails to learn at the bounds, a wider one bends more of the box.
# Part of what a saved ``soft_box`` model means: never change it, add a new map name instead.
SOFT_BOX_MARGIN = 0.2

# Work in float64: in float32 a value within ~1e-7 of a bound rounds onto it and its map is inf.
# Distances to a bound (as a fraction of the box) are clamped to this, so the map stays finite.
_EPS = 1e-12


def check_bounds(low: Tensor, high: Tensor) -> None:
    """Each dimension must be a finite box (low < high) or fully unbounded (-inf, inf)."""
    bounded = torch.isfinite(low) & torch.isfinite(high)
    unbounded = torch.isneginf(low) & torch.isposinf(high)
    if not bool((bounded | unbounded).all()):
        raise ConfigError("parameter bounds must be finite (low < high) or (-inf, inf) per dimension")
    if not bool((high[bounded] > low[bounded]).all()):
        raise ConfigError("every parameter needs low < high")


def check_theta_map(name: str) -> None:
    """Raise :class:`ConfigError` unless ``name`` is one of :data:`THETA_MAPS`."""
    if name not in THETA_MAPS:
        raise ConfigError(f"model.estimator.theta_map={name!r} is unknown; use one of {', '.join(THETA_MAPS)}")


# --- the maps onto R, in float64, for theta inside the box --------------------------------------
# Each map has ``forward(theta, low, high) -> y``, ``inverse(y, low, high) -> theta`` and
# ``log_slope(theta, low, high) -> log dy/dtheta`` (finite for theta strictly inside).

def _logit_forward(theta: Tensor, low: Tensor, high: Tensor) -> Tensor:
    unit = ((theta - low) / (high - low)).clamp(_EPS, 1 - _EPS)
    return torch.logit(unit)


def _logit_inverse(y: Tensor, low: Tensor, high: Tensor) -> Tensor:
    return low + (high - low) * torch.sigmoid(y)


def _logit_log_slope(theta: Tensor, low: Tensor, high: Tensor) -> Tensor:
    unit = (theta - low) / (high - low)
    # d logit(unit)/d theta = 1 / (unit (1 - unit) (high - low)). Within an ulp of ``high``
    # the ratio can round to 1: that is on the bound (zero density), not an infinite one.
    slope = -(torch.log(unit) + torch.log1p(-unit) + torch.log(high - low))
    return torch.where((unit > 0) & (unit < 1), slope, torch.full_like(unit, -math.inf))


def _gap(theta: Tensor, low: Tensor, high: Tensor) -> Tensor:
    """1 - |u|: the distance to the nearer bound in half-widths, taken from the nearer bound
    itself so it keeps full relative precision right next to either bound."""
    return torch.minimum(theta - low, high - theta) / ((high - low) / 2)


def _soft_box_forward(theta: Tensor, low: Tensor, high: Tensor) -> Tensor:
    d = SOFT_BOX_MARGIN
    u = (theta - low) / ((high - low) / 2) - 1
    gap = _gap(theta, low, high).clamp(min=_EPS)
    tail = (1 - d) + d * torch.log(d / gap)
    return torch.where(gap >= d, u, torch.sign(u) * tail)


def _soft_box_inverse(y: Tensor, low: Tensor, high: Tensor) -> Tensor:
    d = SOFT_BOX_MARGIN
    half = (high - low) / 2
    magnitude = y.abs()
    # Tail: gap = d exp(-(|y| - (1 - d)) / d); the exponent is at most (1 - d) / d, no overflow.
    gap = d * torch.exp(-(magnitude - (1 - d)) / d)
    tail = torch.where(y > 0, high - gap * half, low + gap * half)
    return torch.where(magnitude <= 1 - d, low + (y + 1) * half, tail)


def _soft_box_log_slope(theta: Tensor, low: Tensor, high: Tensor) -> Tensor:
    d = SOFT_BOX_MARGIN
    half = (high - low) / 2
    gap = _gap(theta, low, high)
    # dy/du = 1 inside, d / gap in the tails; du/dtheta = 1 / half.
    tail = math.log(d) - torch.log(gap)
    return torch.where(gap >= d, torch.zeros_like(gap), tail) - torch.log(half)


def _identity(theta: Tensor, low: Tensor, high: Tensor) -> Tensor:
    return theta


def _zero_log_slope(theta: Tensor, low: Tensor, high: Tensor) -> Tensor:
    return torch.zeros_like(theta)


_MAPS = {
    "logit": (_logit_forward, _logit_inverse, _logit_log_slope),
    "soft_box": (_soft_box_forward, _soft_box_inverse, _soft_box_log_slope),
    "truncated": (_identity, _identity, _zero_log_slope),
}


class BoxToStandard(Transform):
    """Physical theta in [low, high]^k -> ``theta_map`` onto R -> (y - mean) / std.

    ``event_dim = 1``. Values outside the box map to finite values (clamped near the bound) but
    have log-determinant -inf (zero density). Standardised values map back into the closed box,
    except with the ``truncated`` map (``truncates`` is then true where any dimension is bounded).
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(
        self, low: Tensor, high: Tensor, mean: Tensor, std: Tensor,
        theta_map: str = "logit", cache_size: int = 0,
    ):
        super().__init__(cache_size=cache_size)
        check_theta_map(theta_map)
        self.low, self.high, self.mean, self.std = low, high, mean, std
        self.theta_map = theta_map
        self.bounded = torch.isfinite(low) & torch.isfinite(high)
        self.truncates = theta_map == "truncated" and bool(self.bounded.any())
        self._forward, self._backward, self._log_slope = _MAPS[theta_map]

    def __eq__(self, other: object) -> bool:
        return self is other

    def _box(self) -> tuple[Tensor, Tensor]:
        """Float64 bounds with unbounded dimensions replaced by a dummy box (their values are
        discarded by ``torch.where``; the dummy keeps the unused branch free of inf - inf)."""
        low = torch.where(self.bounded, self.low.double(), torch.zeros_like(self.low.double()))
        high = torch.where(self.bounded, self.high.double(), torch.ones_like(self.high.double()))
        return low, high

    def _unconstrain(self, theta: Tensor) -> Tensor:
        """Physical -> R (the map on bounded dimensions), in float64."""
        theta = theta.double()
        low, high = self._box()
        return torch.where(self.bounded, self._forward(theta, low, high), theta)

    def _call(self, theta: Tensor) -> Tensor:
        u = self._unconstrain(theta)
        return ((u - self.mean.double()) / self.std.double()).to(theta.dtype)

    def _inverse(self, z: Tensor) -> Tensor:
        u = z.double() * self.std.double() + self.mean.double()
        low, high = self._box()
        theta = torch.where(self.bounded, self._backward(u, low, high), u)
        return theta.to(z.dtype)

    def log_abs_det_jacobian(self, theta: Tensor, z: Tensor) -> Tensor:
        """log |d z / d theta| summed over parameters; -inf outside the box."""
        t = theta.double()
        low, high = self._box()
        inside = (t > low) & (t < high)
        safe = torch.where(inside, t, (low + high) / 2)
        bounded_term = torch.where(inside, self._log_slope(safe, low, high),
                                   torch.full_like(t, -math.inf))
        per_dim = torch.where(self.bounded, bounded_term, torch.zeros_like(t))
        return (per_dim - torch.log(self.std.double())).sum(dim=-1).to(theta.dtype)

    def unconstrained(self, theta: Tensor) -> Tensor:
        """The value on R before z-scoring (used to fit ``mean`` and ``std``)."""
        return self._unconstrain(theta).to(theta.dtype)
