"""Typed configuration of the measurement model: one dataclass per effect, each with its prior.

A range ``[low, high]`` is a uniform prior the effect's parameter is drawn from per window
(``levels`` is log-uniform). ``enabled: false`` switches an effect off for ablations.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class HeartRateVariability:
    enabled: bool = True
    sd_fraction: list[float] = field(default_factory=lambda: [0.0, 0.05])  # beat-interval SD / mean


@dataclass
class Respiration:
    enabled: bool = True
    rate_hz: list[float] = field(default_factory=lambda: [0.15, 0.4])
    baseline: list[float] = field(default_factory=lambda: [0.0, 0.1])  # x pulse amplitude
    amplitude: list[float] = field(default_factory=lambda: [0.0, 0.15])  # relative AM depth
    frequency: list[float] = field(default_factory=lambda: [0.0, 0.05])  # relative RSA depth


@dataclass
class BaselineWander:
    enabled: bool = True
    amplitude: list[float] = field(default_factory=lambda: [0.0, 0.2])  # SD, x pulse amplitude
    max_hz: float = 0.15


@dataclass
class SensorNoise:
    enabled: bool = True
    snr_db: list[float] = field(default_factory=lambda: [15.0, 40.0])
    pink_fraction: list[float] = field(default_factory=lambda: [0.0, 1.0])  # 1/f share of power


@dataclass
class MotionArtifacts:
    enabled: bool = True
    rate_per_min: float = 0.5
    amplitude: list[float] = field(default_factory=lambda: [0.5, 3.0])  # SD, x pulse amplitude
    duration_s: list[float] = field(default_factory=lambda: [0.5, 2.0])


@dataclass
class BandPass:
    enabled: bool = True
    order: int = 2
    # pass band [low, high] Hz per signal; low 0 means low-pass only (keeps the pressure level)
    bands: dict[str, list[float]] = field(
        default_factory=lambda: {"P": [0.0, 16.0], "PPG": [0.5, 8.0], "OPPG": [0.5, 8.0]})


@dataclass
class Quantization:
    enabled: bool = True
    levels: list[float] = field(default_factory=lambda: [256.0, 4096.0])  # per pulse amplitude


@dataclass
class Gaps:
    """Lost samples (simulators/measurement/gaps.py), for training posteriors that read gaps
    (``model.embedding.missing_mask``). Off by default: a posterior without the mask cannot
    read NaN."""

    enabled: bool = False
    probability: float = 0.75  # share of windows (per channel) that lose samples
    fraction: list[float] = field(default_factory=lambda: [0.0, 0.4])  # missing share, uniform
    patterns: list[str] = field(default_factory=lambda: ["dropout", "clipped"])
    max_stretches: int = 3
    min_stretch_s: float = 0.25
    min_clip_run_s: float = 0.1  # a shorter run at the maximum is a peak, not a clipped sensor


@dataclass
class MeasurementConfig:
    fs: float = 125.0
    window_s: float = 8.0
    lead_s: float = 2.0  # simulated before the window and dropped, so filters start settled
    random_start: bool = True
    hrv: HeartRateVariability = field(default_factory=HeartRateVariability)
    respiration: Respiration = field(default_factory=Respiration)
    wander: BaselineWander = field(default_factory=BaselineWander)
    noise: SensorNoise = field(default_factory=SensorNoise)
    motion: MotionArtifacts = field(default_factory=MotionArtifacts)
    bandpass: BandPass = field(default_factory=BandPass)
    quantization: Quantization = field(default_factory=Quantization)
    gaps: Gaps = field(default_factory=Gaps)

    @property
    def n_samples(self) -> int:
        """Samples per window at the model rate."""
        return int(round(self.fs * self.window_s))
