"""What a candidate sensor would record: subjects simulated once per optical geometry, then
windows per design (its wavelengths and LED power) through the photodetector.

The blood-volume drive is the three-element Windkessel's stored volume (``simulator=windkessel``,
the PWDB volume-PPG recipe on a lumped circulation): HR, LVET and the peripheral time constant
shape it; stroke volume only scales it, and the optical model sets the pulse amplitude from the
skin's pulsatile blood, so SV leaves no trace in a normalised PPG. The 1D network would give
site-specific shapes at about a hundred times the cost; a design study needs thousands of
subjects per design.

Each window is 3W + 1 channels of T samples, the quantities of pulse oximetry per wavelength:
the pulse shape (I - mean) / SD (HR, LVET), then as constant channels log10 of the relative
pulse SD / mean (AC/DC: their red/infrared difference is the log ratio of ratios, SpO2; their
level is perfusion) and log10 of the mean (DC: melanin, blood), and last log10 of the noise
floor: a device knows its own (it samples with the LED off), and without it a posterior
amortised over noise levels cannot tell a noisy pulse from a strong one (SpO2 90 % width 5x
wider in a scalars-only pilot). The NPE reads the 2W + 1 constant channels as scalars beside
its CNN (``model.embedding.scalar_channels``). Logs, because AC/DC spans three
decades over skins and designs. Fed as raw I / mean - 1 instead, a 4,000-subject pilot missed
SpO2 and perfusion entirely (relative width 1.0: noise-dominated windows set the standardiser's
scale); fed as constant channels through the CNN, its SpO2 was 3-4x wider than the classical
ratio-of-ratios curve on the same windows (the CNN's GroupNorm divides levels away).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cardiosbi.datasets.prior import ParameterPrior, Prior
from cardiosbi.datasets.simulation import SimulatorConfig, make_simulator
from cardiosbi.sensor_design.design import SensorDesign
from cardiosbi.utils.progress import progress
from simulators.measurement.warping import beat_onsets, beat_phase, sample_beat
from simulators.ppg.detector import detect, detector_noise_sd
from simulators.ppg.sensor import FITZPATRICK_MELANIN

TARGETS = ("hr", "lvet", "sv", "spo2", "melanin", "blood_fraction", "pulsatile_fraction",
           "pulsatile_blood_fraction")
# targets that are products of prior parameters: the pulse's blood volume is what the light
# sees, so blood fraction and pulsatile fraction may each stay unidentified while their product is
PRODUCTS = {"pulsatile_blood_fraction": ("blood_fraction", "pulsatile_fraction")}
SKIN_TONES = {"I-II": FITZPATRICK_MELANIN["I"], "III-IV": FITZPATRICK_MELANIN["III"],
              "V-VI": FITZPATRICK_MELANIN["V"]}
LOG_DC_FLOOR = 1e-9  # below this the mean intensity is noise; log10 of it stays finite
SIMULATION_BATCH = 512


@dataclass
class WindowSettings:
    """How windows are cut and detected. ``photons_per_unit``: photons one sample collects at
    unit detected intensity (shot noise); ``interval_sd``: beat-to-beat interval variability."""

    sampling_rate: float = 50.0
    window_s: float = 8.0
    n_phase: int = 256
    photons_per_unit: float = 1e12
    interval_sd: float = 0.03

    @property
    def n_samples(self) -> int:
        return int(round(self.sampling_rate * self.window_s))


@dataclass
class Subjects:
    """Subjects simulated through one optical geometry at every wavelength: detected intensity
    beats (B, W, n_phase) at nominal LED power, beat period [s], targets (B, len(TARGETS))."""

    wavelengths_nm: tuple[int, ...]
    beats: np.ndarray
    period: np.ndarray
    theta: np.ndarray
    ok: np.ndarray
    reason: list[str]
    strata: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass
class DesignWindows:
    """One design's windows (B, 3W + 1, T) float32 with their targets and a table per window
    (strata, noise floor, pulse SNR and measured log10 relative pulse SD per wavelength);
    ``ok`` False where the subject failed."""

    design: SensorDesign
    x: np.ndarray
    theta: np.ndarray
    ok: np.ndarray
    table: pd.DataFrame


def simulate_subjects(prior: Prior, seeds: np.ndarray, optics: tuple[str, float, float],
                      wavelengths_nm, settings: WindowSettings, desc: str = "subjects") -> Subjects:
    """Draw one subject per seed from ``prior`` and simulate its sensor signals at every
    wavelength for the geometry ``optics`` = (geometry, distance_mm, slab_mm)."""
    geometry, distance_mm, slab_mm = optics
    prior = prior.with_parameters({"sensor_distance": ParameterPrior(dist="fixed", value=distance_mm)})
    wavelengths = tuple(int(round(w)) for w in wavelengths_nm)
    simulator = make_simulator(SimulatorConfig(
        name="windkessel", channels=[f"aortic_root/{nm}nm/OPPG" for nm in wavelengths],
        n_phase=settings.n_phase, optical_wavelengths=list(wavelengths), optical_geometry=geometry,
        optical_slab_mm=slab_mm), "cpu")
    parts = [_simulate_batch(prior, simulator, seeds[i:i + SIMULATION_BATCH], wavelengths)
             for i in progress(range(0, len(seeds), SIMULATION_BATCH), desc=desc, unit="batch")]
    beats, period, theta, ok = (np.concatenate([p[k] for p in parts]) for k in range(4))
    reason = [r for p in parts for r in p[4]]
    return Subjects(wavelengths, beats, period, theta, ok, reason)


def _simulate_batch(prior: Prior, simulator, seeds, wavelengths):
    draws = prior.sample([int(s) for s in seeds])
    params = {name: draws.theta[:, j] for j, name in enumerate(prior.names)}
    params.update({name: np.full(len(seeds), value) for name, value in prior.fixed.items()})
    beats = simulator.run(params)
    intensity = np.stack([_intensity_beat(beats.beats[f"aortic_root/{nm}nm/OPPG"],
                                          beats.labels[f"dc_{nm}"], beats.labels[f"ac_{nm}"])
                          for nm in wavelengths], axis=1)
    theta = np.stack([_target(params, name) for name in TARGETS], axis=1)
    ok = (beats.status == 0) & np.isfinite(intensity).all(axis=(1, 2))
    return intensity, beats.period, theta, ok, list(beats.reason)


def _target(params: dict[str, np.ndarray], name: str) -> np.ndarray:
    return np.prod([params[f] for f in PRODUCTS[name]], axis=0) if name in PRODUCTS else params[name]


def _intensity_beat(waveform: np.ndarray, dc: np.ndarray, ac: np.ndarray) -> np.ndarray:
    """Detected intensity from the normalised waveform (more blood up, so less light)."""
    return dc[:, None] + ac[:, None] * (waveform.mean(axis=1, keepdims=True) - waveform)


def design_windows(subjects: Subjects, design: SensorDesign, noise_floor: np.ndarray,
                   settings: WindowSettings, seed: int) -> DesignWindows:
    """Windows the design records from ``subjects``, with front-end noise ``noise_floor`` (B,)."""
    missing = sorted(set(int(round(w)) for w in design.wavelengths_nm) - set(subjects.wavelengths_nm))
    if missing:
        raise ValueError(f"design {design.name!r} needs {missing} nm, not simulated for these subjects")
    index = [subjects.wavelengths_nm.index(int(round(w))) for w in design.wavelengths_nm]
    beats = subjects.beats[:, index] * design.led_power
    rng = np.random.default_rng(seed)
    n_subjects, n_wave = beats.shape[:2]
    x = np.zeros((n_subjects, 3 * n_wave + 1, settings.n_samples), dtype=np.float32)
    for b in np.flatnonzero(subjects.ok):
        window = _tile(beats[b], subjects.period[b], settings, rng)
        x[b] = _features(detect(window, noise_floor[b], settings.photons_per_unit, rng), noise_floor[b])
    table = subjects.strata.copy() if len(subjects.strata) else pd.DataFrame(index=range(n_subjects))
    table = table.reset_index(drop=True).assign(noise_floor=noise_floor, ok=subjects.ok,
                                                reason=subjects.reason)
    for w, nm in enumerate(design.wavelengths_nm):
        table[f"snr_db_{nm:.0f}"] = _pulse_snr_db(beats[:, w], noise_floor, settings.photons_per_unit)
        table[f"log10_ac_dc_{nm:.0f}"] = np.where(subjects.ok, x[:, n_wave + w, 0], np.nan)
    return DesignWindows(design, x, subjects.theta, subjects.ok.copy(), table)


def _tile(beat: np.ndarray, period: float, settings: WindowSettings, rng) -> np.ndarray:
    """One subject's beat (W, n_phase) laid out over the window with beat-to-beat variability."""
    onsets = beat_onsets(period, settings.window_s, rng.uniform(), settings.interval_sd,
                         rsa_depth=0.0, resp_hz=0.25, resp_phase=0.0, rng=rng)
    times = np.arange(settings.n_samples) / settings.sampling_rate
    return sample_beat(beat, beat_phase(times, onsets))


