"""Calibration metrics of RoPE's study: LPP and ACAUC.

- LPP: mean log posterior density of the true parameter, in the units of θ given.
- ACAUC (average coverage area under the curve, central intervals): with F̂_ij the posterior
  marginal CDF of parameter j of test point i evaluated at the true value, c_ij = |2F̂_ij − 1|
  and ACAUC = mean(c) − 1/2. θ lies in the central α-interval iff c ≤ α, so this equals the
  mean over points and parameters of ∫₀¹ (α − 1{θ ∈ CI_α}) dα: 0 is calibrated, > 0
  overconfident, < 0 underconfident; range [−½, ½].
"""

from __future__ import annotations

import torch


def lpp(log_prob_true: torch.Tensor) -> float:
    """Mean log posterior probability of the true parameters (one value per test point in)."""
    return float(log_prob_true.mean())


def acauc(samples: torch.Tensor, theta_true: torch.Tensor) -> float:
    """ACAUC from posterior samples (n, B, k) and true values (B, k)."""
    return float(coverage_deviation(samples, theta_true).mean() - 0.5)


def coverage_deviation(samples: torch.Tensor, theta_true: torch.Tensor) -> torch.Tensor:
    """c_ij = |2F̂_ij − 1| per test point and parameter (B, k); F̂ counts ties as half."""
    below = (samples < theta_true).float().mean(0)
    ties = (samples == theta_true).float().mean(0)
    cdf = below + 0.5 * ties
    return (2 * cdf - 1).abs()
