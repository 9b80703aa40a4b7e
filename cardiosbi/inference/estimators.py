"""Conditional density estimators over standardised theta: zuko NSF and MAF, and FMPE.

Every estimator has the same two methods: ``loss(theta, context)`` (what training minimises)
and ``forward(context)`` returning a :class:`torch.distributions.Distribution` over
standardised theta with a standard-normal base (``.transform`` maps theta to the base), which
is what seeded sampling relies on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import torch
import zuko
from torch import Tensor, nn
from zuko.flows import Flow, UnconditionalTransform
from zuko.transforms import LULinearTransform, MonotonicRQSTransform

from cardiosbi.errors import ConfigError
from cardiosbi.inference.bijection import check_theta_map
from cardiosbi.inference.fmpe import FlowMatchingEstimator
from cardiosbi.inference.spline import RQSpline

ESTIMATOR_KINDS = ("nsf", "maf", "fmpe")
CONDITIONERS = ("mlp", "residual")
MIXINGS = ("none", "lu")


@dataclass
class EstimatorConfig:
    """Density-estimator settings (hydra group ``model``, key ``estimator``).

    ``kind``: nsf (default), maf or fmpe. ``passes``: 2 makes NSF/MAF coupling flows (fast
    sampling); null makes them fully autoregressive. ``hidden``: hidden layer sizes of the
    flow's conditioner (NSF/MAF) or of the FMPE velocity network.

    Flow architecture (NSF/MAF): ``conditioner`` mlp (plain ReLU MLP) or residual (residual
    blocks, as nflows' ResidualNet); ``mixing`` lu inserts a learnt LU-decomposed linear map
    after every transform (as sbi's NSF), none does not; ``spline_bound``: NSF splines act on
    [-B, B] and are the identity outside; ``identity_init`` zeroes each conditioner's output
    layer so every transform starts as the identity; ``fast_spline`` computes the softmax over
    the NSF bins as exp / sum (:mod:`cardiosbi.inference.spline`; torch's CPU softmax is slow
    for fewer than 16 bins), the same function as zuko's up to float rounding. The defaults
    follow sbi's NSF (residual conditioner, LU mixing, near-identity start), which closed most
    of the two-moons gap to sbi (benchmarks/RESULTS.md); the bound stays 5, not sbi's 3, because a logit map onto the
    prior box puts ~1 % of standardised draws beyond 3 (logistic tails), where a spline would
    be the identity.

    ``theta_map``: how a bounded parameter reaches R before z-scoring
    (:mod:`cardiosbi.inference.bijection`): logit (default) or soft_box (affine in the interior
    of the prior box, logarithmic only near the bounds), both bijections with an exact density;
    or truncated (z-scoring only, as sbi: out-of-box draws are rejected and the density is
    renormalised by a Monte Carlo in-box mass, which makes ``log_prob`` cost 4,096 draws per
    window). On two moons against sbi (benchmarks/RESULTS.md (b)), with our trainer defaults,
    logit and truncated both beat sbi on C2ST and NLL on 4 of 4 seeds; truncated has the better
    NLL but the costly log_prob, so logit stays the default. Posterior files written before
    these keys existed load with :data:`LEGACY_FLOW` (the network they were trained with).
    """

    kind: str = "nsf"
    transforms: int = 5
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    bins: int = 8
    passes: int | None = 2
    conditioner: str = "residual"
    mixing: str = "lu"
    spline_bound: float = 5.0
    identity_init: bool = True
    theta_map: str = "logit"
    fast_spline: bool = True
    sigma_min: float = 1e-4
    ode_atol: float = 1e-5
    ode_rtol: float = 1e-4


# The flow architecture and theta map of every posterior saved before the keys above existed
# (zuko's NSF/MAF defaults, logit onto the box): an old file missing a key must rebuild exactly
# the network it was trained with.
LEGACY_FLOW = {"conditioner": "mlp", "mixing": "none", "spline_bound": 5.0, "identity_init": False,
               "theta_map": "logit", "fast_spline": False}


class ZukoFlowEstimator(nn.Module):
    """A zuko NSF or MAF conditioned on the embedding; trained by maximum likelihood."""

    def __init__(self, flow: nn.Module) -> None:
        super().__init__()
        self.flow = flow

    def loss(self, theta: Tensor, context: Tensor) -> Tensor:
        return -self.flow(context).log_prob(theta).mean()

    def forward(self, context: Tensor):
        return self.flow(context)


def build_estimator(config: EstimatorConfig, features: int, context: int) -> nn.Module:
    """The density estimator named by ``config.kind`` for ``features`` parameters."""
    check_estimator_options(config)
    if config.kind == "fmpe":
        return FlowMatchingEstimator(
            features, context, config.hidden, config.sigma_min, config.ode_atol, config.ode_rtol
        )
    return ZukoFlowEstimator(_zuko_flow(config, features, context))


def check_estimator_options(config: EstimatorConfig) -> None:
    """Raise :class:`ConfigError` for estimator settings that cannot be built."""
    if config.kind not in ESTIMATOR_KINDS:
        raise ConfigError(f"model.estimator.kind={config.kind!r} is unknown; use one of {', '.join(ESTIMATOR_KINDS)}")
    if config.conditioner not in CONDITIONERS:
        raise ConfigError(f"model.estimator.conditioner={config.conditioner!r} is unknown; "
                          f"use one of {', '.join(CONDITIONERS)}")
    if config.mixing not in MIXINGS:
        raise ConfigError(f"model.estimator.mixing={config.mixing!r} is unknown; use one of {', '.join(MIXINGS)}")
    if not config.spline_bound > 0:
        raise ConfigError(f"model.estimator.spline_bound must be > 0, got {config.spline_bound}")
    check_theta_map(config.theta_map)


def _zuko_flow(config: EstimatorConfig, features: int, context: int) -> Flow:
    # A 1-D coupling flow has nothing to condition on; fall back to autoregressive (same thing).
    passes = config.passes if features > 1 else None
    hyper: dict = {"hidden_features": tuple(config.hidden)}
    if config.conditioner == "residual" and features > 1:  # 1-D: a context-only MLP, no masks
        hyper["residual"] = True
    if config.kind == "nsf":
        spline_class = RQSpline if config.fast_spline else MonotonicRQSTransform
        spline = partial(spline_class, bound=config.spline_bound, slope=1e-3)
        hyper.update(univariate=spline, shapes=[(config.bins,), (config.bins,), (config.bins - 1,)])
    flow = zuko.flows.MAF(features, context, transforms=config.transforms, passes=passes, **hyper)
    if config.identity_init:
        for transform in flow.transform.transforms:
            _zero_output_layer(transform)
    if config.mixing == "lu" and features > 1:
        # L U starts at the identity (L's diagonal 1, U unit upper triangular, off-diagonals 0).
        layers = []
        for transform in flow.transform.transforms:
            layers += [transform, UnconditionalTransform(LULinearTransform, torch.eye(features))]
        flow = Flow(layers, flow.base)
    return flow


@torch.no_grad()
def _zero_output_layer(transform: nn.Module) -> None:
    """Zero the last linear layer of a transform's conditioner: zero spline/affine parameters
    are the identity map in zuko, so training starts from the base distribution."""
    # zuko's own Linear (1-D flows) is not an nn.Linear; both have a 2-D ``weight``.
    last = [m for m in transform.modules() if getattr(m, "weight", None) is not None][-1]
    last.weight.zero_()
    if last.bias is not None:
        last.bias.zero_()
