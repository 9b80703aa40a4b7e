"""LPP/ACAUC: calibrated, overconfident and underconfident posteriors on a known model."""

from __future__ import annotations

import pytest
import torch

from cardiosbi.calibration.metrics import acauc, lpp


def _gaussian_posteriors(scale: float, n_points: int = 2000, n_samples: int = 500):
    """True θ ~ N(μ_i, 1) around posterior means μ_i; posteriors N(μ_i, scale²)."""
    g = torch.Generator().manual_seed(3)
    mean = torch.randn(n_points, 2, generator=g)
    theta = mean + torch.randn(n_points, 2, generator=g)
    samples = mean + scale * torch.randn(n_samples, n_points, 2, generator=g)
    return samples, theta


def test_exact_posterior_is_calibrated():
    assert abs(acauc(*_gaussian_posteriors(1.0))) < 0.02


def test_overconfident_posterior_is_positive():
    assert acauc(*_gaussian_posteriors(0.3)) > 0.15


def test_underconfident_posterior_is_negative():
    assert acauc(*_gaussian_posteriors(3.0)) < -0.15


def test_acauc_of_point_mass_at_truth_is_minus_half():
    theta = torch.randn(10, 2)
    assert acauc(theta.expand(7, 10, 2), theta) == pytest.approx(-0.5)


def test_lpp_is_the_mean_log_density():
    assert lpp(torch.tensor([-1.0, -3.0])) == -2.0
