"""Coverage, SBC and TARP on exact, overconfident and underconfident Gaussian posteriors."""

from __future__ import annotations

import numpy as np
import pytest

from cardiosbi.diagnostics.coverage import (
    calibration_error,
    central_credibility,
    expected_coverage,
    hpd_credibility_from_density,
    marginal_hpd_credibility,
)
from cardiosbi.diagnostics.sbc import rank_histogram, rank_uniformity, sbc_ranks
from cardiosbi.diagnostics.tarp import tarp
from tests.diagnostics.gaussian_cases import exact_case, rescaled

N_CASES, N_DRAWS = 600, 400


@pytest.fixture(scope="module")
def case():
    return exact_case(N_CASES, N_DRAWS, seed=11)


def test_central_credibility_known_values():
    samples = np.arange(1, 101, dtype=float)[:, None, None].repeat(3, axis=1)  # 1..100
    theta = np.array([[0.0], [50.5], [100.5]])
    assert central_credibility(samples, theta)[:, 0] == pytest.approx([1.0, 0.0, 1.0])


def test_calibration_error_exact_areas():
    uniform = (np.arange(1000) + 0.5) / 1000
    signed, absolute = calibration_error(uniform)
    assert abs(signed[0]) < 1e-9 and absolute[0] < 1e-3
    signed, absolute = calibration_error(np.zeros(10))  # every truth at the centre
    assert signed[0] == pytest.approx(0.5) and absolute[0] == pytest.approx(0.5)


def test_exact_posterior_has_nominal_coverage(case):
    task, theta, x, samples = case
    for cred in (central_credibility(samples, theta), marginal_hpd_credibility(samples, theta)):
        levels = np.array([0.5, 0.8, 0.9, 0.95])
        cov = expected_coverage(cred, levels)
        # 4 binomial standard errors at B = 600 is ≤ 0.082; the draws add a little noise.
        assert np.all(np.abs(cov - levels[:, None]) < 0.07), cov
        _, absolute = calibration_error(cred)
        assert np.all(absolute < 0.04), absolute


def test_joint_hpd_from_exact_density(case):
    task, theta, x, samples = case
    cred = hpd_credibility_from_density(task.log_posterior(samples, x), task.log_posterior(theta, x))
    assert abs(expected_coverage(cred, [0.9])[0] - 0.9) < 0.05


@pytest.mark.parametrize(("factor", "sign"), [(0.5, -1), (2.0, 1)])
def test_miscalibration_is_detected_with_its_direction(case, factor, sign):
    task, theta, x, samples = case
    bad = rescaled(samples, factor)
    signed, absolute = calibration_error(central_credibility(bad, theta))
    assert np.all(sign * signed > 0.08), signed
    ranks = sbc_ranks(bad, theta)
    assert all(rank_uniformity(ranks[:, j], N_DRAWS).chi2_pvalue < 1e-4 for j in range(2))
    assert tarp(bad, theta).ks_pvalue < 1e-4


def test_sbc_ranks_of_exact_posterior_are_uniform(case):
    task, theta, x, samples = case
    ranks = sbc_ranks(samples, theta)
    assert ranks.min() >= 0 and ranks.max() <= N_DRAWS
    for j in range(2):
        test = rank_uniformity(ranks[:, j], N_DRAWS)
        assert test.chi2_pvalue > 1e-3 and test.ks_pvalue > 1e-3, test


def test_rank_histogram_expected_counts_sum_to_cases():
    counts, expected = rank_histogram(np.arange(101), 100, n_bins=7)
    assert counts.sum() == 101 and expected.sum() == pytest.approx(101)


def test_tarp_of_exact_posterior_follows_diagonal(case):
    task, theta, x, samples = case
    result = tarp(samples, theta)
    assert result.abs_area < 0.04 and result.ks_pvalue > 1e-3, result.abs_area


def test_non_finite_samples_are_rejected(case):
    task, theta, x, samples = case
    broken = samples.copy()
    broken[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        central_credibility(broken, theta)


def test_tarp_sees_a_small_scale_parameter_after_z_scoring(case):
    # Parameter 1 in units 1000x larger: in raw units its distances would hide parameter 0.
    task, theta, x, samples = case
    scale = np.array([1.0, 1000.0])
    bad = samples.copy()
    bad[..., 0] = rescaled(samples[..., :1], 0.3)[..., 0]  # overconfident in parameter 0 only
    assert tarp(samples * scale, theta * scale).ks_pvalue > 1e-3
    assert tarp(bad * scale, theta * scale).ks_pvalue < 1e-4
