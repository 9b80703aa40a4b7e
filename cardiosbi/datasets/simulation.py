"""Simulator adapters: parameters in, one periodic beat per requested channel out.

Both simulators end in the same :class:`Beats`: per channel ``"site/signal"`` a (B, n_phase)
array holding one periodic beat on a uniform phase grid, the period per subject, labels in
registry units, and a status/reason per subject. Signals: ``P`` (pressure, mmHg), ``PPG``
(volume PPG, PWDB recipe, in [0, 1]), ``OPPG`` (optical PPG, below), ``Q`` (flow, mL/s) and
``A`` (area, mm^2).

Optical channels are ``<site>/<nm>nm/OPPG`` (e.g. ``digital/660nm/OPPG``): one LED of a
multi-wavelength sensor (:mod:`simulators.ppg.sensor`) over the site, driven by the site's volume
PPG; ``simulator.optical_signal`` chooses the normalised beat (``waveform``, shape only) or the
optical density ``-ln(intensity)`` (``density``: keeps DC and the relative pulse, so a
red/infrared pair carries SpO2). The sensor's LEDs are ``simulator.optical_wavelengths``; all
OPPG channels sit at one site (one sensor), and every LED adds labels ``dc_<nm>``, ``ac_<nm>``,
``pi_<nm>`` (perfusion index, %), plus ``spo2_ratio`` (red/infrared ratio of ratios) when the
sensor has a red and an infrared LED. Skin and sensor parameters are prior dimensions
(:data:`OPTICAL_REQUIRED`, and :data:`OPTICAL_OPTIONAL` which take nominal values when the prior
lacks them); a subject the optical model cannot simulate fails with ``optical_<reason>``.

* ``windkessel``: the 0D three-element Windkessel (:mod:`simulators.windkessel`), one site
  ``aortic_root``. Exact and cheap.
* ``hemodynamics``: the 1D arterial network solver (``simulators.hemodynamics.simulate``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from cardiosbi.errors import ConfigError
from simulators import windkessel
from simulators.hemodynamics import NetworkError
from simulators.hemodynamics import simulate as simulate_network
from simulators.hemodynamics.errors import NoValidSubjectError
from simulators.hemodynamics.network import load_network
from simulators.ppg import volume_ppg
from simulators.ppg.optical import SkinParameters
from simulators.ppg.sensor import NOMINAL_MAP_MMHG, Sensor, SensorPPG, sensor_ppg
from simulators.ppg.spo2 import ratio_of_ratios, red_infrared_pair
from simulators.ppg.validation import GEOMETRIES, check_wavelengths

MMHG = 133.322
SIGNALS = ("P", "PPG", "OPPG", "Q", "A")
OPTICAL_SIGNALS = ("waveform", "density")
OPTICAL_REQUIRED = ("melanin", "blood_fraction", "pulsatile_fraction", "spo2")
# optional optical prior dimension -> (skin | sensor, field); absent ones keep nominal values
OPTICAL_OPTIONAL = {
    "tissue_saturation": ("skin", "tissue_saturation"), "epidermis_thickness": ("skin", "epidermis_mm"),
    "dermis_thickness": ("skin", "dermis_mm"), "sensor_distance": ("sensor", "distance_mm"),
    "contact_pressure": ("sensor", "contact_pressure_mmhg"), "led_gain": ("sensor", "led_gain"),
    "deep_pulsatile_share": ("skin", "deep_pulsatile_share"),
}
OPTICAL_PARAMETERS = OPTICAL_REQUIRED + tuple(OPTICAL_OPTIONAL)
HEMODYNAMICS_LABELS = ("hr", "sv", "co", "lvet", "svr", "map", "sbp", "dbp", "pp", "pwv_cf", "tac")


@dataclass
class SimulatorConfig:
    name: str = "windkessel"
    channels: list[str] = field(default_factory=lambda: ["aortic_root/P", "aortic_root/PPG"])
    n_phase: int = 512
    dtype: str = "float64"
    network: str = "pwdb116"
    fs: float = 500.0
    batch_size: int = 256
    dx: float = 1e-3  # hemodynamics: cell size [m]
    max_cycles: int = 30  # hemodynamics: cycle cap before a subject is flagged not_periodic
    compile: bool = True  # hemodynamics: torch.compile the solver (CPU and CUDA)
    viscoelastic: bool = False  # hemodynamics: Voigt viscoelastic wall on every segment
    optical_wavelengths: list[int] = field(default_factory=lambda: [530, 660, 940])  # sensor LEDs [nm]
    optical_geometry: str = "reflectance"  # OPPG: reflectance or transmission
    optical_slab_mm: float = 10.0  # OPPG transmission: tissue thickness crossed
    optical_ambient: float = 0.0  # OPPG: ambient light, in the units of the detected DC
    optical_signal: str = "waveform"  # OPPG: waveform (normalised beat) or density (-ln intensity)


@dataclass
class Beats:
    beats: dict[str, np.ndarray]
    period: np.ndarray
    labels: dict[str, np.ndarray]
    status: np.ndarray
    reason: list[str]
    seconds: dict[str, float] = field(default_factory=dict)  # "simulate", "ppg"


class Simulator:
    """Common interface; ``parameters`` are the prior names it accepts."""

    name = ""
    hemodynamic_parameters: tuple[str, ...] = ()
    version = ""

    @property
    def parameters(self) -> tuple[str, ...]:
        """Prior names this simulator uses (skin parameters only with an optical channel)."""
        return self.hemodynamic_parameters + (OPTICAL_PARAMETERS if self.optical_site else ())

    def __init__(self, config: SimulatorConfig, device: str):
        self.config = config
        self.device = torch.device(device)
        self.dtype = {"float32": torch.float32, "float64": torch.float64}.get(config.dtype)
        if self.dtype is None:
            raise ConfigError(f"simulator.dtype={config.dtype!r}; use float32 or float64")
        parsed = [parse_channel(c) for c in config.channels]
        optical_sites = {site for site, _, signal in parsed if signal == "OPPG"}
        if len(optical_sites) > 1:
            raise ConfigError(f"simulator.channels: OPPG channels at {sorted(optical_sites)}; one "
                              "sensor sits at one site")
        self.optical_site = optical_sites.pop() if optical_sites else None
        if self.optical_site:
            _check_sensor(config, [nm for _, nm, _ in parsed if nm is not None])
        self._check_sites({site for site, _, _ in parsed})

    def label_names(self) -> list[str]:
        raise NotImplementedError

    def optical_labels(self) -> list[str]:
        """Per sensor wavelength DC, AC and perfusion index, and the SpO2 ratio of ratios."""
        if not self.optical_site:
            return []
        wavelengths = self.config.optical_wavelengths
        names = [f"{q}_{nm}" for nm in wavelengths for q in ("dc", "ac", "pi")]
        return names + (["spo2_ratio"] if red_infrared_pair(wavelengths) else [])

    def _channels(self, site: str, signals, dt, p_out, params, labels,
                  failed: list[str]) -> dict[str, np.ndarray]:
        """Every requested channel of ``site`` from its one-beat signals (B, n_phase); the
        optical model's per-subject reasons go into ``failed`` (where it is still "")."""
        out = {}
        sensor = None
        if site == self.optical_site:
            mean_pressure = labels.get(f"map_{site}", labels.get("map", NOMINAL_MAP_MMHG))
            sensor = _optical(signals, dt, p_out, params, self.config, mean_pressure)
            labels.update(_optical_labels(sensor))
            failed[:] = [f or (f"optical_{r}" if r else "") for f, r in zip(failed, sensor.reason, strict=True)]
        for channel in self.config.channels:
            name, wavelength, signal = parse_channel(channel)
            if name != site:
                continue
            if signal == "OPPG":
                out[channel] = _optical_channel(sensor.at(wavelength), self.config.optical_signal)
            else:
                out[channel] = _signal(signals, signal, dt, p_out)
        return out

    def run(self, params: Mapping[str, np.ndarray]) -> Beats:
        raise NotImplementedError

    def _check_sites(self, sites: set[str]) -> None:
        return None


