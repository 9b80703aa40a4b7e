"""The classical oximeter beside the NPE: a ratio-of-ratios curve fitted on training windows
recovers SpO2 on new ones, and the comparison table reports both errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cardiosbi.datasets.prior import prior_group
from cardiosbi.sensor_design import (
    TARGETS,
    SensorDesign,
    WindowSettings,
    classical_spo2,
    design_windows,
    fit_ratio_curve,
    simulate_subjects,
    spo2_comparison,
)

SETTINGS = WindowSettings(window_s=6.0, n_phase=128)
PAIR = SensorDesign("pair", (660.0, 940.0), distance_mm=3.0)


@pytest.fixture(scope="module")
def windows():
    prior = prior_group("wearable")
    subjects = simulate_subjects(prior, np.arange(300), PAIR.optics, PAIR.wavelengths_nm, SETTINGS)
    train = design_windows(subjects, PAIR, np.full(300, 1e-7), SETTINGS, seed=0)
    return train


def test_curve_fitted_on_half_the_windows_recovers_spo2_on_the_other_half(windows):
    first = np.arange(300) < 150
    fit = type(windows)(windows.design, windows.x, windows.theta, windows.ok & first, windows.table)
    curve = fit_ratio_curve(fit)
    estimate = classical_spo2(windows.table, PAIR, curve)[~first]
    truth = windows.theta[~first, TARGETS.index("spo2")]
    rmse = np.sqrt(np.mean((estimate - truth) ** 2))
    # the prior spans SpO2 0.70-1.00 (SD 0.087); skin and sensor nuisances leave ~1 point
    assert rmse < 0.02, rmse
    assert np.corrcoef(estimate, truth)[0, 1] > 0.95


def test_no_red_infrared_pair_gives_no_classical_estimate(windows):
    green = SensorDesign("green", (530.0,))
    assert np.isnan(classical_spo2(windows.table, green, None)).all()


def test_comparison_reports_rmse_of_both_methods():
    rows = pd.DataFrame({
        "design": "pair", "skin_tone": ["I-II"] * 4, "perfusion": "normal", "noise_floor": 1e-5,
        "target": ["spo2", "spo2", "spo2", "hr"], "truth": [0.9, 0.8, 0.95, 70.0],
        "median": [0.92, 0.78, 0.95, 71.0], "classical": [0.9, 0.84, 0.95, np.nan]})
    table = spo2_comparison(rows)
    assert len(table) == 1
    assert table.loc[0, "rmse_npe"] == pytest.approx(np.sqrt((0.02**2 + 0.02**2) / 3))
    assert table.loc[0, "rmse_ratio_of_ratios"] == pytest.approx(np.sqrt(0.04**2 / 3))


def test_curve_is_fitted_on_clean_windows_only(windows):
    """Windows below the calibration SNR are left out: with every window noisy there is no curve."""
    noisy = windows.table.assign(**{c: 0.0 for c in windows.table.columns if c.startswith("snr_db_")})
    assert fit_ratio_curve(type(windows)(windows.design, windows.x, windows.theta, windows.ok, noisy)) is None
