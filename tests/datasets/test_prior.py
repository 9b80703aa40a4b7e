"""Priors: registry bounds, constraint rejection with its fraction, per-seed reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from cardiosbi.datasets.prior import DERIVED, ParameterPrior, Prior, PriorConfig, prior_group
from cardiosbi.errors import ConfigError
from tests.datasets.conftest import small_spec


def _adult() -> Prior:
    return Prior(small_spec().prior)


def test_draws_respect_bounds_and_every_constraint():
    prior = _adult()
    draws = prior.sample(list(range(500)))
    assert np.all(draws.theta >= prior.low) and np.all(draws.theta <= prior.high)
    for row in draws.theta:
        values = prior.full(row)
        co = DERIVED["co"][1](values)
        assert 1.5 <= co <= 12.0
        assert 0.2 <= DERIVED["systolic_fraction"][1](values) <= 0.6
    assert draws.rejected.sum() > 0  # the adult box is wider than the constraints


def test_rejected_fraction_matches_the_constraint_volume():
    """Rejections per accepted draw are geometric with p = P(constraints hold)."""
    config = PriorConfig(parameters={"hr": ParameterPrior("uniform", 40.0, 150.0),
                                     "sv": ParameterPrior("uniform", 20.0, 130.0)},
                         constraints={"co": [1.5, 12.0]})
    rng = np.random.default_rng(0)
    hr, sv = rng.uniform(40, 150, 400_000), rng.uniform(20, 130, 400_000)
    p_accept = np.mean((hr * sv / 1000 >= 1.5) & (hr * sv / 1000 <= 12.0))
    draws = Prior(config).sample(list(range(4000)))
    rejected_fraction = draws.rejected.sum() / (draws.rejected.sum() + 4000)
    se = np.sqrt(p_accept * (1 - p_accept) / (4000 / p_accept))
    assert abs(rejected_fraction - (1 - p_accept)) < 4 * se + 1e-3


def test_unconstrained_loguniform_marginal_is_loguniform():
    config = PriorConfig(parameters={"pvr": ParameterPrior("loguniform", 3.5e7, 3.0e8)})
    theta = Prior(config).sample(list(range(2000))).theta[:, 0]
    u = np.log(theta / 3.5e7) / np.log(3.0e8 / 3.5e7)
    assert stats.kstest(u, "uniform").pvalue > 1e-3


def test_each_seed_gives_the_same_draw_alone_or_in_a_batch():
    prior = _adult()
    batch = prior.sample([[7, 0], [8, 0], [9, 0]]).theta
    alone = prior.sample([[8, 0]]).theta
    np.testing.assert_array_equal(batch[1], alone[0])


@pytest.mark.parametrize(("parameters", "constraints", "message"), [
    ({"hr": ParameterPrior("uniform", 10.0, 150.0)}, {}, "physiological bounds"),
    ({"heart_rate": ParameterPrior("uniform", 50.0, 60.0)}, {}, "unknown parameter"),
    ({"hr": ParameterPrior("normal", 50.0, 60.0)}, {}, "uniform, loguniform or fixed"),
    ({"hr": ParameterPrior("uniform", 60.0, 50.0)}, {}, "low < high"),
    ({"hr": ParameterPrior("uniform", 50.0, 60.0)}, {"co": [1.5, 12.0]}, "needs parameter"),
    ({"hr": ParameterPrior("uniform", 50.0, 60.0)}, {"cardiac_index": [1, 2]}, "unknown"),
])
def test_invalid_priors_are_config_errors(parameters, constraints, message):
    with pytest.raises(ConfigError, match=message):
        Prior(PriorConfig(parameters=parameters, constraints=constraints))


def test_icu_prior_spans_the_clinical_heart_rates_with_room_for_ejection():
    """prior=icu: HR 30-220 bpm; at the fastest rates the short ejection times stay admissible."""
    import sys

    from tests.conftest import REPO_ROOT
    sys.path.insert(0, str(REPO_ROOT / "experiments" / "default_model"))
    from prior_coverage import load_prior, prior_marginals

    prior = load_prior("icu")
    hr = prior.names.index("hr")
    assert (prior.low[hr], prior.high[hr]) == (30.0, 220.0)
    assert set(load_prior("adult").names) == set(prior.names)
    draws = prior_marginals(prior, n=3000)
    assert draws["hr"].max() > 200.0 and draws["hr"].min() < 35.0
    assert (draws["hr"] > 150.0).mean() > 0.02   # the fast tail is sampled, if thinly


def test_prior_group_composes_its_defaults_like_hydra():
    wearable = prior_group("wearable")
    adult = prior_group("adult")
    assert set(adult.names) < set(wearable.names) and "melanin" in wearable.names
    assert wearable.config.constraints == adult.config.constraints
    assert wearable.fixed == adult.fixed


def test_prior_group_lists_the_shipped_priors_when_unknown():
    with pytest.raises(ConfigError, match="adult, icu, pwdb, wearable"):
        prior_group("paediatric")


def test_with_parameters_narrows_one_dimension_and_keeps_the_rest():
    wearable = prior_group("wearable")
    dark = wearable.with_parameters({"melanin": ParameterPrior(dist="uniform", low=0.18, high=0.43),
                                     "sensor_distance": ParameterPrior(dist="fixed", value=4.0)})
    draws = dark.sample(list(range(200)))
    melanin = draws.theta[:, dark.names.index("melanin")]
    assert melanin.min() >= 0.18 and melanin.max() <= 0.43
    assert dark.fixed["sensor_distance"] == 4.0 and "sensor_distance" not in dark.names
    assert wearable.config.parameters["melanin"].low == 0.013  # the original is untouched
    with pytest.raises(ConfigError, match="no parameter"):
        wearable.with_parameters({"shoe_size": ParameterPrior(dist="fixed", value=42.0)})
