"""Plain CSV / Parquet recordings: one column per channel, one sampling rate given by the user.

Column headers may carry a unit as ``ABP [mmHg]`` or ``ABP (kPa)``; a column without one is
taken to be in its kind's standard unit (mmHg, mV), which the physical-range check then guards.
A column named ``time``/``t``/``timestamp`` is used only to check the declared rate.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from cardiosbi.errors import InputFileError, SignalError
from cardiosbi.io.channels import build_channels, canonical_name
from cardiosbi.io.recording import Recording

_UNIT = re.compile(r"^\s*(?P<name>.*?)\s*[\[(](?P<unit>[^\])]*)[\])]\s*$")
_TIME_COLUMNS = {"time", "t", "timestamp", "time_s", "seconds"}
_STANDARD = {"abp": "mmHg", "pap": "mmHg", "cvp": "mmHg", "ecg": "mV", "ppg": "NU"}


def load_table(path: str | Path, *, fs: float | None) -> Recording:
    """Read a CSV or Parquet file of channels sampled at ``fs`` Hz."""
    path = Path(path)
    if fs is None:
        raise SignalError(f"{path.name}: a CSV/Parquet recording needs its sampling rate "
                          "(set fs=<Hz>)")
    if not np.isfinite(fs) or fs <= 0:
        raise SignalError(f"{path.name}: sampling rate must be > 0 Hz, got {fs}")
    frame = _read(path)
    raw, time_column = [], None
    for column in frame.columns:
        name, unit = _split_unit(str(column))
        if name.lower() in _TIME_COLUMNS:
            time_column = frame[column]
            continue
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        kind = canonical_name(name).split("_")[0]
        raw.append((name, values, float(fs), unit if unit is not None else _STANDARD.get(kind, ""),
                    0.0))
    if not raw:
        raise InputFileError(f"{path}: no signal columns")
    if time_column is not None:
        _check_rate(time_column, fs, path)
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


def _check_rate(times: pd.Series, fs: float, path: Path) -> None:
    """A time column whose median step disagrees with ``fs`` by > 1 % is a wrong declared rate."""
    t = pd.to_numeric(times, errors="coerce").to_numpy(dtype=np.float64)
    steps = np.diff(t[np.isfinite(t)])
    if steps.size == 0:
        return
    measured = 1.0 / float(np.median(steps)) if np.median(steps) > 0 else np.inf
    if abs(measured - fs) > 0.01 * fs:
        raise SignalError(f"{path.name}: declared fs={fs:g} Hz but the time column steps at "
                          f"{measured:.4g} Hz; fix fs")