class WindkesselSimulator(Simulator):
    name = "windkessel"
    hemodynamic_parameters = windkessel.PARAMETERS
    version = "wk3-exact-1"

    def _check_sites(self, sites):
        if sites != {"aortic_root"}:
            raise ConfigError("simulator=windkessel has one site, aortic_root; set "
                              "simulator.channels to aortic_root/P and/or aortic_root/PPG")

    def label_names(self) -> list[str]:
        return ["hr", "sv", "co", "lvet", "svr", "map", "sbp", "dbp", "pp", "tac", *self.optical_labels()]

    def run(self, params):
        tensors = {k: torch.as_tensor(np.asarray(v), dtype=self.dtype, device=self.device)
                   for k, v in params.items() if k in windkessel.PARAMETERS}
        start = time.perf_counter()
        result = windkessel.simulate(tensors, n_phase=self.config.n_phase, device=self.device,
                                     dtype=self.dtype)
        simulated = time.perf_counter()
        site = result.waveforms["aortic_root"]
        dt = result.period / result.phase.shape[0]
        labels = {k: _np(v) for k, v in result.labels.items()}
        p_out = result.site_info["aortic_root"]["p_out"]
        reason = list(result.reason)
        beats = self._channels("aortic_root", site, dt, p_out, params, labels, reason)
        seconds = {"simulate": simulated - start, "ppg": time.perf_counter() - simulated}
        return Beats(beats, _np(result.period), labels, _status(reason), reason, seconds)


