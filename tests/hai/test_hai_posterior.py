"""HAI on a 1-D linear-Gaussian toy with a known affine misspecification."""

from __future__ import annotations

import pytest
import torch

from cardiosbi.hai import HAIPosterior, fit_misspecification
from cardiosbi.inference import NPEConfig, train_npe
from cardiosbi.inference.serialization import load_posterior, save_posterior

LOW, HIGH = torch.tensor([-2.0]), torch.tensor([2.0])


def _simulate(theta: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return theta + 0.3 * torch.randn(theta.shape, generator=generator)


def _observe(x_sim: torch.Tensor) -> torch.Tensor:
    """The 'real sensor': an affine gain and offset the simulator does not know."""
    return 2.0 * x_sim + 1.0


@pytest.fixture(scope="module")
def toy():
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    theta = 4 * torch.rand(3000, 1, generator=generator) - 2
    config = NPEConfig.from_dict({"model": {"estimator": {"kind": "nsf", "hidden": [32, 32],
                                                          "transforms": 2}},
                                  "trainer": {"max_epochs": 15, "batch_size": 200,
                                              "reject_calibration_samples": 50,
                                              "reject_calibration_rows": 100}})
    npe = train_npe(theta, _simulate(theta, generator), ["theta"], LOW, HIGH, config)
    labelled = 4 * torch.rand(100, 1, generator=generator) - 2
    x_obs = _observe(_simulate(labelled, generator))
    flow = fit_misspecification(x_obs, _simulate(labelled, generator), epochs=200, seed=0)
    test_theta = 4 * torch.rand(200, 1, generator=generator) - 2
    return npe, HAIPosterior(flow, npe, n_sim=8), test_theta, _observe(_simulate(test_theta, generator))


def test_hai_undoes_the_misspecification_the_plain_npe_suffers(toy):
    npe, hai, theta, x_obs = toy
    g = torch.Generator().manual_seed(1)
    hai_mean = hai.sample((200,), x=x_obs, generator=g).mean(0)
    npe_mean = npe.sample((200,), x=x_obs, generator=g).mean(0)
    hai_err = (hai_mean - theta).abs().mean()
    npe_err = (npe_mean - theta).abs().mean()
    # exact p(theta | x_obs) has sd 0.3; HAI adds x_sim's fresh noise (sd ~0.42 in all)
    assert hai_err < 0.45 and npe_err > 2 * hai_err


def test_hai_90pct_intervals_cover_at_least_nominally(toy):
    _, hai, theta, x_obs = toy
    draws = hai.sample((300,), x=x_obs, generator=torch.Generator().manual_seed(2))[..., 0]
    lo, hi = draws.quantile(0.05, dim=0), draws.quantile(0.95, dim=0)
    coverage = ((theta[:, 0] >= lo) & (theta[:, 0] <= hi)).float().mean()
    assert coverage > 0.82  # binomial sd at n = 200 is 0.02; HAI is conservative by construction


def test_save_load_round_trip_and_seeded_reproducibility(toy, tmp_path):
    _, hai, theta, x_obs = toy
    path = save_posterior(hai, tmp_path / "hai.pt")
    back = load_posterior(path)
    assert isinstance(back, HAIPosterior) and back.n_sim == hai.n_sim
    a = hai.sample((50,), x=x_obs[:5], generator=torch.Generator().manual_seed(3))
    b = back.sample((50,), x=x_obs[:5], generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.allclose(hai.log_prob(theta[:5], x_obs[:5]), back.log_prob(theta[:5], x_obs[:5]))
    table = back.summarize(x_obs[:3], n=100, generator=torch.Generator().manual_seed(4))
    assert len(table) == 3


def test_bad_input_is_refused(toy):
    _, hai, _, _ = toy
    with pytest.raises(Exception, match="feature rows"):
        hai.sample((5,), x=torch.zeros(2, 3))
