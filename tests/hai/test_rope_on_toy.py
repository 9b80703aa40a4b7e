"""RoPE, as the HAI study calls it (cardiosbi.calibration.calibrate with the labelled set as
calibration set and the simulator for fine-tuning), on the misspecified toy (conftest)."""

from __future__ import annotations

import pytest
import torch

from cardiosbi.calibration import FineTuneConfig, calibrate

from .conftest import draw, simulate


@pytest.fixture(scope="module")
def rope(toy):
    generator = torch.Generator().manual_seed(8)
    reference = simulate(draw(500, generator), generator)
    tune = FineTuneConfig(learning_rate=3e-3, max_steps=150, batch_size=80, seed=0)
    return calibrate(toy.npe, toy.theta_lab, toy.x_lab, reference, simulator=simulate,
                     fine_tune=tune, gamma_grid=[0.1, 0.5])


def test_rope_beats_the_uncalibrated_npe_on_misspecified_windows(toy, rope):
    """The sensor doubles and shifts x: the plain NPE's posterior sits far off; RoPE's is
    centred near the truth and its log density of the true θ is clearly higher."""
    g = torch.Generator().manual_seed(9)
    rope_err = (rope.sample((200,), x=toy.x_test, generator=g).mean(0) - toy.theta_test).abs().mean()
    npe_err = (toy.npe.sample((200,), x=toy.x_test, generator=g).mean(0) - toy.theta_test).abs().mean()
    assert rope_err < 0.5 and npe_err > 2 * rope_err
    gain = rope.log_prob(toy.theta_test, toy.x_test).mean() - toy.npe.log_prob(toy.theta_test, toy.x_test).mean()
    assert gain > 1.0  # nats per window


def test_rope_90pct_intervals_cover_nearly_nominally(toy, rope):
    draws = rope.sample((300,), x=toy.x_test, generator=torch.Generator().manual_seed(10))
    lo, hi = draws.quantile(0.05, dim=0), draws.quantile(0.95, dim=0)
    coverage = float(((toy.theta_test >= lo) & (toy.theta_test <= hi)).float().mean())
    assert coverage > 0.8  # binomial sd at n = 200 is 0.02
