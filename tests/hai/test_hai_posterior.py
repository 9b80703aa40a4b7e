"""HAI on the 1-D linear-Gaussian toy with a known affine misspecification (conftest)."""

from __future__ import annotations

import pytest
import torch

from cardiosbi.errors import ConfigError
from cardiosbi.hai import HAIPosterior, fit_misspecification
from cardiosbi.inference.serialization import load_posterior, save_posterior

from .conftest import simulate


def _coverage90(draws: torch.Tensor, theta: torch.Tensor) -> float:
    lo, hi = draws.quantile(0.05, dim=0), draws.quantile(0.95, dim=0)
    return float(((theta >= lo) & (theta <= hi)).float().mean())


@pytest.fixture(scope="module")
def hai(toy):
    generator = torch.Generator().manual_seed(5)
    flow = fit_misspecification(toy.x_lab, simulate(toy.theta_lab, generator), epochs=200, seed=0)
    return HAIPosterior(flow, toy.npe, n_sim=8)


def test_hai_undoes_the_misspecification_the_plain_npe_suffers(toy, hai):
    g = torch.Generator().manual_seed(1)
    hai_err = (hai.sample((200,), x=toy.x_test, generator=g).mean(0) - toy.theta_test).abs().mean()
    npe_err = (toy.npe.sample((200,), x=toy.x_test, generator=g).mean(0) - toy.theta_test).abs().mean()
    # exact p(theta | x_obs) has sd 0.3; HAI adds x_sim's fresh noise (sd ~0.42 in all)
    assert hai_err < 0.45 and npe_err > 2 * hai_err


def test_hai_90pct_intervals_cover_at_least_nominally(toy, hai):
    draws = hai.sample((300,), x=toy.x_test, generator=torch.Generator().manual_seed(2))
    # binomial sd at n = 200 is 0.02; HAI is conservative by construction
    assert _coverage90(draws, toy.theta_test) > 0.82


def test_more_pairs_and_early_stopping_keep_hai_calibrated(toy):
    """K simulations per labelled window, epochs by held-out likelihood: the chosen epoch
    count is reported and lies in range, and θ coverage stays near nominal."""
    generator = torch.Generator().manual_seed(6)
    x_sim = simulate(toy.theta_lab.repeat_interleave(10, 0), generator).reshape(100, 10, 1)
    flow = fit_misspecification(toy.x_lab, x_sim, epochs=200, seed=0, val_fraction=0.2)
    report = flow.fit_report
    assert report["pairs_per_row"] == 10 and 1 <= report["epochs"] <= 200
    assert report["held_out_nll"] <= report["held_out_nll_last"]
    draws = HAIPosterior(flow, toy.npe, n_sim=16).sample(
        (300,), x=toy.x_test, generator=torch.Generator().manual_seed(7))
    assert 0.82 < _coverage90(draws, toy.theta_test) < 0.99


def test_save_load_round_trip_and_seeded_reproducibility(toy, hai, tmp_path):
    back = load_posterior(save_posterior(hai, tmp_path / "hai.pt"))
    x, theta = toy.x_test[:5], toy.theta_test[:5]
    assert isinstance(back, HAIPosterior) and back.n_sim == hai.n_sim
    a = hai.sample((50,), x=x, generator=torch.Generator().manual_seed(3))
    b = back.sample((50,), x=x, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.allclose(hai.log_prob(theta, x), back.log_prob(theta, x))
    assert len(back.summarize(toy.x_test[:3], n=100, generator=torch.Generator().manual_seed(4))) == 3


def test_bad_input_is_refused(toy, hai):
    with pytest.raises(Exception, match="feature rows"):
        hai.sample((5,), x=torch.zeros(2, 3))
    with pytest.raises(ConfigError, match="labelled rows"):
        fit_misspecification(toy.x_lab, torch.zeros(100, 3, 2))
    with pytest.raises(ConfigError, match="too few"):
        fit_misspecification(toy.x_lab[:2], toy.x_lab[:2], val_fraction=0.5)
    with pytest.raises(ConfigError, match="val_fraction"):
        fit_misspecification(toy.x_lab, toy.x_lab, val_fraction=1.0)
