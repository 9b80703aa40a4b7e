"""Statistical checks of trained posteriors against the analytic linear-Gaussian posterior."""

from __future__ import annotations

import math

import pytest
import torch

from cardiosbi.diagnostics.c2st import c2st
from cardiosbi.inference import NPEConfig, train_npe
from cardiosbi.inference.tasks import LinearGaussianTask

# sbibm's gaussian_linear scales: prior N(0, 0.1 I), noise N(0, 0.1 I).
SBIBM_SCALE = math.sqrt(0.1)


def _c2st_scores(task, n_sims, config, observations=3, samples=1000):
    torch.set_num_threads(1)
    theta, x = task.sample_joint(n_sims, torch.Generator().manual_seed(0))
    low, high = task.bounds()
    posterior = train_npe(theta, x, task.names, low, high, config)
    _, x_obs = task.sample_joint(observations, torch.Generator().manual_seed(99))
    reference = task.reference_posterior_samples(x_obs, samples, torch.Generator().manual_seed(5))
    draws = posterior.sample((samples,), x=x_obs, generator=torch.Generator().manual_seed(6))
    return [c2st(reference[:, i], draws[:, i]) for i in range(observations)]


def test_c2st_against_analytic_posterior_small():
    # Default-suite variant: 2-D task, 2,000 simulations (the full claim at 10^4 is the slow
    # test below). Measured C2ST here is 0.51-0.55 (1,000 vs 1,000 samples, null sd ~0.016);
    # the 0.60 bound still fails a posterior whose mean is off by ~0.5 posterior sd (C2ST of a
    # shift delta is Phi(delta/2)) or whose width is off by a factor ~1.5.
    task = LinearGaussianTask(dim=2, prior_scale=SBIBM_SCALE, noise_scale=SBIBM_SCALE)
    # patience 5: on this easy task the validation loss is at its floor after ~5 epochs.
    config = NPEConfig.from_dict({"trainer": {"batch_size": 200, "patience": 5}})
    scores = _c2st_scores(task, 2000, config)
    assert max(scores) <= 0.60, scores


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["nsf", "fmpe"])
def test_c2st_at_ten_thousand_simulations(kind):
    task = LinearGaussianTask(dim=3, prior_scale=SBIBM_SCALE, noise_scale=SBIBM_SCALE)
    config = NPEConfig.from_dict({"model": {"estimator": {"kind": kind}}, "trainer": {"batch_size": 200}})
    scores = _c2st_scores(task, 10_000, config)
    assert sum(scores) / len(scores) <= 0.55, scores


def _coverage(posterior, theta, x, levels, n=500):
    draws = posterior.sample((n,), x=x, generator=torch.Generator().manual_seed(3)).double()
    result = {}
    for level in levels:
        q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64)
        low, high = torch.quantile(draws, q, dim=0)
        result[level] = ((theta >= low) & (theta <= high)).double().mean(dim=0)
    return result


@pytest.mark.parametrize(("series_length", "theta_map"), [
    (0, "logit"), pytest.param(0, "soft_box", marks=pytest.mark.slow),
    pytest.param(128, "logit", marks=pytest.mark.slow),
])
def test_coverage_on_held_out_simulations_within_five_points(series_length, theta_map):
    # Bounded (uniform) prior, so the map onto R is exercised. 1,000 held-out simulations:
    # binomial sd of the coverage is 0.016 at 50 % and 0.009 at 90 %, so +-0.05 leaves room
    # for sampling noise (>= 3 sd) while catching a miscalibrated posterior.
    torch.set_num_threads(1)
    task = LinearGaussianTask(dim=2, prior="uniform", prior_scale=2.0, noise_scale=0.5,
                              series_length=series_length)
    theta, x = task.sample_joint(3500, torch.Generator().manual_seed(4))
    low, high = task.bounds()
    # The CNN embedding of the series variant keeps improving for longer than the vector case.
    patience = 5 if series_length == 0 else 15
    config = NPEConfig.from_dict({"model": {"estimator": {"theta_map": theta_map}},
                                  "trainer": {"batch_size": 200, "patience": patience}})
    posterior = train_npe(theta[:2500], x[:2500], task.names, low, high, config)
    coverage = _coverage(posterior, theta[2500:].double(), x[2500:], (0.5, 0.9))
    for level, observed in coverage.items():
        assert (observed - level).abs().max() <= 0.05, (level, observed.tolist())
