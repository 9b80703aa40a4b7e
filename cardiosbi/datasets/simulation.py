"""Simulator adapters: parameters in, one periodic beat per requested channel out.

Both simulators end in the same :class:`Beats`: per channel ``"site/signal"`` a (B, n_phase)
array holding one periodic beat on a uniform phase grid, the period per subject, labels in
registry units, and a status/reason per subject. Signals: ``P`` (pressure, mmHg), ``PPG``
(volume PPG, PWDB recipe, in [0, 1]), ``OPPG`` (optical PPG of a sensor over the site, driven
by the volume PPG; normalised waveform plus a ``perfusion_index_<site>`` label; its skin
parameters melanin, blood_fraction, pulsatile_fraction, spo2 are prior dimensions), ``Q``
(flow, mL/s) and ``A`` (area, mm^2).

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

MMHG = 133.322
SIGNALS = ("P", "PPG", "OPPG", "Q", "A")
OPTICAL_PARAMETERS = ("melanin", "blood_fraction", "pulsatile_fraction", "spo2")
OPTICAL_BATCH = 64  # subjects per optical transport evaluation (bounds its memory)
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
    optical_wavelength_nm: float = 660.0  # OPPG channels: sensor wavelength
    optical_geometry: str = "reflectance"  # OPPG: reflectance or transmission
    optical_distance_mm: float = 3.0  # OPPG: source-detector distance


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
        optical = any(c.endswith("/OPPG") for c in self.config.channels)
        return self.hemodynamic_parameters + (OPTICAL_PARAMETERS if optical else ())

    def __init__(self, config: SimulatorConfig, device: str):
        self.config = config
        self.device = torch.device(device)
        self.dtype = {"float32": torch.float32, "float64": torch.float64}.get(config.dtype)
        if self.dtype is None:
            raise ConfigError(f"simulator.dtype={config.dtype!r}; use float32 or float64")
        for channel in config.channels:
            site, _, signal = channel.partition("/")
            if signal not in SIGNALS or not site:
                raise ConfigError(f"simulator.channels: {channel!r} must be 'site/signal' with "
                                  f"signal in {', '.join(SIGNALS)}")
        self._check_sites({c.partition("/")[0] for c in config.channels})

    def label_names(self) -> list[str]:
        raise NotImplementedError

    def optical_labels(self) -> list[str]:
        return [f"perfusion_index_{c.partition('/')[0]}" for c in self.config.channels
                if c.endswith("/OPPG")]

    def _channels(self, site: str, signals, dt, p_out, params, labels) -> dict[str, np.ndarray]:
        """Every requested channel of ``site`` from its one-beat signals (B, n_phase)."""
        out = {}
        for channel in self.config.channels:
            name, _, signal = channel.partition("/")
            if name != site:
                continue
            if signal == "OPPG":
                waveform, pi = _optical(signals, dt, p_out, params, self.config)
                out[channel] = waveform
                labels[f"perfusion_index_{site}"] = pi
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
        beats = self._channels("aortic_root", site, dt, p_out, params, labels)
        seconds = {"simulate": simulated - start, "ppg": time.perf_counter() - simulated}
        return Beats(beats, _np(result.period), labels, _np(result.status).astype(np.int64),
                     list(result.reason), seconds)


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
        for site in sites:
            # one beat per subject on its own phase grid first, so the PPG integrates one beat
            phased = {name: torch.as_tensor(_phase_resample(_np(w), period, ok, result.fs, n_phase))
                      for name, w in result.waveforms[site].items()}
            p_out = result.site_info[site].get("p_out", venous)
            p_out = torch.as_tensor(p_out, dtype=torch.float64).cpu()
            beats.update(self._channels(site, phased, dt, p_out, params, labels))
        seconds = {"simulate": simulated - start, "ppg": time.perf_counter() - simulated}
        return Beats(beats, period, labels, _np(result.status).astype(np.int64),
                     list(result.reason), seconds)


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


def _optical(signals, dt, p_out, params, config: SimulatorConfig) -> tuple[np.ndarray, np.ndarray]:
    """Optical PPG waveform (B, n) and perfusion index (B,) of a sensor over the site; the
    dermal arterial blood follows the site's volume PPG."""
    from simulators.ppg.optical import SkinParameters, optical_ppg

    drive = torch.as_tensor(volume_ppg(signals, dt, p_out)[0], dtype=torch.float64)
    missing = [n for n in OPTICAL_PARAMETERS if n not in params]
    if missing:
        raise ConfigError(f"an OPPG channel needs prior parameter(s) {', '.join(missing)} "
                          "(see cardiosbi/conf/prior/wearable.yaml)")
    waveforms, indices = [], []
    for i in range(0, drive.shape[0], OPTICAL_BATCH):
        part = slice(i, i + OPTICAL_BATCH)
        skin = SkinParameters(wavelength_nm=config.optical_wavelength_nm,
                              distance_mm=config.optical_distance_mm,
                              **{n: torch.as_tensor(np.asarray(params[n])[part]) for n in OPTICAL_PARAMETERS})
        ok = torch.isfinite(drive[part]).all(dim=1)
        out = optical_ppg(torch.nan_to_num(drive[part]), skin, config.optical_geometry)
        waveforms.append(torch.where(ok[:, None], out.waveform, torch.nan))
        indices.append(torch.where(ok, out.perfusion_index, torch.nan))
    return _np(torch.cat(waveforms)), _np(torch.cat(indices))


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