class HemodynamicsSimulator(Simulator):
    """The 1D solver through its public API; beats are cut per subject from the kept cycle."""

    name = "hemodynamics"
    hemodynamic_parameters = ("hr", "sv", "lvet", "pft", "rfv", "pvr", "pvc_scale", "k3", "diameter_scale",
                  "length_scale", "height", "p_out", "p_ref")
    version = "1d"

    def __init__(self, config, device):
        self._simulate = simulate_network
        super().__init__(config, device)
        try:  # a wrong network fails here, before a store is created for it
            load_network(config.network)
        except NetworkError as exc:
            raise ConfigError(f"hemodynamics simulator: {exc}") from None

    def label_names(self):
        sites = sorted({c.partition("/")[0] for c in self.config.channels})
        per_site = [f"{m}_{s}" for s in sites for m in ("map", "sbp", "dbp", "pp")]
        return list(HEMODYNAMICS_LABELS) + per_site + self.optical_labels()

    def run(self, params):
        sites = tuple(sorted({c.partition("/")[0] for c in self.config.channels}))
        start = time.perf_counter()
        try:
            result = self._simulate({k: torch.as_tensor(np.asarray(v)) for k, v in params.items()
                                     if k in self.hemodynamic_parameters},
                                    network=self.config.network, sites=sites, fs=self.config.fs,
                                    n_beats=1, device=str(self.device), dtype=self.dtype,
                                    dx=self.config.dx, max_cycles=self.config.max_cycles,
                                    compile=self.config.compile,
                                    viscoelastic=self.config.viscoelastic)
        except NoValidSubjectError:  # every draw of this batch is invalid: per-sample failures
            return _all_failed(params, self.config.channels, self.config.n_phase)
        except NetworkError as exc:  # the network or a parameter name is wrong: a config error
            raise ConfigError(f"hemodynamics simulator: {exc}") from None
        simulated = time.perf_counter()
        period = _np(60.0 / result.labels["hr"])
        ok = _np(result.status) == 0
        n_phase = self.config.n_phase
        dt = torch.as_tensor(period / n_phase)
        # Branch B of the volume PPG (non-terminal sites) drains the bed to the venous
        # outflow pressure: the subject's p_out (PWDB: 33.2 mmHg for every Windkessel).
        venous = torch.as_tensor(np.asarray(params.get("p_out", 33.2)) * MMHG, dtype=torch.float64)
        beats, labels = {}, {k: _np(v) for k, v in result.labels.items()}
        reason = list(result.reason)
        for site in sites:
            # one beat per subject on its own phase grid first, so the PPG integrates one beat
            phased = {name: torch.as_tensor(_phase_resample(_np(w), period, ok, result.fs, n_phase))
                      for name, w in result.waveforms[site].items()}
            p_out = result.site_info[site].get("p_out", venous)
            p_out = torch.as_tensor(p_out, dtype=torch.float64).cpu()
            beats.update(self._channels(site, phased, dt, p_out, params, labels, reason))
        seconds = {"simulate": simulated - start, "ppg": time.perf_counter() - simulated}
        status = np.maximum(_np(result.status).astype(np.int64), _status(reason))
        return Beats(beats, period, labels, status, reason, seconds)


