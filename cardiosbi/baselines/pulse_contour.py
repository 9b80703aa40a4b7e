"""Classical pulse-contour stroke volume from an arterial pressure window (mmHg).

Each method reduces every complete beat of the window (onset to next onset, from the package's
Zong et al. 2003 detector, :func:`cardiosbi.signals.abp_onsets`) to an *index* proportional to
stroke volume, takes the median over the beats and multiplies it by a *scale*:

- ``liljestrand``: Liljestrand & Zander 1928, SV = k · PP / (SBP + DBP) — the arterial
  compliance is taken to fall with pressure. Index dimensionless, scale k [mL].
- ``systolic_area``: Wesseling-type, SV = A_sys / Z: A_sys is the area of the pressure above
  the beat's onset (end-diastolic) pressure from the onset to the end of ejection [mmHg·s],
  Z the characteristic impedance; scale 1/Z [mL/(mmHg·s)].
- ``windkessel``: two-element Windkessel (Bourgeois et al. 1974): the diastolic decay of
  P − P_out is fitted log-linearly for tau = R·C; the mass balance of a periodic beat,
  SV = ∫(P − P_out) dt / R, gives SV = C · ∫(P − P_out) dt / tau. Index [mmHg], scale C
  [mL/mmHg]. ``outflow_pressure`` P_out is the pressure the arteries drain to (0 mmHg in the
  classical method; the PWDB-based simulator uses 33.2 mmHg).

End of ejection is the dicrotic notch, taken as the point of largest curvature (second
derivative) of the low-passed pressure between the systolic peak and 60 % of the beat: the
downstroke decelerates abruptly where the aortic valve closes. On the held-out simulations this
tracks the simulated LVET better (r 0.56) than the nearest local minimum to the Bazett-type
0.3·sqrt(RR) estimate of Sun et al. 2009 (r 0.34); on radial pressure it falls ~40 ms late.

Uncalibrated, the scale is a population constant (:meth:`PulseContour.fit_population` on
labelled windows); calibrated, it is fitted to one reference stroke volume of the patient
(:meth:`PulseContour.calibrate`), so only relative changes come from the waveform.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cardiosbi.errors import SignalError
from cardiosbi.signals import abp_clean, abp_onsets, abp_peaks
from cardiosbi.signals._methods import check_method, check_sampling_rate, check_window

SV_METHODS = ("liljestrand", "systolic_area", "windkessel")
INDEX_UNITS = {"liljestrand": "1", "systolic_area": "mmHg*s", "windkessel": "mmHg"}
SCALE_UNITS = {"liljestrand": "mL", "systolic_area": "mL/(mmHg*s)", "windkessel": "mL/mmHg"}
# Population constants: median SV / index on the 1,019 fitting windows of the default model's
# held-out radial pressures (experiments/baselines/compare.py; windkessel at outflow 0 mmHg).
POPULATION_SCALE = {"liljestrand": 190.6, "systolic_area": 5.904, "windkessel": 1.101}
MIN_WINDOW_S = 4.0      # two complete beats at 30 bpm
MIN_PULSE_MMHG = 5.0    # a smaller pulse is a flat (damped, flushing) line or noise


@dataclass
class PulseBeats:
    """Complete beats of a pressure window: sample indices and the low-passed pressure [mmHg]."""

    pressure: np.ndarray
    onsets: np.ndarray
    peaks: np.ndarray
    ends: np.ndarray          # end of ejection (dicrotic notch)
    next_onsets: np.ndarray
    sampling_rate: float

    @property
    def heart_rate(self) -> float:
        """Median beat rate [bpm] of the complete beats."""
        return 60.0 * self.sampling_rate / float(np.median(self.next_onsets - self.onsets))


def abp_pulse_beats(window: np.ndarray, sampling_rate: float) -> PulseBeats:
    """The complete beats of one arterial pressure window, or SignalError if it has none."""
    fs = check_sampling_rate(sampling_rate, "abp_pulse_beats")
    x = _checked_window(window, fs)
    cleaned = abp_clean(x, fs)
    onsets = abp_onsets(cleaned, fs)
    if onsets.size < 3:
        raise SignalError(f"pressure window: {onsets.size} pulse onsets found, need 3 (two "
                          "complete beats); is it an arterial pressure in mmHg?")
    beats = abp_peaks(cleaned, onsets[:-1], fs, abp_cleaned=cleaned)
    # an onset the detector found on noise or drift starts no real pulse
    pulse = cleaned[beats.peaks] - cleaned[beats.onsets]
    real = pulse >= MIN_PULSE_MMHG
    if real.sum() < 2:
        raise SignalError(f"pressure window: {int(real.sum())} of {pulse.size} beats have a pulse "
                          f"pressure of at least {MIN_PULSE_MMHG:g} mmHg, need 2")
    onsets, peaks, next_onsets = beats.onsets[real], beats.peaks[real], onsets[1:][real]
    ends = np.array([_end_of_ejection(cleaned, o, p, n) for o, p, n in
                     zip(onsets, peaks, next_onsets, strict=True)], dtype=np.int64)
    return PulseBeats(cleaned, onsets, peaks, ends, next_onsets, fs)


def abp_windkessel_tau(window: np.ndarray, sampling_rate: float, outflow_pressure: float = 0.0
                       ) -> float:
    """Diastolic decay time constant tau = R·C [s]: median over the beats of a log-linear fit
    of P − ``outflow_pressure`` from the end of ejection to the next onset."""
    beats = abp_pulse_beats(window, sampling_rate)
    return float(np.nanmedian(_taus(beats, outflow_pressure)))


def abp_stroke_volume_index(window: np.ndarray, sampling_rate: float,
                            method: str = "liljestrand", outflow_pressure: float = 0.0) -> float:
    """Uncalibrated pulse-contour index of the window (units: :data:`INDEX_UNITS`)."""
    method = check_method(method, SV_METHODS, "abp_stroke_volume_index")
    beats = abp_pulse_beats(window, sampling_rate)
    return _index(beats, method, outflow_pressure)


def abp_stroke_volume(window: np.ndarray, sampling_rate: float, method: str = "liljestrand",
                      scale: float | None = None, outflow_pressure: float = 0.0) -> float:
    """Stroke volume [mL] = ``scale`` × the method's index (scale units: :data:`SCALE_UNITS`;
    default: :data:`POPULATION_SCALE`, i.e. uncalibrated; fit one with :class:`PulseContour`)."""
    index = abp_stroke_volume_index(window, sampling_rate, method, outflow_pressure)
    return (POPULATION_SCALE[method.lower()] if scale is None else scale) * index


@dataclass(frozen=True)
class PulseContour:
    """A pulse-contour SV estimator: method, scale and the pressure the arteries drain to.

    Example (``train_windows`` (N, T) in mmHg with labels ``train_sv`` in mL)::

        estimator = PulseContour("windkessel", sampling_rate=125.0, outflow_pressure=33.2)
        population = estimator.fit_population(train_windows, train_sv)   # uncalibrated
        patient = population.calibrate(first_window, reference_sv)        # calibrated
        patient.estimate(windows)[["sv", "co"]]
    """

    method: str
    sampling_rate: float
    scale: float | None = None   # None: the population constant (POPULATION_SCALE)
    outflow_pressure: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", check_method(self.method, SV_METHODS, "PulseContour"))
        if self.scale is None:
            object.__setattr__(self, "scale", POPULATION_SCALE[self.method])
        check_sampling_rate(self.sampling_rate, "PulseContour")

    def fit_population(self, windows: np.ndarray, sv: np.ndarray) -> PulseContour:
        """Copy whose scale is the median of SV / index over labelled windows (robust to
        artefacted windows); windows without two complete beats are skipped."""
        index = self.indices(windows)
        ratio = np.asarray(sv, dtype=np.float64) / index
        ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
        if ratio.size == 0:
            raise SignalError(f"PulseContour({self.method}).fit_population: no window gave a "
                              "usable index")
        return dataclasses.replace(self, scale=float(np.median(ratio)))

    def calibrate(self, window: np.ndarray, sv_reference: float) -> PulseContour:
        """Copy whose scale makes this window's estimate equal ``sv_reference`` [mL]."""
        index = abp_stroke_volume_index(window, self.sampling_rate, self.method,
                                        self.outflow_pressure)
        if not (np.isfinite(index) and index > 0 and sv_reference > 0):
            raise SignalError(f"PulseContour({self.method}).calibrate: index {index:.3g} or "
                              f"reference {sv_reference} is not positive")
        return dataclasses.replace(self, scale=float(sv_reference) / index)

    def indices(self, windows: np.ndarray) -> np.ndarray:
        """Index per window of (N, T); NaN where a window has no two complete beats."""
        return self.estimate(windows)["index"].to_numpy()

    def estimate(self, windows: np.ndarray) -> pd.DataFrame:
        """Per window: index, SV [mL], HR [bpm] of the beats, CO [L/min]; ``error`` says why a
        window has none (NaN estimates)."""
        rows = []
        for i, window in enumerate(np.atleast_2d(np.asarray(windows, dtype=np.float64))):
            try:
                beats = abp_pulse_beats(window, self.sampling_rate)
                rows.append({"window": i, "index": _index(beats, self.method,
                                                          self.outflow_pressure),
                             "hr": beats.heart_rate, "error": ""})
            except SignalError as exc:
                rows.append({"window": i, "index": np.nan, "hr": np.nan, "error": str(exc)})
        table = pd.DataFrame(rows)
        table["sv"] = self.scale * table["index"]
        table["co"] = table["sv"] * table["hr"] / 1000.0
        return table[["window", "index", "sv", "hr", "co", "error"]]


