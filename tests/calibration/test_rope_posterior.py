"""The RoPE mixture posterior on a linear-Gaussian task with a trained tiny NPE.

Properties checked: self-calibration (τ = 1: the test-set average of RoPE posteriors equals the
NPE's average over the reference simulations), the γ → 0 limit on identical data (RoPE = NPE),
sampling and density agree, streaming mode ignores other rows, save/load round trip, and that
fine-tuning moves real embeddings onto their matching simulations.
"""

from __future__ import annotations

import pytest
import torch

from cardiosbi.calibration import FineTuneConfig, RopePosterior, TransportConfig, calibrate
from cardiosbi.errors import ConfigError
from cardiosbi.inference import NPEConfig, load_posterior, train_npe
from cardiosbi.inference.tasks import LinearGaussianTask

TASK = LinearGaussianTask(dim=2, prior="uniform", prior_scale=2.0, noise_scale=0.5)


def _misspecified(theta: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The "real" process: a gain and an offset the simulator does not model."""
    return 1.4 * TASK.simulate(theta, generator).float() + 0.7


@pytest.fixture(scope="module")
def npe():
    generator = torch.Generator().manual_seed(0)
    theta, x = TASK.sample_joint(1500, generator)
    config = NPEConfig.from_dict({
        "model": {"embedding": {"kind": "mlp", "features": 4, "hidden": [32]},
                  "estimator": {"hidden": [32, 32], "transforms": 2}},
        "trainer": {"max_epochs": 10, "batch_size": 128, "reject_calibration_rows": 50,
                    "reject_calibration_samples": 50},
    })
    low, high = TASK.bounds()
    return train_npe(theta, x, TASK.names, low, high, config)


@pytest.fixture(scope="module")
def data():
    generator = torch.Generator().manual_seed(1)
    theta_ref = TASK.sample_prior(100, generator)
    x_ref = TASK.simulate(theta_ref, generator).float()
    theta_cal = TASK.sample_prior(200, generator)
    x_cal = _misspecified(theta_cal, generator)
    theta_test = TASK.sample_prior(60, generator)
    x_test = _misspecified(theta_test, generator)
    return theta_ref, x_ref, theta_cal, x_cal, theta_test.float(), x_test


def test_self_calibration_with_balanced_transport(npe, data):
    theta_ref, x_ref, _, _, _, x_test = data
    rope = calibrate(npe, None, None, x_ref, transport=TransportConfig(tau=1.0))
    grid = TASK.sample_prior(10, torch.Generator().manual_seed(5)).float()
    rope_average = torch.stack([rope.log_prob(g.expand(len(x_test), 2), x_test).exp().mean()
                                for g in grid])
    npe_average = torch.stack([npe.log_prob(g.expand(len(x_ref), 2), x_ref).exp().mean()
                               for g in grid])
    torch.testing.assert_close(rope_average, npe_average, rtol=1e-3, atol=1e-6)


def test_small_gamma_on_simulated_data_recovers_the_npe(npe, data):
    theta_ref, x_ref, *_ = data
    rope = calibrate(npe, None, None, x_ref, transport=TransportConfig(gamma=0.02, tolerance=1e-6, max_iter=3000))
    order = torch.randperm(len(x_ref), generator=torch.Generator().manual_seed(2))  # n_o = n_s
    x, theta = x_ref[order], theta_ref[order].float()
    # With γ → 0 the plan becomes the identity matching; rows whose embedding has a near twin
    # still share weight, so compare where the matching simulation holds ≥ 99.9 % of it.
    matched = rope.weights(x)[torch.arange(len(x)), order] > 0.999
    assert matched.float().mean() > 0.8
    torch.testing.assert_close(rope.log_prob(theta, x)[matched], npe.log_prob(theta, x)[matched],
                               rtol=0, atol=5e-3)


def test_samples_follow_the_mixture_density(npe, data):
    *_, x_test = data
    rope = calibrate(npe, None, None, data[1])
    x = x_test[:1]
    draws = rope.sample((4000,), x=x, generator=torch.Generator().manual_seed(3))[:, 0]
    # Importance check: E_p[1] = ∫ p over the box estimated on a uniform grid equals 1, and the
    # sample mean matches the density-weighted mean computed from log_prob on the same grid.
    side = torch.linspace(-2 + 0.025, 2 - 0.025, 80)
    grid = torch.cartesian_prod(side, side)
    density = rope.log_prob(grid, x.expand(len(grid), -1)).exp()
    cell = (side[1] - side[0]) ** 2
    assert float(density.sum() * cell) == pytest.approx(1.0, abs=0.03)
    mean_from_density = (grid * density[:, None]).sum(0) * cell
    torch.testing.assert_close(draws.mean(0), mean_from_density, atol=0.06, rtol=0)


def test_single_mode_ignores_other_rows(npe, data):
    _, x_ref, theta_cal, x_cal, _, x_test = data
    rope = calibrate(npe, theta_cal, x_cal, x_ref, mode="single")
    alone = rope.weights(x_test[:1])
    together = rope.weights(x_test[:6])
    torch.testing.assert_close(together[0], alone[0])


def test_save_load_round_trip(npe, data, tmp_path):
    _, x_ref, theta_cal, x_cal, _, x_test = data
    rope = calibrate(npe, theta_cal, x_cal, x_ref, mode="single",
                     transport=TransportConfig(tau=0.9))
    rope.save(tmp_path / "rope.pt")
    loaded = load_posterior(tmp_path / "rope.pt")
    assert isinstance(loaded, RopePosterior) and loaded.mode == "single"
    first = rope.sample((50,), x=x_test[:3], generator=torch.Generator().manual_seed(9))
    second = loaded.sample((50,), x=x_test[:3], generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(first, second)


def test_fine_tuning_maps_real_data_onto_matching_simulations(npe, data):
    theta_ref, x_ref, theta_cal, x_cal, theta_test, x_test = data

    def simulator(theta, generator):
        return TASK.simulate(theta.double(), generator).float()

    tuned = calibrate(npe, theta_cal, x_cal, x_ref, simulator=simulator,
                      fine_tune=FineTuneConfig(max_steps=150, learning_rate=3e-3, batch_size=64, val_every_steps=25))
    with torch.no_grad():
        target = npe.embed(simulator(theta_test, torch.Generator().manual_seed(4)))
        before = (npe.embed(x_test) - target).norm(dim=1).mean()
        after = (tuned.real_embeddings(x_test) - target).norm(dim=1).mean()
    assert after < 0.6 * before


def test_cached_draws_follow_the_same_mixture(npe, data, tmp_path):
    _, x_ref, *_, x_test = data
    exact = calibrate(npe, None, None, x_ref)
    cached = RopePosterior(npe, exact.reference_embeddings, exact.encoder, cache_draws=400)
    generator = torch.Generator().manual_seed(11)
    a = exact.sample((3000,), x=x_test[:4], generator=generator)
    b = cached.sample((3000,), x=x_test[:4], generator=generator)
    torch.testing.assert_close(a.mean(0), b.mean(0), atol=0.08, rtol=0)
    torch.testing.assert_close(a.std(0), b.std(0), atol=0.08, rtol=0)
    cached.save(tmp_path / "cached.pt")
    again = load_posterior(tmp_path / "cached.pt")
    torch.testing.assert_close(again.cached_draws(), cached.cached_draws())


def test_gamma_selection_picks_a_gamma_that_scores_well_on_fresh_pairs(npe, data):
    theta_ref, x_ref, theta_cal, x_cal, theta_test, x_test = data
    grid = [0.02, 0.1, 0.5, 2.0, 10.0]
    chosen = calibrate(npe, theta_cal, x_cal, x_ref, gamma_grid=grid).transport.gamma
    test_lpp = {}
    for gamma in grid:
        rope = calibrate(npe, None, None, x_ref, transport=TransportConfig(gamma=gamma))
        test_lpp[gamma] = float(rope.log_prob(theta_test, x_test).mean())
    assert chosen in grid
    # the choice made on 40 held-out calibration pairs transfers to 60 fresh test pairs
    assert test_lpp[chosen] >= max(test_lpp.values()) - 0.3
    assert test_lpp[chosen] > min(test_lpp.values()) + 0.1


def test_labels_for_some_parameters_only(npe, data):
    theta_ref, x_ref, theta_cal, x_cal, theta_test, x_test = data
    with pytest.raises(ConfigError, match="subset"):
        calibrate(npe, theta_cal[:, :1], x_cal, x_ref, theta_reference=theta_ref,
                  fine_tune=FineTuneConfig(max_steps=5), labelled=["map"])
    # fine-tuning targets are matched in the labelled parameter only: without θ1 labels the
    # encoder still learns to undo the sensor gain/offset for θ0
    tuned = calibrate(npe, theta_cal[:, :1], x_cal, x_ref, theta_reference=theta_ref,
                      labelled=["theta0"], fine_tune=FineTuneConfig(
                          max_steps=150, learning_rate=3e-3, batch_size=64, val_every_steps=25))
    generator = torch.Generator().manual_seed(6)

    def theta0_error(embedding):
        distribution = npe.flow_distribution(embedding)
        z = torch.randn((200, len(embedding), 2), generator=generator)
        draws = npe.to_physical(distribution.transform.inv(z))[..., 0]
        return (draws.median(0).values - theta_test[:, 0]).abs().mean()

    with torch.no_grad():
        error = {"tuned": theta0_error(tuned.real_embeddings(x_test)),
                 "untuned": theta0_error(npe.embed(x_test))}
    assert error["tuned"] < 0.8 * error["untuned"]


def test_marginal_density_matches_the_mixture_draws(npe, data):
    _, x_ref, *_, x_test = data
    rope = RopePosterior(npe, npe.embed(x_ref).detach(), cache_draws=500)
    weights = rope.weights(x_test[:5])
    draws = rope.sample((20000,), x=x_test[:5], generator=torch.Generator().manual_seed(8))[..., 1]
    # the Gaussian-marginal mixture against a histogram of exact marginal draws, per window
    edges = torch.linspace(-2, 2, 41)
    centres = (edges[1:] + edges[:-1]) / 2
    distance, to_flat = [], []  # L1 distances between densities
    for i in range(5):
        histogram = torch.histogram(draws[:, i], edges, density=True).hist
        approx = rope.marginal_log_prob(centres[:, None], weights[i].expand(40, -1), [1]).exp()
        distance.append(float((approx - histogram).abs().sum() * 0.1))
        to_flat.append(float((0.25 - histogram).abs().sum() * 0.1))
    # ~5 % of the Gaussians' mass lies beyond the prior bound; flat densities are 0.5–1 away
    assert max(distance) < 0.22
    assert sum(distance) < 0.4 * sum(to_flat)


def test_gamma_selection_on_a_labelled_marginal(npe, data):
    theta_ref, x_ref, theta_cal, x_cal, theta_test, x_test = data
    grid = [0.02, 0.1, 0.5, 2.0, 10.0]
    chosen = calibrate(npe, theta_cal[:, 1:], x_cal, x_ref, gamma_grid=grid,
                       labelled=["theta1"]).transport.gamma
    scores = {}
    for gamma in grid:
        rope = calibrate(npe, None, None, x_ref, transport=TransportConfig(gamma=gamma))
        rope.cache_draws = 400
        scores[gamma] = float(rope.marginal_log_prob(theta_test[:, 1:], rope.weights(x_test),
                                                     [1]).mean())
    assert scores[chosen] >= max(scores.values()) - 0.3
    assert scores[chosen] > min(scores.values()) + 0.05


def test_reference_given_as_embeddings_is_the_same_calibration(npe, data):
    theta_ref, x_ref, theta_cal, x_cal, _, x_test = data
    embeddings = npe.embed(x_ref).detach()
    from_x = calibrate(npe, None, None, x_ref)
    from_embeddings = calibrate(npe, None, None, None, reference_embeddings=embeddings)
    torch.testing.assert_close(from_embeddings.weights(x_test), from_x.weights(x_test))
    tune = FineTuneConfig(max_steps=60, learning_rate=3e-3, batch_size=64, val_every_steps=20)
    tuned = [calibrate(npe, theta_cal, x_cal, x, theta_reference=theta_ref, fine_tune=tune,
                       reference_embeddings=e) for x, e in ((x_ref, None), (None, embeddings))]
    # nearest-simulation targets h(x_s) are the same whether embedded on the fly or given
    torch.testing.assert_close(tuned[0].real_embeddings(x_test), tuned[1].real_embeddings(x_test))
    with pytest.raises(ConfigError, match="not both"):
        calibrate(npe, None, None, x_ref, reference_embeddings=embeddings)