SIMULATORS = {"windkessel": WindkesselSimulator, "hemodynamics": HemodynamicsSimulator}


def make_simulator(config: SimulatorConfig, device: str) -> Simulator:
    """The simulator named by ``config.name`` on ``device``."""
    if config.name not in SIMULATORS:
        raise ConfigError(f"simulator.name={config.name!r}; use one of {', '.join(SIMULATORS)}")
    return SIMULATORS[config.name](config, device)


def _signal(site: Mapping[str, torch.Tensor], signal: str, dt, p_out) -> np.ndarray:
    """One channel of one site in dataset units (mmHg, [0, 1], mL/s, mm^2)."""
    if signal == "P":
        return _np(site["P"] / MMHG)
    if signal == "Q":
        return _np(site["Q"] * 1e6)
    if signal == "A":
        return _np(site["A"] * 1e6)
    ppg, _scale = volume_ppg(site, dt, p_out)
    return _np(ppg)


def parse_channel(channel: str) -> tuple[str, int | None, str]:
    """``"site/signal"`` or ``"site/<nm>nm/OPPG"`` -> (site, wavelength nm or None, signal)."""
    parts = channel.split("/")
    usage = (f"simulator.channels: {channel!r} must be 'site/signal' with signal in "
             f"{', '.join(s for s in SIGNALS if s != 'OPPG')}, or 'site/<nm>nm/OPPG' (e.g. digital/660nm/OPPG)")
    if len(parts) == 2 and parts[0] and parts[1] in SIGNALS:
        if parts[1] == "OPPG":
            raise ConfigError(f"simulator.channels: {channel!r}: name the LED of an optical "
                              f"channel, e.g. {parts[0]}/660nm/OPPG")
        return parts[0], None, parts[1]
    if len(parts) == 3 and parts[0] and parts[2] == "OPPG" and parts[1].endswith("nm") \
            and parts[1][:-2].isdigit():
        return parts[0], int(parts[1][:-2]), "OPPG"
    raise ConfigError(usage)


def _check_sensor(config: SimulatorConfig, channel_wavelengths: list[int]) -> None:
    """Config errors (one line) for a sensor the optical model cannot simulate."""
    try:
        check_wavelengths(config.optical_wavelengths)
    except ValueError as exc:
        raise ConfigError(f"simulator.optical_wavelengths: {exc}") from None
    missing = sorted(set(channel_wavelengths) - {int(w) for w in config.optical_wavelengths})
    if missing:
        raise ConfigError(f"simulator.channels: OPPG at {missing} nm, not among the sensor's "
                          f"simulator.optical_wavelengths {list(config.optical_wavelengths)}")
    if config.optical_signal not in OPTICAL_SIGNALS:
        raise ConfigError(f"simulator.optical_signal={config.optical_signal!r}; use "
                          f"{' or '.join(OPTICAL_SIGNALS)}")
    if config.optical_geometry not in GEOMETRIES:
        raise ConfigError(f"simulator.optical_geometry={config.optical_geometry!r}; use "
                          f"{' or '.join(GEOMETRIES)}")


