"""Entropic (semi-)balanced optimal transport between real and simulated embeddings (POT).

Conventions (RoPE, Wehenkel et al. 2025, in our words):
- cost C_ij = ‖g(x_o^i) − h(x_s^j)‖₂ (plain Euclidean by default, ``cost="sqeuclidean"``
  optional) between embeddings standardised per dimension with the mean and standard deviation
  of the *simulated* embeddings (so γ has the same meaning whatever the embedding scale);
- the real-data marginal is hard (each test point keeps mass 1/n_o); the simulated marginal is
  relaxed by ρ·KL with ρ = τγ/(1 − τ): τ = 1 is balanced OT ("RoPE"), τ < 1 semi-balanced
  ("RoPE*");
- γ is the entropic regularisation; the plan is solved in the log domain (no underflow at
  γ = 0.5 on unnormalised costs).
The returned weights W = n_o·P have rows summing to 1: W_ij is the weight of simulation j in
the posterior mixture of test point i.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import ot
import torch

from cardiosbi.errors import ConfigError

log = logging.getLogger(__name__)

COSTS = ("euclidean", "sqeuclidean")


@dataclass
class TransportConfig:
    gamma: float = 0.5          # entropic regularisation γ
    tau: float = 1.0            # 1 = balanced (RoPE); < 1 relaxes the simulation marginal (RoPE*)
    cost: str = "euclidean"     # euclidean | sqeuclidean
    standardize: bool = True    # scale embeddings by the simulated embeddings' mean/std
    max_iter: int = 10_000
    tolerance: float = 1e-7      # max marginal violation; tighter costs iterations, not accuracy

    def __post_init__(self) -> None:
        if self.cost not in COSTS:
            raise ConfigError(f"unknown OT cost {self.cost!r}; valid: {', '.join(COSTS)}")
        if not 0.0 < self.tau <= 1.0:
            raise ConfigError(f"tau must be in (0, 1], got {self.tau}")
        if self.gamma <= 0:
            raise ConfigError(f"gamma must be positive, got {self.gamma}")


def cost_matrix(real: torch.Tensor, simulated: torch.Tensor, config: TransportConfig) -> torch.Tensor:
    """Pairwise cost (n_o, n_s) in float64 under the configured convention."""
    real, simulated = real.double(), simulated.double()
    if config.standardize:
        mean = simulated.mean(0)
        std = simulated.std(0).clamp_min(1e-12)
        real, simulated = (real - mean) / std, (simulated - mean) / std
    distance = torch.cdist(real, simulated)
    return distance.square() if config.cost == "sqeuclidean" else distance


def transport_weights(real: torch.Tensor, simulated: torch.Tensor,
                      config: TransportConfig | None = None) -> torch.Tensor:
    """Mixture weights W (n_o, n_s), rows summing to 1, from the entropic OT plan."""
    config = config or TransportConfig()
    cost = cost_matrix(real, simulated, config)
    n_o, n_s = cost.shape
    a = torch.full((n_o,), 1.0 / n_o, dtype=cost.dtype, device=cost.device)
    b = torch.full((n_s,), 1.0 / n_s, dtype=cost.dtype, device=cost.device)
    if config.tau >= 1.0:
        plan = ot.sinkhorn(a, b, cost, reg=config.gamma, method="sinkhorn_log",
                           numItermax=config.max_iter, stopThr=config.tolerance)
    else:
        rho = config.tau * config.gamma / (1.0 - config.tau)
        with warnings.catch_warnings():
            # POT notes that reg_type="entropy" uses the all-ones reference: that is RoPE's ⟨P, log P⟩.
            warnings.filterwarnings("ignore", message="If reg_type = entropy")
            plan = ot.unbalanced.sinkhorn_unbalanced(
                a, b, cost, reg=config.gamma, reg_m=(float("inf"), float(rho)),
                reg_type="entropy", method="sinkhorn_translation_invariant",
                numItermax=config.max_iter, stopThr=config.tolerance,
            )
    row_error = (plan.sum(1) - a).abs().max().item() * n_o
    if row_error > 1e-3:
        log.warning("OT row marginal off by %.2e (relative); raise max_iter or gamma", row_error)
    weights = plan * n_o
    return weights / weights.sum(1, keepdim=True)
