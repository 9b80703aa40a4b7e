"""PPG morphology features and a gradient-boosted regressor on them: the classical PPG baseline.

Features of one window (any unit: the window is z-scored first, so only its shape counts) come
from NeuroKit2's cleaning and systolic peaks (:func:`cardiosbi.signals.ppg_clean`,
:func:`cardiosbi.signals.ppg_peaks`); each beat runs from the foot (the minimum between two
peaks) to the next foot, and a window's feature is the median over its complete beats:

- ``hr`` [bpm] and ``ibi_cv`` from the peak-to-peak intervals; ``amplitude_cv`` (respiratory
  modulation);
- ``rise_time`` (foot to peak) and ``beat_time`` [s], ``rise_fraction`` = rise / beat;
- ``width25/50/75`` [s]: time the beat spends above 25/50/75 % of its amplitude;
- ``systolic_area_fraction``: area above the foot before the peak / whole-beat area;
- ``max_upslope`` [1/s]: steepest rise divided by the amplitude;
- ``apg_ba``: b/a ratio of the second derivative (acceleration PPG, Takazawa et al. 1998);
- ``skewness`` and ``kurtosis`` of the cleaned window (Elgendi 2016's signal-quality shape
  indices, which also track the waveform's age-related shape).

:class:`PPGFeatureRegressor` fits one scikit-learn ``HistGradientBoostingRegressor`` per target
(squared error: the point estimate) and, as the interval variant, quantile regressors at 0.05,
0.5 and 0.95, whose 90 % interval is compared with the posteriors' on coverage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from cardiosbi.errors import ConfigError, SignalError
from cardiosbi.signals import ppg_clean, ppg_peaks
from cardiosbi.signals._methods import check_sampling_rate, check_window

FEATURES = ("hr", "ibi_cv", "amplitude_cv", "rise_time", "beat_time", "rise_fraction",
            "width25", "width50", "width75", "systolic_area_fraction", "max_upslope", "apg_ba",
            "skewness", "kurtosis")
MIN_WINDOW_S = 4.0
_FLAT_STD = 1e-8


def ppg_features(window: np.ndarray, sampling_rate: float) -> dict[str, float]:
    """Morphology features (:data:`FEATURES`) of one PPG window; SignalError if it has no two
    complete beats."""
    fs = check_sampling_rate(sampling_rate, "ppg_features")
    x = _checked_window(window, fs)
    cleaned = ppg_clean((x - x.mean()) / x.std(), fs)
    peaks = ppg_peaks(cleaned, fs)
    if peaks.size < 3:
        raise SignalError(f"PPG window: {peaks.size} systolic peaks found, need 3 (two complete "
                          "beats)")
    feet = np.array([a + int(np.argmin(cleaned[a:b])) for a, b in zip(peaks[:-1], peaks[1:],
                                                                     strict=True)])
    beats = [_beat(cleaned, f, p, n, fs) for f, p, n in zip(feet[:-1], peaks[1:-1], feet[1:],
                                                            strict=True)]
    if not beats:
        raise SignalError("PPG window: no complete beat between two feet")
    per_beat = pd.DataFrame(beats)
    intervals = np.diff(peaks) / fs
    out = per_beat.drop(columns="amplitude").median().to_dict()
    out.update(hr=60.0 / float(np.median(intervals)),
               ibi_cv=float(np.std(intervals) / np.mean(intervals)),
               amplitude_cv=float(per_beat["amplitude"].std(ddof=0) / per_beat["amplitude"].mean()),
               skewness=float(stats.skew(cleaned)), kurtosis=float(stats.kurtosis(cleaned)))
    return {name: float(out[name]) for name in FEATURES}


def ppg_feature_table(windows: np.ndarray, sampling_rate: float) -> pd.DataFrame:
    """Features of each window of (N, T); a window without features keeps NaN and its reason
    in ``error``."""
    rows = []
    for i, window in enumerate(np.atleast_2d(np.asarray(windows, dtype=np.float64))):
        try:
            rows.append({"window": i, **ppg_features(window, sampling_rate), "error": ""})
        except SignalError as exc:
            rows.append({"window": i, **dict.fromkeys(FEATURES, np.nan), "error": str(exc)})
    return pd.DataFrame(rows, columns=["window", *FEATURES, "error"])


@dataclass
class GBRConfig:
    """Settings of each ``HistGradientBoostingRegressor`` (scikit-learn's names)."""

    max_iter: int = 300
    learning_rate: float = 0.05
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 20
    l2_regularization: float = 0.0
    quantiles: tuple[float, float] = (0.05, 0.95)
    seed: int = 0


class PPGFeatureRegressor:
    """Gradient-boosted regressors from PPG features to each target (trained on simulations)."""

    def __init__(self, targets: list[str], config: GBRConfig | None = None) -> None:
        self.targets = list(targets)
        self.config = config or GBRConfig()
        low, high = self.config.quantiles
        if not 0 < low < 0.5 < high < 1:
            raise ConfigError(f"GBRConfig.quantiles={self.config.quantiles}: need 0 < low < 0.5 "
                              "< high < 1")
        self.models: dict[tuple[str, str], object] = {}

    def _model(self, loss: str, quantile: float | None = None):
        from sklearn.ensemble import HistGradientBoostingRegressor

        c = self.config
        extra = {"quantile": quantile} if loss == "quantile" else {}
        return HistGradientBoostingRegressor(
            loss=loss, max_iter=c.max_iter, learning_rate=c.learning_rate,
            max_leaf_nodes=c.max_leaf_nodes, min_samples_leaf=c.min_samples_leaf,
            l2_regularization=c.l2_regularization, random_state=c.seed, **extra)

    def fit(self, features: pd.DataFrame, labels: pd.DataFrame) -> PPGFeatureRegressor:
        """``features``: :func:`ppg_feature_table` rows; ``labels``: a column per target, same
        row order. Windows without features or with a NaN label are left out per target."""
        missing = [t for t in self.targets if t not in labels]
        if missing:
            raise ConfigError(f"PPGFeatureRegressor.fit: no label column for {missing}")
        usable = (features["error"] == "").to_numpy()
        x = features[list(FEATURES)].to_numpy(np.float64)
        low, high = self.config.quantiles
        for target in self.targets:
            y = labels[target].to_numpy(np.float64)
            keep = usable & np.isfinite(y)
            if keep.sum() < 2 * self.config.min_samples_leaf:
                raise ConfigError(f"PPGFeatureRegressor.fit: only {int(keep.sum())} usable "
                                  f"windows for {target!r}")
            self.models[(target, "point")] = self._model("squared_error").fit(x[keep], y[keep])
            for name, q in (("low", low), ("median", 0.5), ("high", high)):
                self.models[(target, name)] = self._model("quantile", q).fit(x[keep], y[keep])
        return self

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Tidy rows (window, parameter, method, median, ci90_low, ci90_high, width90): method
        ``ppg_gbr`` (squared error, no interval) and ``ppg_gbr_quantile`` (median and the
        quantile interval, sorted so crossing quantiles still give low <= high). Windows
        without features get NaN."""
        if not self.models:
            raise ConfigError("PPGFeatureRegressor.predict: call fit first")
        x = features[list(FEATURES)].to_numpy(np.float64)
        failed = (features["error"] != "").to_numpy()
        window = features["window"].to_numpy()
        frames = []
        for target in self.targets:
            point, low, median, high = (np.where(failed, np.nan, self.models[(target, k)].predict(x))
                                        for k in ("point", "low", "median", "high"))
            low, high = np.fmin(low, high), np.fmax(low, high)
            frames.append(pd.DataFrame({"window": window, "parameter": target,
                                        "method": "ppg_gbr", "median": point, "ci90_low": np.nan,
                                        "ci90_high": np.nan, "width90": np.nan}))
            frames.append(pd.DataFrame({"window": window, "parameter": target,
                                        "method": "ppg_gbr_quantile", "median": median,
                                        "ci90_low": low, "ci90_high": high,
                                        "width90": high - low}))
        return pd.concat(frames, ignore_index=True)


# --- per-beat computations ----------------------------------------------------------------------
def _checked_window(window: np.ndarray, fs: float) -> np.ndarray:
    x = check_window(window, fs, "PPG window", MIN_WINDOW_S)
    if x.std() < _FLAT_STD:
        raise SignalError("PPG window is flat (zero variance): no pulse to analyse")
    return x


def _beat(c: np.ndarray, foot: int, peak: int, next_foot: int, fs: float) -> dict[str, float]:
    beat = c[foot:next_foot] - c[foot]
    amplitude = float(c[peak] - c[foot])
    if amplitude <= 0 or not foot < peak < next_foot:
        return dict.fromkeys(["amplitude", "rise_time", "beat_time", "rise_fraction", "width25",
                              "width50", "width75", "systolic_area_fraction", "max_upslope",
                              "apg_ba"], np.nan)
    positive = np.clip(beat, 0.0, None)
    upslope = np.diff(c[foot:peak + 1])
    second = np.gradient(np.gradient(c))
    a_index = foot + int(np.argmax(second[foot:peak + 1]))
    b_end = min(next_foot, peak + int(round(0.1 * fs)) + 1)
    a, b = second[a_index], second[a_index:b_end].min()
    return {
        "amplitude": amplitude,
        "rise_time": (peak - foot) / fs,
        "beat_time": (next_foot - foot) / fs,
        "rise_fraction": (peak - foot) / (next_foot - foot),
        **{f"width{q}": float(np.sum(beat > q / 100 * amplitude)) / fs for q in (25, 50, 75)},
        "systolic_area_fraction": float(positive[:peak - foot].sum() / positive.sum()),
        "max_upslope": float(upslope.max()) * fs / amplitude,
        "apg_ba": float(b / a) if a > 0 else np.nan,
    }
