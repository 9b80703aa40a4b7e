"""The classical pulse oximeter beside the NPE: SpO2 from the red/infrared ratio of ratios.

R = (AC/DC)_red / (AC/DC)_infrared from the windows' measured relative pulse SDs, and a
quadratic SpO2(log R) fitted on the design's own training windows recorded in good conditions
(pulse SNR of both LEDs at least :data:`CALIBRATION_SNR_DB`), as a device is calibrated: noise
inflates the weaker LED's AC, and a curve fitted through noisy windows is biased everywhere.
A posterior that is wider or worse than this curve is not using the signal well.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cardiosbi.sensor_design.design import SensorDesign
from cardiosbi.sensor_design.windows import TARGETS, DesignWindows
from simulators.ppg.spo2 import red_infrared_pair

CALIBRATION_SNR_DB = 30.0
MIN_CALIBRATION_WINDOWS = 20


def log_ratio_of_ratios(table: pd.DataFrame, design: SensorDesign) -> pd.Series | None:
    """log10 R per window from a windows/rows table; None when the design lacks a red/IR pair."""
    pair = red_infrared_pair(design.wavelengths_nm)
    if pair is None:
        return None
    red, infrared = (f"log10_ac_dc_{nm:.0f}" for nm in pair)
    return table[red] - table[infrared]


def fit_ratio_curve(windows: DesignWindows) -> np.ndarray | None:
    """Quadratic coefficients of SpO2 in log10 R over the design's clean training windows;
    None without a red/infrared pair or with fewer than :data:`MIN_CALIBRATION_WINDOWS`."""
    log_ratio = log_ratio_of_ratios(windows.table, windows.design)
    if log_ratio is None:
        return None
    pair = red_infrared_pair(windows.design.wavelengths_nm)
    clean = np.all([windows.table[f"snr_db_{nm:.0f}"].to_numpy() >= CALIBRATION_SNR_DB for nm in pair], axis=0)
    keep = windows.ok & clean & np.isfinite(log_ratio.to_numpy())
    if keep.sum() < MIN_CALIBRATION_WINDOWS:
        return None
    return np.polyfit(log_ratio.to_numpy()[keep], windows.theta[keep, TARGETS.index("spo2")], 2)


def classical_spo2(table: pd.DataFrame, design: SensorDesign, coefficients: np.ndarray | None) -> np.ndarray:
    """SpO2 per row from the fitted curve, clipped to [0, 1]; NaN without a red/IR pair."""
    log_ratio = log_ratio_of_ratios(table, design)
    if log_ratio is None or coefficients is None:
        return np.full(len(table), np.nan)
    return np.clip(np.polyval(coefficients, log_ratio.to_numpy()), 0.0, 1.0)


def spo2_comparison(rows: pd.DataFrame) -> pd.DataFrame:
    """Per design x skin tone x perfusion x noise floor: RMSE of the NPE's posterior median and
    of the classical curve for SpO2 (designs without a red/IR pair are left out)."""
    spo2 = rows[(rows["target"] == "spo2") & rows["classical"].notna()]
    errors = spo2.assign(npe=(spo2["median"] - spo2["truth"]) ** 2,
                         ratio_of_ratios=(spo2["classical"] - spo2["truth"]) ** 2)
    table = errors.groupby(["design", "skin_tone", "perfusion", "noise_floor"], sort=False)[
        ["npe", "ratio_of_ratios"]].mean().pow(0.5).add_prefix("rmse_").reset_index()
    return table