# --- per-beat computations ----------------------------------------------------------------------
def _checked_window(window: np.ndarray, fs: float) -> np.ndarray:
    x = check_window(window, fs, "pressure window", MIN_WINDOW_S)
    if np.ptp(x) < MIN_PULSE_MMHG:
        raise SignalError(f"pressure window is flat (range {np.ptp(x):.2f} mmHg < "
                          f"{MIN_PULSE_MMHG:g}): no pulse to analyse")
    return x


def _end_of_ejection(p: np.ndarray, onset: int, peak: int, next_onset: int) -> int:
    hi = min(next_onset - 1, onset + int(round(0.6 * (next_onset - onset))))
    if hi - peak < 3:
        return min(peak + 1, next_onset - 1)
    curvature = np.gradient(np.gradient(p[peak:hi + 1]))
    return int(peak + 1 + np.argmax(curvature[1:-1]))


def _index(beats: PulseBeats, method: str, outflow_pressure: float) -> float:
    p, fs = beats.pressure, beats.sampling_rate
    if method == "liljestrand":
        sbp = np.array([p[o:n].max() for o, n in zip(beats.onsets, beats.next_onsets, strict=True)])
        dbp = p[beats.onsets]
        return float(np.median((sbp - dbp) / (sbp + dbp)))
    if method == "systolic_area":
        areas = [np.sum(p[o:e] - p[o]) / fs for o, e in zip(beats.onsets, beats.ends, strict=True)]
        return float(np.median(areas))
    taus = _taus(beats, outflow_pressure)
    integrals = np.array([np.sum(p[o:n] - outflow_pressure) / fs
                          for o, n in zip(beats.onsets, beats.next_onsets, strict=True)])
    return float(np.nanmedian(integrals / taus))


def _taus(beats: PulseBeats, outflow_pressure: float) -> np.ndarray:
    """Per-beat tau [s]; NaN where the diastole is too short, touches P_out or does not decay."""
    fs = beats.sampling_rate
    taus = np.full(beats.onsets.size, np.nan)
    for k, (e, n) in enumerate(zip(beats.ends, beats.next_onsets, strict=True)):
        excess = beats.pressure[e:n] - outflow_pressure
        if excess.size < 5 or np.any(excess <= 0):
            continue
        slope = np.polyfit(np.arange(excess.size) / fs, np.log(excess), 1)[0]
        if slope < 0:
            taus[k] = -1.0 / slope
    if not np.isfinite(taus).any():
        raise SignalError(f"pressure window: no beat has a decaying diastole above "
                          f"{outflow_pressure:g} mmHg for the Windkessel fit")
    return taus
