"""Plain CSV / Parquet recordings: one column per channel, one sampling rate for all of them.

Column headers may carry a unit as ``ABP [mmHg]`` or ``ABP (kPa)``; a column without one is
taken to be in its kind's standard unit (mmHg, mV), which the physical-range check then guards.
A column named ``time``/``t``/``timestamp``/``time_s``/``seconds`` (in seconds) is used only to
check the declared rate.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from cardiosbi.errors import InputFileError, SignalError
from cardiosbi.io.channels import (
    build_channels,
    canonical_name,
    check_sampling_rate,
    renamed_fs,
)
from cardiosbi.io.recording import Recording

_UNIT = re.compile(r"^\s*(?P<name>.*?)\s*[\[(](?P<unit>[^\])]*)[\])]\s*$")
_TIME_COLUMNS = {"time", "t", "timestamp", "time_s", "seconds"}
_STANDARD = {"abp": "mmHg", "pap": "mmHg", "cvp": "mmHg", "ecg": "mV", "ppg": "NU"}


def load_table(path: str | Path, *, sampling_rate: float | None = None,
               fs: float | None = None) -> Recording:
    """Read a CSV or Parquet file of channels sampled at ``sampling_rate`` Hz.

    ``fs`` is the deprecated name of ``sampling_rate``. The rate is checked (finite, > 0,
    plausible for a waveform) before the file is read.
    """
    path = Path(path)
    sampling_rate = renamed_fs(sampling_rate, fs)
    if sampling_rate is None:
        raise SignalError(f"{path.name}: a CSV/Parquet recording needs its sampling rate "
                          "(set sampling_rate=<Hz>)")
    sampling_rate = check_sampling_rate(sampling_rate, path.name)
    frame = _read(path)
    if frame.empty:
        raise InputFileError(f"{path}: no samples (the table has no rows)")
    time_columns = [c for c in frame.columns if _split_unit(str(c))[0].lower() in _TIME_COLUMNS]
    if time_columns:
        _check_rate(frame[time_columns[0]], sampling_rate, path)
    raw = []
    for column in frame.columns:
        if column in time_columns:
            continue
        name, unit = _split_unit(str(column))
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        kind = canonical_name(name).split("_")[0]
        raw.append((name, values, sampling_rate,
                    unit if unit is not None else _STANDARD.get(kind, ""), 0.0))
    if not raw:
        raise InputFileError(f"{path}: no signal columns")
    return Recording(name=path.stem, channels=build_channels(raw), source=str(path),
                     format=path.suffix.lstrip(".").lower())


def _read(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except Exception as exc:  # pandas/pyarrow raise many types for malformed files
        raise InputFileError(f"cannot read {path}: {' '.join(str(exc).split())[:200]}") from None


def _split_unit(header: str) -> tuple[str, str | None]:
    match = _UNIT.match(header)
    if match:
        return match.group("name"), match.group("unit").strip()
    return header.strip(), None


def _check_rate(times: pd.Series, sampling_rate: float, path: Path) -> None:
    """A time column whose median step disagrees with the rate by > 1 % means a wrong rate."""
    t = pd.to_numeric(times, errors="coerce").to_numpy(dtype=np.float64)
    steps = np.diff(t[np.isfinite(t)])
    if steps.size == 0:
        return
    step = float(np.median(steps))
    measured = 1.0 / step if step > 0 else np.inf
    if abs(measured - sampling_rate) > 0.01 * sampling_rate:
        raise SignalError(f"{path.name}: declared fs={sampling_rate:g} Hz but the time column "
                          f"steps at {measured:.4g} Hz; fix the sampling rate")
