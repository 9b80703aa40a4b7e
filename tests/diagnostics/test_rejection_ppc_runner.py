"""Rejection curves, posterior predictive checks and the run_diagnostics entry point."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cardiosbi.diagnostics import run_diagnostics
from cardiosbi.diagnostics.ppc import posterior_predictive, predictive_checks
from cardiosbi.diagnostics.rejection import rejection_curves
from simulators.benchmark_tasks import LinearGaussian
from tests.diagnostics.gaussian_cases import ExactGaussianPosterior, exact_case


def test_rejecting_wide_posteriors_lowers_the_error():
    # θ ~ N(0, 1), x = θ + ε with a per-case noise level: exact posterior widths vary.
    rng = np.random.default_rng(3)
    n_cases = 800
    theta = rng.standard_normal(n_cases)
    noise = rng.uniform(0.05, 2.0, n_cases)
    x = theta + noise * rng.standard_normal(n_cases)
    post_var = 1.0 / (1.0 + 1.0 / noise**2)
    post_mean = post_var * x / noise**2
    samples = post_mean + np.sqrt(post_var) * rng.standard_normal((300, n_cases))
    table = rejection_curves(samples[..., None], theta[:, None], ["a"])
    width = table[table.ordering == "width"].set_index("retained_fraction")["mae"]
    oracle = table[table.ordering == "oracle"].set_index("retained_fraction")["mae"]
    assert width.iloc[0] < 0.5 * width.iloc[-1]  # keeping the 10 % most certain
    assert width.iloc[-1] == pytest.approx(oracle.iloc[-1])  # all kept: same cases
    assert np.all(oracle.values <= width.values + 1e-12)


def _projection_task() -> LinearGaussian:
    # 4 observations of 2 parameters: a shift orthogonal to the columns of A cannot be
    # explained by any θ, so it must show up in the predictive check.
    return LinearGaussian(dim=2, noise_std=0.3,
                          matrix=np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, -1.0]]))


def test_ppc_pvalues_separate_fit_from_misfit():
    task, theta, x, samples = exact_case(200, 200, seed=5, task=_projection_task())
    simulator = task.simulate
    reps = posterior_predictive(samples, x, simulator, n_replicates=200, seed=1)
    good = predictive_checks(reps, x)
    assert good.ppc_pvalue.mean() > 0.3 and (good.ppc_pvalue < 0.01).mean() < 0.05
    # The data are used twice (posterior, then check), so predictive bands are conservative.
    assert good.band_coverage.mean() >= 0.9
    orthogonal = np.array([1.0, 1.0, -1.0, 0.0]) / np.sqrt(3)  # Aᵀ v = 0
    x_bad = x + 1.5 * orthogonal
    samples_bad = task.sample_posterior(x_bad, 200, np.random.default_rng(2))
    bad = predictive_checks(posterior_predictive(samples_bad, x_bad, simulator, n_replicates=200), x_bad)
    assert bad.ppc_pvalue.median() < 0.05
    assert bad.band_coverage.mean() < good.band_coverage.mean() - 0.2


def test_ppc_reports_failed_simulations():
    task, theta, x, samples = exact_case(3, 20, seed=5)
    reps = posterior_predictive(samples, x, lambda t, rng: np.full((len(t), 2), np.nan), n_replicates=10)
    table = predictive_checks(reps, x)
    assert (table.reason == "simulator_failed").all() and table.ppc_pvalue.isna().all()


def test_run_diagnostics_writes_plots_and_tables(tmp_path):
    task, theta, x, _ = exact_case(300, 1, seed=7)
    report = run_diagnostics(ExactGaussianPosterior(task), theta, x, tmp_path, n_samples=300,
                             joint_hpd_draws=50, simulator=task.simulate, seed=3)
    for name in ("coverage.png", "sbc.png", "tarp.png", "rejection.png", "ppc.png",
                 "summary.csv", "coverage.csv", "sbc_ranks.csv", "tarp.csv", "rejection.csv", "ppc.csv"):
        assert (tmp_path / name).stat().st_size > 0, name
    summary = pd.read_csv(tmp_path / "summary.csv").set_index("parameter")
    assert list(summary.index) == ["theta0", "theta1", "joint"]
    assert np.all(np.abs(summary.loc[["theta0", "theta1"], "coverage90"] - 0.9) < 0.06)
    assert np.all(summary.loc[["theta0", "theta1"], "calib_error_central"] < 0.05)
    assert summary.loc["joint", "calib_error_joint_hpd"] < 0.06
    assert set(report.coverage.kind) == {"central", "hpd", "joint_hpd"}
