"""Pulse-contour stroke volume (cardiosbi.baselines.pulse_contour) on exact Windkessel beats."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cardiosbi.baselines import (
    POPULATION_SCALE,
    SV_METHODS,
    PulseContour,
    abp_pulse_beats,
    abp_stroke_volume,
    abp_stroke_volume_index,
    abp_windkessel_tau,
)
from cardiosbi.errors import ConfigError, SignalError
from simulators import windkessel

FS = 125.0
P_OUT = windkessel.DEFAULTS["p_out"]  # mmHg the WK3 drains to


def wk3_window(hr: float, sv: float, lvet: float = 260.0, seconds: float = 8.0,
               offset: float = 0.3, **params: float) -> tuple[np.ndarray, dict, dict]:
    """An aortic pressure window [mmHg] of the exact three-element Windkessel at 125 Hz (the
    periodic beat repeated, starting ``offset`` of a period into it); its R1 = Z_c, R2 = R_p,
    C [SI] and labels (SV in mL, SBP/DBP in mmHg)."""
    result = windkessel.simulate({"hr": [hr], "sv": [sv], "lvet": [lvet],
                                  **{k: [v] for k, v in params.items()}})
    beat = result.waveforms["aortic_root"]["P"][0].numpy() / windkessel.MMHG
    period = float(result.period[0])
    phase = (np.arange(int(seconds * FS)) / FS / period + offset) % 1.0 * beat.size
    low = np.floor(phase).astype(int)
    weight = phase - low
    window = beat[low % beat.size] * (1 - weight) + beat[(low + 1) % beat.size] * weight
    info = result.site_info["aortic_root"]
    tree = {k: float(info[k][0]) for k in ("R1", "R2", "C")}
    labels = {k: float(v[0]) for k, v in result.labels.items() if torch.is_tensor(v)}
    return window, tree, labels


def test_windkessel_fit_recovers_tau_and_the_mass_balance_sv():
    window, tree, labels = wk3_window(75.0, 70.0)
    tau = tree["R2"] * tree["C"]
    assert abp_windkessel_tau(window, FS, outflow_pressure=P_OUT) == pytest.approx(tau, rel=0.02)
    # with the true compliance [mL/mmHg] the 2-element mass balance reads the whole load
    # resistance (Z_c + R_p) as R_p: SV (1 + Z_c / R_p), exactly
    compliance = tree["C"] * 1e6 * windkessel.MMHG
    sv = abp_stroke_volume(window, FS, "windkessel", scale=compliance, outflow_pressure=P_OUT)
    assert sv == pytest.approx(labels["sv"] * (1 + tree["R1"] / tree["R2"]), rel=0.02)


def test_liljestrand_zander_is_its_formula():
    t = np.arange(int(8 * FS)) / FS
    sine = 100.0 + 20.0 * np.sin(2 * np.pi * 1.2 * t)    # SBP 120, DBP 80 mmHg
    assert abp_stroke_volume_index(sine, FS, "liljestrand") == pytest.approx(40 / 200, rel=0.01)
    assert abp_stroke_volume(sine, FS, "liljestrand", scale=350.0) == pytest.approx(70.0, rel=0.01)
    window, _, labels = wk3_window(75.0, 70.0)
    formula = labels["pp"] / (labels["sbp"] + labels["dbp"])
    assert abp_stroke_volume_index(window, FS, "liljestrand") == pytest.approx(formula, rel=0.02)


@pytest.mark.parametrize(("method", "tolerance"), [("windkessel", 0.01), ("systolic_area", 0.15)])
def test_calibrated_methods_track_a_change_of_state_of_one_arterial_tree(method, tolerance):
    baseline, _, reference = wk3_window(70.0, 60.0)
    estimator = PulseContour(method, FS, outflow_pressure=P_OUT).calibrate(baseline,
                                                                            reference["sv"])
    states = [(85.0, 85.0, 260.0), (60.0, 45.0, 300.0), (100.0, 80.0, 240.0)]
    windows, truth = zip(*[(w, lab["sv"]) for w, _, lab in
                           (wk3_window(hr, sv, lvet) for hr, sv, lvet in states)], strict=True)
    table = estimator.estimate(np.stack(windows))
    np.testing.assert_allclose(table["sv"], truth, rtol=tolerance)
    np.testing.assert_allclose(table["hr"], [s[0] for s in states], rtol=0.02)
    np.testing.assert_allclose(table["co"], table["sv"] * table["hr"] / 1000)


def test_population_scale_is_the_median_ratio_and_failures_are_reported():
    windows, svs = zip(*[(w, lab["sv"]) for w, _, lab in
                         (wk3_window(70.0, sv) for sv in (50.0, 70.0, 90.0))], strict=True)
    estimator = PulseContour("systolic_area", FS).fit_population(np.stack(windows), svs)
    index = estimator.indices(np.stack(windows))
    assert estimator.scale == pytest.approx(float(np.median(np.asarray(svs) / index)))
    flat = np.full(int(8 * FS), 80.0)
    table = estimator.estimate(np.stack([windows[0], flat]))
    assert np.isfinite(table["sv"][0]) and np.isnan(table["sv"][1])
    assert table["error"][0] == "" and "flat" in table["error"][1]


def test_unknown_method_lists_the_valid_ones():
    window, _, _ = wk3_window(75.0, 70.0)
    with pytest.raises(ConfigError, match="valid: " + ", ".join(SV_METHODS)):
        abp_stroke_volume(window, FS, method="modelflow")
    with pytest.raises(ConfigError, match="unknown method"):
        PulseContour("wesseling", FS)
    with pytest.raises(ConfigError, match="sampling_rate"):
        abp_stroke_volume(window, 0.0)


@pytest.mark.parametrize(("window", "message"), [
    (np.full(1000, np.nan), "NaN or infinite"),
    (np.full(1000, 90.0), "flat"),
    (np.linspace(80.0, 120.0, 250), "too short"),
    (np.ones((2, 1000)), "one channel"),
    (np.linspace(80.0, 120.0, 1000), "pulse pressure"),          # a drift, no pulse
])
def test_unusable_windows_raise_a_clear_signal_error(window, message):
    with pytest.raises(SignalError, match=message):
        abp_pulse_beats(window, FS)


def test_windkessel_fit_needs_a_diastole_above_the_outflow_pressure():
    window, _, labels = wk3_window(75.0, 70.0)
    with pytest.raises(SignalError, match="decaying diastole"):
        abp_windkessel_tau(window, FS, outflow_pressure=labels["sbp"] + 10.0)


def test_without_a_scale_the_population_constant_is_used():
    window, _, _ = wk3_window(75.0, 70.0)
    index = abp_stroke_volume_index(window, FS, "systolic_area")
    assert abp_stroke_volume(window, FS, "systolic_area") == pytest.approx(
        POPULATION_SCALE["systolic_area"] * index)
    assert PulseContour("Liljestrand", FS).scale == POPULATION_SCALE["liljestrand"]