def _optical(signals, dt, p_out, params, config: SimulatorConfig, mean_pressure) -> SensorPPG:
    """The sensor's signals over the site; the dermal arterial blood follows the site's volume
    PPG and the contact pressure acts against the site's mean pressure [mmHg]."""
    # the optical model runs on the CPU (its tables go through numpy)
    drive = torch.as_tensor(volume_ppg(signals, dt, p_out)[0], dtype=torch.float64).cpu()
    missing = [n for n in OPTICAL_REQUIRED if n not in params]
    if missing:
        raise ConfigError(f"an OPPG channel needs prior parameter(s) {', '.join(missing)} "
                          "(see cardiosbi/conf/prior/wearable.yaml)")
    values = {n: torch.as_tensor(np.asarray(params[n]), dtype=torch.float64)
              for n in OPTICAL_PARAMETERS if n in params}
    skin = SkinParameters(**{n: values[n] for n in OPTICAL_REQUIRED},
                          **{f: values[n] for n, (part, f) in OPTICAL_OPTIONAL.items() if part == "skin" and n in values})
    sensor = Sensor(wavelengths_nm=tuple(float(w) for w in config.optical_wavelengths),
                    geometry=config.optical_geometry, slab_mm=config.optical_slab_mm,
                    ambient=config.optical_ambient,
                    **{f: values[n] for n, (part, f) in OPTICAL_OPTIONAL.items() if part == "sensor" and n in values})
    pressure = torch.as_tensor(np.nan_to_num(np.asarray(mean_pressure, dtype=np.float64), nan=NOMINAL_MAP_MMHG))
    return sensor_ppg(drive, skin, sensor, pressure)


def _optical_channel(light, signal: str) -> np.ndarray:
    """One LED's channel: the normalised beat, or the optical density -ln(intensity), which
    keeps what oximetry needs: its mean is -ln DC and its pulse is about AC/DC (the perfusion
    index), so a red/infrared pair carries the ratio of ratios."""
    if signal == "density":
        return _np(-torch.log(light.intensity))
    return _np(light.waveform)


def _optical_labels(sensor: SensorPPG) -> dict[str, np.ndarray]:
    """dc_<nm>, ac_<nm>, pi_<nm> per wavelength, and spo2_ratio with a red and an infrared LED."""
    labels = {}
    for w, nm in enumerate(sensor.wavelengths_nm):
        labels.update({f"dc_{nm:.0f}": _np(sensor.dc[:, w]), f"ac_{nm:.0f}": _np(sensor.ac[:, w]),
                       f"pi_{nm:.0f}": _np(sensor.perfusion_index[:, w])})
    pair = red_infrared_pair(sensor.wavelengths_nm)
    if pair:
        red, infrared = sensor.at(pair[0]), sensor.at(pair[1])
        labels["spo2_ratio"] = _np(ratio_of_ratios(red.ac, red.dc, infrared.ac, infrared.dc))
    return labels


def _status(reason: list[str]) -> np.ndarray:
    return np.array([int(bool(r)) for r in reason], dtype=np.int64)


def _phase_resample(waveform: np.ndarray, period: np.ndarray, ok: np.ndarray, fs: float,
                    n_phase: int) -> np.ndarray:
    """Cut each subject's beat (its own period) from a common time grid onto ``n_phase`` phases
    (failed subjects stay NaN)."""
    out = np.full((waveform.shape[0], n_phase), np.nan)
    for b in np.flatnonzero(ok):
        n = min(int(round(period[b] * fs)), waveform.shape[1])
        t = np.arange(n) / fs
        grid = np.arange(n_phase) / n_phase * period[b]
        out[b] = np.interp(grid, t, waveform[b, :n], period=period[b])
    return out


def _all_failed(params, channels, n_phase) -> Beats:
    batch = len(next(iter(params.values())))
    nan = np.full((batch, n_phase), np.nan)
    return Beats({c: nan for c in channels}, np.full(batch, np.nan), {},
                 np.ones(batch, dtype=np.int64), ["invalid_parameters"] * batch)


def concat(parts: list[Beats]) -> Beats:
    """One :class:`Beats` from consecutive batches (labels missing in a part become NaN)."""
    if len(parts) == 1:
        return parts[0]
    sizes = [len(p.period) for p in parts]
    names = {n for p in parts for n in p.labels}
    labels = {n: np.concatenate([p.labels.get(n, np.full(k, np.nan)) for p, k in zip(parts, sizes, strict=True)])
              for n in names}
    seconds = {k: sum(p.seconds.get(k, 0.0) for p in parts) for k in ("simulate", "ppg")}
    return Beats({c: np.concatenate([p.beats[c] for p in parts]) for c in parts[0].beats},
                 np.concatenate([p.period for p in parts]), labels,
                 np.concatenate([p.status for p in parts]), [r for p in parts for r in p.reason], seconds)


def _np(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float64).numpy()
