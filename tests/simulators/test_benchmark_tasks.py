"""Benchmark tasks: exact posteriors of the linear Gaussian and two-moons tasks."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.benchmark_tasks import LinearGaussian, TwoMoons


def test_linear_gaussian_posterior_matches_conjugate_formula():
    task = LinearGaussian(dim=1, prior_std=2.0, noise_std=0.5)
    mean, cov = task.posterior_params(np.array([[1.0]]))
    var = 1 / (1 / 4 + 1 / 0.25)
    assert cov[0, 0] == pytest.approx(var) and mean[0, 0] == pytest.approx(var * 1.0 / 0.25)


def test_linear_gaussian_posterior_by_rejection():
    # Prior draws whose simulation lands near x_obs approximate the posterior (ABC check).
    task = LinearGaussian(dim=1, noise_std=0.5)
    rng = np.random.default_rng(0)
    theta = task.sample_prior(400_000, rng)
    x = task.simulate(theta, rng)
    kept = theta[np.abs(x[:, 0] - 0.7) < 0.01, 0]
    mean, cov = task.posterior_params(np.array([[0.7]]))
    assert kept.mean() == pytest.approx(mean[0, 0], abs=0.03)
    assert kept.std() == pytest.approx(np.sqrt(cov[0, 0]), rel=0.06)


def test_linear_gaussian_log_posterior_is_normalised():
    task = LinearGaussian(dim=1)
    grid = np.linspace(-6, 6, 4001)[:, None, None]
    dens = np.exp(task.log_posterior(grid, np.array([[0.3]])))
    assert np.trapezoid(dens[:, 0], grid[:, 0, 0]) == pytest.approx(1.0, abs=1e-6)


def test_two_moons_reference_samples_invert_the_simulator():
    task = TwoMoons()
    rng = np.random.default_rng(1)
    x_obs = task.simulate(np.array([[0.3, 0.4]]), rng)[0]
    theta = task.sample_posterior(x_obs, 5000, rng)
    assert theta.shape == (5000, 2) and np.all(np.abs(theta) <= 1)
    # x − shift(θ) must be a crescent point: radius ~ N(0.1, 0.01), angle in [−π/2, π/2].
    shift = np.stack([-np.abs(theta.sum(1)) / np.sqrt(2), (theta[:, 1] - theta[:, 0]) / np.sqrt(2)], 1)
    c = x_obs - shift - np.array([0.25, 0.0])
    radius = np.hypot(c[:, 0], c[:, 1])
    assert radius.mean() == pytest.approx(0.1, abs=0.001) and radius.std() == pytest.approx(0.01, rel=0.05)
    assert np.all(c[:, 0] >= -1e-12)
    # Both branches of |θ0 + θ1| are represented: the posterior is bimodal.
    assert 0.3 < np.mean(theta.sum(1) > 0) < 0.7
