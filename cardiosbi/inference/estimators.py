"""Conditional density estimators over standardised theta: zuko NSF and MAF, and FMPE.

Every estimator has the same two methods: ``loss(theta, context)`` (what training minimises)
and ``forward(context)`` returning a :class:`torch.distributions.Distribution` over
standardised theta with a standard-normal base (``.transform`` maps theta to the base), which
is what seeded sampling relies on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import zuko
from torch import Tensor, nn

from cardiosbi.errors import ConfigError
from cardiosbi.inference.fmpe import FlowMatchingEstimator

ESTIMATOR_KINDS = ("nsf", "maf", "fmpe")


@dataclass
class EstimatorConfig:
    """Density-estimator settings (hydra group ``model``, key ``estimator``).

    ``kind``: nsf (default), maf or fmpe. ``passes``: 2 makes NSF/MAF coupling flows (fast
    sampling); null makes them fully autoregressive. ``hidden``: hidden layer sizes of the
    flow's conditioner (NSF/MAF) or of the FMPE velocity network.
    """

    kind: str = "nsf"
    transforms: int = 5
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    bins: int = 8
    passes: int | None = 2
    sigma_min: float = 1e-4
    ode_atol: float = 1e-5
    ode_rtol: float = 1e-4


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
    if config.kind == "fmpe":
        return FlowMatchingEstimator(
            features, context, config.hidden, config.sigma_min, config.ode_atol, config.ode_rtol
        )
    # A 1-D coupling flow has nothing to condition on; fall back to autoregressive (same thing).
    passes = config.passes if features > 1 else None
    common = dict(transforms=config.transforms, hidden_features=tuple(config.hidden), passes=passes)
    if config.kind == "nsf":
        return ZukoFlowEstimator(zuko.flows.NSF(features, context, bins=config.bins, **common))
    if config.kind == "maf":
        return ZukoFlowEstimator(zuko.flows.MAF(features, context, **common))
    raise ConfigError(f"model.estimator.kind={config.kind!r} is unknown; use one of {', '.join(ESTIMATOR_KINDS)}")
