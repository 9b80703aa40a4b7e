"""One property test per estimator class: shapes, bounds, finite densities, save/load equality."""

from __future__ import annotations

import pytest
import torch

from cardiosbi.inference import NPEPosterior, Posterior, load_posterior
from tests.inference._tiny import CASES, train_case


@pytest.fixture(scope="module", params=sorted(CASES))
def trained(request):
    torch.set_num_threads(1)
    return (request.param, *train_case(request.param))


def test_posterior_properties(trained, tmp_path):
    name, posterior, task, x = trained
    low, high = task.bounds()
    assert isinstance(posterior, Posterior)
    g = torch.Generator().manual_seed(7)

    samples = posterior.sample((300,), x=x, generator=g)
    assert samples.shape == (300, len(x), 2)
    assert ((samples >= low) & (samples <= high)).all(), "samples must stay inside the prior box"

    theta = samples[:3].reshape(-1, 2)
    x_rep = x.repeat(3, *([1] * (x.dim() - 1)))
    logp = posterior.log_prob(theta, x_rep)
    assert logp.shape == (len(theta),) and torch.isfinite(logp).all()
    outside = torch.full((len(x), 2), 3.0)  # beyond the box [-2, 2]
    assert (posterior.log_prob(outside, x) == -torch.inf).all()

    path = tmp_path / f"{name}.pt"
    posterior.save(path)
    loaded = load_posterior(path)
    assert type(loaded) is type(posterior)
    again = loaded.sample((300,), x=x, generator=torch.Generator().manual_seed(7))
    assert torch.equal(again, samples), "seeded samples must round-trip exactly"
    torch.testing.assert_close(loaded.log_prob(theta, x_rep), logp, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(loaded.reject_width90, posterior.reject_width90)


def test_summary_table(trained):
    _name, posterior, _task, x = trained
    table = posterior.summarize(x, n=200, generator=torch.Generator().manual_seed(1))
    expected = ["window", "parameter", "unit", "mean", "median", "std", "ci50_low", "ci50_high",
                "ci90_low", "ci90_high", "ci95_low", "ci95_high", "width90", "reject",
                "reject_reason", "at_bound", "ood_score", "ood", "validity", "validity_note", "status"]
    assert list(table.columns) == expected
    assert len(table) == len(x) * 2
    assert (table["ci95_low"] <= table["ci90_low"]).all() and (table["ci90_low"] <= table["ci50_low"]).all()
    assert (table["ci50_high"] <= table["ci90_high"]).all() and (table["ci90_high"] <= table["ci95_high"]).all()
    assert ((table["width90"] - (table["ci90_high"] - table["ci90_low"])).abs() < 1e-9).all()
    assert table["reject"].dtype == bool
    # every reject says why, and nothing else carries a reason
    assert ((table["reject_reason"] != "") == table["reject"]).all()
    # a toy posterior records no real-data validation: nothing it prints is "ok"
    assert set(table["status"]) <= {"rejected", "unvalidated"}


def test_rope_accessors(trained):
    name, posterior, task, x = trained
    if not isinstance(posterior, NPEPosterior):
        pytest.skip("ensembles expose their members instead")
    embedding = posterior.embed(x)
    assert embedding.shape == (len(x), posterior.embedding_net.out_features)
    distribution = posterior.flow_distribution(embedding)
    theta_std = distribution.sample((5,))
    theta = posterior.to_physical(theta_std)
    low, high = task.bounds()
    assert ((theta >= low) & (theta <= high)).all()
    torch.testing.assert_close(posterior.from_physical(theta), theta_std, rtol=1e-3, atol=1e-3)
