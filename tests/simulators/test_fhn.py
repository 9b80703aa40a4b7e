"""FitzHugh–Nagumo simulator: numerics, dynamics regimes and the AR(1) noise model."""

from __future__ import annotations

import numpy as np
import pytest

from simulators import fhn


def test_shapes_prior_support_and_determinism():
    rng = np.random.default_rng(0)
    theta = fhn.sample_prior(50, rng, noisy=True)
    low, high = fhn.prior_bounds(noisy=True)
    assert theta.shape == (50, 4) and np.all((theta >= low) & (theta <= high))
    x1 = fhn.simulate(theta, np.random.default_rng(1))
    x2 = fhn.simulate(theta, np.random.default_rng(1))
    assert x1.shape == (50, 200) and np.array_equal(x1, x2)
    assert not np.array_equal(x1, fhn.simulate(theta, np.random.default_rng(2)))
    assert np.array_equal(fhn.simulate(theta[:, :2], rng), fhn.solve(theta[:, 0], theta[:, 1]))


def test_rk4_step_is_converged():
    theta = fhn.sample_prior(20, np.random.default_rng(3))
    coarse = fhn.solve(theta[:, 0], theta[:, 1])
    fine = fhn.solve(theta[:, 0], theta[:, 1], fhn.FHNConfig(dt=0.005))
    assert np.abs(coarse - fine).max() < 1e-6


def test_batch_entries_are_independent():
    theta = fhn.sample_prior(10, np.random.default_rng(4))
    batch = fhn.solve(theta[:, 0], theta[:, 1])
    single = fhn.solve(theta[3:4, 0], theta[3:4, 1])
    assert np.allclose(batch[3], single[0], atol=1e-12)


def test_oscillating_and_resting_regimes():
    # Ramsay et al.'s (θ0, θ1) = (0.2, 0.2) lies on a limit cycle: repeated spikes.
    u = fhn.solve([0.2], [0.2], fhn.FHNConfig(t_end=40.0, n_obs=400))[0]
    upward = np.sum((u[:-1] < 0) & (u[1:] >= 0))
    assert upward >= 3 and u.max() > 1.5 and u.min() < -1.5
    # With strong recovery (θ1 = 0.9) the trace settles on the stable fixed point, which
    # must satisfy both nullclines: v = −(u − θ0)/θ1 and u − u³/3 + v = 0.
    theta0, theta1 = 0.8, 0.9
    u_end = fhn.solve([theta0], [theta1], fhn.FHNConfig(t_end=60.0, n_obs=600))[0, -1]
    v_end = -(u_end - theta0) / theta1
    assert abs(u_end - u_end**3 / 3 + v_end) < 1e-4


@pytest.mark.parametrize(("sigma", "rho"), [(0.3, 0.0), (0.2, 0.8)])
def test_ar1_noise_has_stated_std_and_autocorrelation(sigma, rho):
    noise = fhn.ar1_noise(np.full(2000, sigma), np.full(2000, rho), 200, np.random.default_rng(5))
    # 4e5 values (effectively fewer when correlated): tolerances are several standard errors.
    assert noise.std() == pytest.approx(sigma, rel=0.02)
    assert noise[:, 0].std() == pytest.approx(sigma, rel=0.06)  # stationary from t = 0
    lag1 = np.mean(noise[:, 1:] * noise[:, :-1]) / np.mean(noise**2)
    assert lag1 == pytest.approx(rho, abs=0.01)


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        fhn.simulate(np.zeros((3, 3)), np.random.default_rng(0))