def _features(window: np.ndarray, noise_floor: float) -> np.ndarray:
    """(3W + 1, T): pulse shape, log10 relative pulse SD and log10 mean intensity per
    wavelength, then log10 of the device's noise floor."""
    dc = np.maximum(window.mean(axis=1, keepdims=True), LOG_DC_FLOOR)
    sd = np.maximum(window.std(axis=1, keepdims=True), LOG_DC_FLOOR * 1e-3)
    shape = (window - window.mean(axis=1, keepdims=True)) / sd
    flat = np.ones_like(window)
    floor = np.full((1, window.shape[1]), np.log10(noise_floor))
    return np.concatenate([shape, np.log10(sd / dc) * flat, np.log10(dc) * flat, floor])


def _pulse_snr_db(beats: np.ndarray, noise_floor: np.ndarray, photons_per_unit: float) -> np.ndarray:
    """Peak-to-peak pulse over the noise SD at the mean intensity, in dB (20 log10)."""
    amplitude = beats.max(axis=1) - beats.min(axis=1)
    sd = detector_noise_sd(beats.mean(axis=1), noise_floor, photons_per_unit)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 20.0 * np.log10(amplitude / sd)


def stratified_subjects(prior: Prior, optics: tuple[str, float, float], wavelengths_nm,
                        settings: WindowSettings, n_per_cell: int, perfusion: dict[str, list[float]],
                        first_seed: int) -> Subjects:
    """``n_per_cell`` subjects per skin tone (Fitzpatrick group's melanin range) x perfusion
    level (range of the pulsatile blood fraction), all else from ``prior``."""
    parts, strata, seed = [], [], first_seed
    for tone, (low, high) in SKIN_TONES.items():
        for level, (p_low, p_high) in perfusion.items():
            cell = prior.with_parameters({
                "melanin": ParameterPrior(dist="loguniform", low=low, high=high),
                "pulsatile_fraction": ParameterPrior(dist="uniform", low=p_low, high=p_high)})
            seeds = np.arange(seed, seed + n_per_cell)
            parts.append(simulate_subjects(cell, seeds, optics, wavelengths_nm, settings,
                                           desc=f"test {tone}/{level}"))
            strata.append(pd.DataFrame({"skin_tone": tone, "perfusion": level}, index=range(n_per_cell)))
            seed += n_per_cell
    return Subjects(parts[0].wavelengths_nm, *(np.concatenate([getattr(p, k) for p in parts])
                                               for k in ("beats", "period", "theta", "ok")),
                    [r for p in parts for r in p.reason], pd.concat(strata, ignore_index=True))
