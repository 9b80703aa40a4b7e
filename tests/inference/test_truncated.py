"""``theta_map: truncated`` (z-scoring only, as sbi): the flow leaks mass outside the prior box,
so the posterior rejects draws outside it and renormalises its density by the in-box mass.

Checked on a 1-D task whose posterior runs into the upper bound: draws stay inside and follow the
normalised density, seeded draws survive save/load, a window whose posterior lies outside the
box gets NaN draws and a reject flag, and a RoPE mixture of truncated components is normalised.
"""

from __future__ import annotations

import logging
import math

import pytest
import torch

from cardiosbi.calibration import calibrate
from cardiosbi.inference import load_posterior, train_npe
from tests.inference._tiny import tiny_config

LOW, HIGH = 40.0, 200.0


def _joint(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    theta = LOW + (HIGH - LOW) * torch.rand(n, 1, generator=generator)
    return theta, (theta - 120.0) / 40.0 + 0.3 * torch.randn(n, 1, generator=generator)


@pytest.fixture(scope="module")
def posterior():
    torch.set_num_threads(1)
    theta, x = _joint(600, torch.Generator().manual_seed(3))
    config = tiny_config("nsf", {"estimator": {"theta_map": "truncated"}}, epochs=5)
    return train_npe(theta, x, ["pft"], torch.tensor([LOW]), torch.tensor([HIGH]), config)


def _grid() -> torch.Tensor:
    return torch.linspace(LOW, HIGH, 8001)[1:-1, None]


def test_draws_stay_in_the_box_and_follow_the_normalised_density(posterior):
    x = torch.tensor([[1.8]])  # posterior centred near 190 with a sd of ~12: it leaks past 200
    log_mass = float(posterior.log_in_box_mass(posterior.embed(x)))
    assert log_mass < math.log(0.99), "the case must actually leak"
    draws = posterior.sample((20_000,), x=x, generator=torch.Generator().manual_seed(1))[:, 0, 0].double()
    assert bool(((draws > LOW) & (draws < HIGH)).all())
    grid = _grid()
    density = posterior.log_prob(grid, x.expand(len(grid), 1)).detach().double().exp()
    mean = torch.trapezoid(density * grid[:, 0].double(), grid[:, 0].double())
    standard_error = float(draws.std()) / math.sqrt(len(draws))
    assert float(draws.mean()) == pytest.approx(float(mean), abs=4 * standard_error + 0.3)


def test_seeded_draws_survive_save_and_load(posterior, tmp_path):
    x = torch.tensor([[-1.0], [1.8]])
    before = posterior.sample((500,), x=x, generator=torch.Generator().manual_seed(7))
    posterior.save(tmp_path / "truncated.pt")
    loaded = load_posterior(tmp_path / "truncated.pt")
    assert loaded.bijection.truncates
    torch.testing.assert_close(loaded.sample((500,), x=x, generator=torch.Generator().manual_seed(7)), before,
                               rtol=0, atol=0)
    torch.testing.assert_close(loaded.log_prob(torch.tensor([[150.0], [199.0]]), x),
                               posterior.log_prob(torch.tensor([[150.0], [199.0]]), x), rtol=0, atol=0)


def test_a_window_whose_posterior_lies_outside_the_box_is_rejected(posterior, caplog):
    x = torch.tensor([[0.0], [60.0]])  # the second: theta ~ 2,500, far beyond the box
    with caplog.at_level(logging.WARNING):
        draws = posterior.sample((200,), x=x, generator=torch.Generator().manual_seed(2))
    assert torch.isfinite(draws[:, 0]).all() and torch.isnan(draws[:, 1]).all()
    assert "outside what the model was trained on" in caplog.text
    table = posterior.summarize(x, n=200, generator=torch.Generator().manual_seed(2))
    assert table["reject"].tolist() == [False, True]


def test_rope_mixture_of_truncated_components_is_normalised(posterior):
    theta_ref, x_ref = _joint(60, torch.Generator().manual_seed(4))
    rope = calibrate(posterior, None, None, x_ref)
    assert bool((rope.reference_log_masses() < 0).any())
    x = torch.tensor([[1.8]])
    grid = _grid()
    density = rope.log_prob(grid, x.expand(len(grid), 1)).double().exp()
    assert float(torch.trapezoid(density, grid[:, 0].double())) == pytest.approx(1.0, abs=0.02)
    draws = rope.sample((2000,), x=x, generator=torch.Generator().manual_seed(5))
    assert bool(((draws > LOW) & (draws < HIGH)).all())
