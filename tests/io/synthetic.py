"""A short synthetic WFDB record (radial ABP + PPG) for the file-handling tests.

The waveforms are physiological-looking on purpose: every window of the good record must pass
the quality checks, so that a rejected bad file can only be the file's fault.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FS = 125.0


def pulse_waveforms(seconds: float = 60.0, fs: float = FS, hr: float = 72.0, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """ABP [mmHg] (about 120/75, dicrotic notch) and PPG [NU] (0.15 s later), with beat-to-beat
    rate variability, respiratory modulation and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    rate = hr / 60.0 * (1.0 + 0.02 * np.sin(2 * np.pi * 0.2 * t))
    phase = np.cumsum(rate) / fs

    def beat(shift: float, peaks) -> np.ndarray:
        cycle = (phase - shift) % 1.0
        return sum(a * np.exp(-(((cycle - c) / w) ** 2)) for a, c, w in peaks)

    breathing = 1.0 + 0.04 * np.sin(2 * np.pi * 0.25 * t)
    abp = 75.0 + 45.0 * breathing * beat(0.0, [(1.0, 0.18, 0.07), (0.35, 0.45, 0.08)])
    ppg = breathing * beat(0.15 * hr / 60.0, [(1.0, 0.25, 0.11), (0.25, 0.55, 0.1)])
    return abp + rng.normal(0, 0.3, t.size), ppg + rng.normal(0, 0.005, t.size)


def write_pulse_record(folder: Path, name: str, seconds: float = 60.0, abp=None) -> Path:
    """Write ``<folder>/<name>.hea/.dat`` (ABP then PLETH, format 16, 125 Hz); its header path.

    ``abp`` replaces the pressure channel (e.g. a flat line).
    """
    import wfdb

    pressure, ppg = pulse_waveforms(seconds)
    if abp is not None:
        pressure = np.broadcast_to(np.asarray(abp, dtype=np.float64), pressure.shape)
    wfdb.wrsamp(name, fs=FS, units=["mmHg", "NU"], sig_name=["ABP", "PLETH"],
                p_signal=np.column_stack([pressure, ppg]), fmt=["16", "16"],
                adc_gain=[100.0, 10000.0], baseline=[-10000, 0], write_dir=str(folder))
    return folder / f"{name}.hea"
