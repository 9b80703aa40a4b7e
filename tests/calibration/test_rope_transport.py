"""Optimal-transport weights of RoPE: marginals, limits in γ and τ, cost conventions."""

from __future__ import annotations

import pytest
import torch

from cardiosbi.calibration.transport import TransportConfig, cost_matrix, transport_weights
from cardiosbi.errors import ConfigError


@pytest.fixture
def clouds():
    g = torch.Generator().manual_seed(1)
    return torch.randn(300, 4, generator=g), torch.randn(400, 4, generator=g)


def test_balanced_plan_has_both_marginals(clouds):
    real, sim = clouds
    weights = transport_weights(real, sim, TransportConfig(tau=1.0))
    torch.testing.assert_close(weights.sum(1), torch.ones(300, dtype=torch.float64))
    # column marginal: every simulation carries n_o / n_s of the total weight
    torch.testing.assert_close(weights.sum(0), torch.full((400,), 300 / 400, dtype=torch.float64),
                               atol=1e-6, rtol=0)


def test_semi_balanced_plan_down_weights_irrelevant_simulations(clouds):
    real, sim = clouds
    far = sim + torch.tensor([8.0, 0, 0, 0]) * (torch.arange(400) >= 300).unsqueeze(1)
    relaxed = transport_weights(real, far, TransportConfig(tau=0.5, standardize=False))
    balanced = transport_weights(real, far, TransportConfig(tau=1.0, standardize=False))
    assert relaxed[:, 300:].sum() < 0.2 * balanced[:, 300:].sum()
    torch.testing.assert_close(relaxed.sum(1), torch.ones(300, dtype=torch.float64))


def test_large_gamma_tends_to_uniform_weights(clouds):
    real, sim = clouds
    weights = transport_weights(real, sim, TransportConfig(gamma=1e4))
    torch.testing.assert_close(weights, torch.full_like(weights, 1 / 400), atol=1e-5, rtol=0)


def test_small_gamma_matches_identical_points():
    points = torch.randn(50, 3, generator=torch.Generator().manual_seed(2))
    weights = transport_weights(points, points[torch.randperm(50)], TransportConfig(gamma=1e-3))
    assert (weights.max(1).values > 0.99).all()


def test_standardisation_makes_cost_scale_free(clouds):
    real, sim = clouds
    config = TransportConfig()
    torch.testing.assert_close(cost_matrix(real * 100, sim * 100, config), cost_matrix(real, sim, config))


def test_squared_cost_is_square_of_euclidean(clouds):
    real, sim = clouds
    plain = cost_matrix(real, sim, TransportConfig())
    squared = cost_matrix(real, sim, TransportConfig(cost="sqeuclidean"))
    torch.testing.assert_close(squared, plain.square())


@pytest.mark.parametrize("bad", [dict(cost="cosine"), dict(tau=0.0), dict(tau=1.5), dict(gamma=0)])
def test_invalid_config_is_rejected(bad):
    with pytest.raises(ConfigError):
        TransportConfig(**bad)
