"""The measurement model: one periodic beat per channel -> a realistic, seeded monitor window.

Each window gets its own ``numpy.random.Generator`` from its seed, so a sample is reproducible
from its seed alone, whatever the batch, shard or worker it ran in. The drawn value of every
effect's parameter is returned as a *nuisance* label, so ablations and analyses can condition
on it. Effects, in physical order: beat-to-beat and respiratory timing (time warping, random
start phase), respiratory baseline/amplitude modulation, sensor noise at a drawn SNR, baseline
wander, motion bursts, the monitor's causal filter, ADC quantisation, and (when enabled) lost
samples: dropouts and clipped stretches, NaN where the quality code would mark them missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from simulators.measurement import effects, gaps
from simulators.measurement.config import MeasurementConfig
from simulators.measurement.warping import beat_onsets, beat_phase, sample_beat


@dataclass
class Measured:
    """Windows per channel (B, T) float32 at ``fs`` and the drawn nuisance values (B,)."""

    windows: dict[str, np.ndarray]
    nuisance: dict[str, np.ndarray]
    fs: float


def channel_key(channel: str) -> str:
    """``"digital/PPG"`` -> ``"digital_PPG"`` (for nuisance names)."""
    return channel.replace("/", "_")


class MeasurementModel:
    """Apply the configured effects to beats; see the module docstring for the order."""

    def __init__(self, config: MeasurementConfig | None = None):
        self.config = config or MeasurementConfig()
        if self.config.fs <= 0 or self.config.window_s <= 0 or self.config.lead_s < 0:
            raise ValueError("measurement: fs and window_s must be positive, lead_s >= 0")
        check_gaps(self.config)

    def apply(self, beats: Mapping[str, np.ndarray], period: np.ndarray,
              seeds: Sequence[int | Sequence[int]]) -> Measured:
        """``beats``: channel -> (B, n_phase) one periodic beat on a uniform phase grid;
        ``period`` (B,) in s; ``seeds`` one per window (an int or a list of ints, as
        accepted by ``numpy.random.default_rng``)."""
        period = np.asarray(period, dtype=np.float64)
        windows = {ch: np.empty((period.shape[0], self.config.n_samples), np.float32) for ch in beats}
        nuisance: dict[str, np.ndarray] = {}
        for b, seed in enumerate(seeds):
            rng = np.random.default_rng(seed)
            one, drawn = self.apply_one({ch: np.asarray(v[b], np.float64) for ch, v in beats.items()},
                                        float(period[b]), rng)
            for ch, x in one.items():
                windows[ch][b] = x
            for name, value in drawn.items():
                nuisance.setdefault(name, np.full(period.shape[0], np.nan))[b] = value
        return Measured(windows, nuisance, self.config.fs)

    def apply_one(self, beats: Mapping[str, np.ndarray], period: float,
                  rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """One window per channel from one periodic beat per channel (shared timing)."""
        cfg = self.config
        n_lead = int(round(cfg.lead_s * cfg.fs))
        t = np.arange(n_lead + cfg.n_samples) / cfg.fs
        drawn = self._draw_timing(rng)
        resp_phase = rng.uniform(0.0, 2.0 * np.pi)
        onsets = beat_onsets(period, t[-1], drawn["start_phase"], drawn["hrv_sd"],
                             drawn["resp_frequency"], drawn["resp_rate_hz"], resp_phase, rng)
        phase = beat_phase(t, onsets)
        windows = {}
        for channel, beat in beats.items():
            x, channel_draws = self._channel(channel, beat, phase, t, resp_phase, drawn, rng)
            x = x[n_lead:]
            if cfg.gaps.enabled:
                x, channel_draws["gap_fraction"] = self._lose_samples(x, rng)
            windows[channel] = x.astype(np.float32)
            drawn.update({f"{name}_{channel_key(channel)}": v for name, v in channel_draws.items()})
        return windows, drawn

    def _lose_samples(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        """``x`` with a drawn share lost (NaN), and the share lost."""
        cfg = self.config.gaps
        if rng.uniform() >= cfg.probability:
            return x, 0.0
        pattern = cfg.patterns[int(rng.integers(len(cfg.patterns)))]
        fs = self.config.fs
        x = gaps.lose_samples(x, rng.uniform(*cfg.fraction), pattern, rng, cfg.max_stretches,
                              max(1, round(cfg.min_stretch_s * fs)),
                              max(1, round(cfg.min_clip_run_s * fs)))
        return x, float(np.isnan(x).mean())

    def _draw_timing(self, rng: np.random.Generator) -> dict[str, float]:
        cfg = self.config
        resp = cfg.respiration
        return {
            "start_phase": rng.uniform(0.0, 1.0) if cfg.random_start else 0.0,
            "hrv_sd": rng.uniform(*cfg.hrv.sd_fraction) if cfg.hrv.enabled else 0.0,
            "resp_rate_hz": rng.uniform(*resp.rate_hz) if resp.enabled else 0.0,
            "resp_baseline": rng.uniform(*resp.baseline) if resp.enabled else 0.0,
            "resp_amplitude": rng.uniform(*resp.amplitude) if resp.enabled else 0.0,
            "resp_frequency": rng.uniform(*resp.frequency) if resp.enabled else 0.0,
        }

    def _channel(self, channel, beat, phase, t, resp_phase, timing, rng):
        cfg = self.config
        pulse = max(float(beat.max() - beat.min()), 1e-12)
        draws: dict[str, float] = {}
        x = sample_beat(beat, phase)
        if cfg.respiration.enabled:
            x = effects.respiratory_modulation(x, t, pulse, timing["resp_rate_hz"], resp_phase,
                                               timing["resp_baseline"], timing["resp_amplitude"])
        if cfg.noise.enabled:
            draws["snr_db"] = rng.uniform(*cfg.noise.snr_db)
            draws["pink_fraction"] = rng.uniform(*cfg.noise.pink_fraction)
            x = x + effects.sensor_noise(x, draws["snr_db"], draws["pink_fraction"], rng)
        if cfg.wander.enabled:
            draws["wander"] = rng.uniform(*cfg.wander.amplitude)
            x = x + effects.baseline_wander(t, pulse, draws["wander"], cfg.wander.max_hz, rng)
        if cfg.motion.enabled:
            burst, count = effects.motion_bursts(t, cfg.fs, pulse, cfg.motion.rate_per_min,
                                                 cfg.motion.amplitude, cfg.motion.duration_s, rng)
            x = x + burst
            draws["motion_bursts"] = float(count)
        band = cfg.bandpass.bands.get(channel.rsplit("/", 1)[-1])
        if cfg.bandpass.enabled and band is not None:
            x = effects.monitor_filter(x, cfg.fs, band, cfg.bandpass.order)
        if cfg.quantization.enabled:
            low, high = np.log(cfg.quantization.levels)
            draws["quant_levels"] = float(np.exp(rng.uniform(low, high)))
            x = effects.quantize(x, pulse, draws["quant_levels"])
        return x, draws


def check_gaps(config: MeasurementConfig) -> None:
    """Refuse gap settings that cannot be drawn, naming the key."""
    cfg = config.gaps
    unknown = [p for p in cfg.patterns if p not in gaps.PATTERNS]
    if unknown or not cfg.patterns:
        raise ValueError(f"measurement.gaps.patterns: {unknown or 'empty'}; use some of "
                         f"{', '.join(gaps.PATTERNS)}")
    low, high = cfg.fraction
    if not 0.0 <= low <= high < 1.0:
        raise ValueError(f"measurement.gaps.fraction must be 0 <= low <= high < 1, got {cfg.fraction}")
    if not 0.0 <= cfg.probability <= 1.0 or cfg.max_stretches < 1:
        raise ValueError("measurement.gaps: probability must be in [0, 1] and max_stretches >= 1")
