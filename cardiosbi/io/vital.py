"""VitalDB ``.vital`` files through the ``vitaldb`` library (reading, writing, optional download).

Wave tracks (e.g. ``SNUADC/ART``, ``SNUADC/PLETH``, ``SNUADC/ECG_II``) become channels at their
own rate, their start offsets kept; numeric tracks (``EV1000/CO``, ``EV1000/SV``, ``EV1000/SVR``,
``Vigileo/CO``…) become :class:`Numeric` tracks timed from the file's start.
"""

from __future__ import annotations

import datetime as _dt
import logging
from pathlib import Path

import numpy as np

from cardiosbi.errors import InputFileError, NotAvailableError
from cardiosbi.io.channels import build_channels, numeric_name
from cardiosbi.io.recording import Numeric, Recording

log = logging.getLogger(__name__)

_WAVE, _NUMERIC = 1, 2  # vitaldb track types

# Tracks fetched by default when downloading an open VitalDB case.
DEFAULT_TRACKS = ("SNUADC/ART", "SNUADC/PLETH", "SNUADC/ECG_II", "EV1000/CO", "EV1000/SV",
                  "EV1000/SVR", "Vigileo/CO", "Vigileo/SV")


def load_vital(path: str | Path) -> Recording:
    """Read a local ``.vital`` file into a Recording."""
    import vitaldb

    path = Path(path)
    if not path.exists():
        raise InputFileError(f"VitalDB file not found: {path}")
    try:
        vf = vitaldb.VitalFile(str(path))
    except Exception as exc:  # vitaldb raises assorted low-level errors on corrupt files
        raise InputFileError(f"cannot read VitalDB file {path}: {exc}") from None
    if not vf.trks or vf.dtend <= vf.dtstart:
        raise InputFileError(f"VitalDB file {path} holds no tracks (corrupt or empty)")
    raw, numerics = [], {}
    for dtname, track in vf.trks.items():
        if track.type == _WAVE and track.srate > 0:
            start_s, signal = _wave_samples(vf, track)
            raw.append((dtname, signal, float(track.srate), track.unit, start_s))
        elif track.type == _NUMERIC and track.recs:
            key = numeric_name(dtname)
            times = np.array([r["dt"] for r in track.recs], dtype=np.float64) - vf.dtstart
            values = np.array([r["val"] for r in track.recs], dtype=np.float64)
            order = np.argsort(times, kind="stable")
            numerics[key] = Numeric(key, times[order], values[order], track.unit, dtname)
    return Recording(
        name=path.stem, channels=build_channels(raw), source=str(path), format="vital",
        start_time=_dt.datetime.fromtimestamp(vf.dtstart, _dt.UTC), numerics=numerics,
    )


def _wave_samples(vf, track) -> tuple[float, np.ndarray]:
    """Samples of a wave track from its first record on, gaps filled with NaN."""
    first = min(r["dt"] for r in track.recs)
    n = int(np.ceil((vf.dtend - first) * track.srate))
    out = np.full(n, np.nan)
    for rec in track.recs:
        values = np.asarray(rec["val"], dtype=np.float64)
        if track.fmt > 2:  # integer storage: apply the track's gain and offset
            values = values * track.gain + track.offset
        begin = int(round((rec["dt"] - first) * track.srate))
        end = min(begin + values.size, n)
        out[begin:end] = values[: end - begin]
    return first - vf.dtstart, out


def write_vital(recording: Recording, path: str | Path, *, track_names: dict[str, str] | None = None
                ) -> Path:
    """Write ``recording`` as a ``.vital`` file (wave channels as float32 tracks, plus numerics).

    ``track_names`` maps canonical channel names to VitalDB track names; by default
    abp → SNUADC/ART, ppg → SNUADC/PLETH, ecg → SNUADC/ECG_II.
    """
    import vitaldb

    names = {"abp": "SNUADC/ART", "ppg": "SNUADC/PLETH", "ecg": "SNUADC/ECG_II",
             **(track_names or {})}
    t0 = (recording.start_time or _dt.datetime(2000, 1, 1, tzinfo=_dt.UTC)).timestamp()
    vf = vitaldb.VitalFile()
    for key, channel in recording.channels.items():
        recs = [{"dt": t0 + channel.start_s, "val": channel.signal.astype(np.float32)}]
        vf.add_track(names.get(key, f"CARDIOSBI/{key}"), recs, srate=channel.fs,
                     unit=channel.unit)
    for key, numeric in recording.numerics.items():
        recs = [{"dt": t0 + t, "val": float(v)} for t, v in zip(numeric.times_s, numeric.values,
                                                                strict=True)]
        vf.add_track(numeric.raw_name if "/" in numeric.raw_name else f"CARDIOSBI/{key}", recs,
                     unit=numeric.unit)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    vf.to_vital(str(path))
    return path


def fetch_vitaldb_case(caseid: int, cache_dir: str | Path, tracks=DEFAULT_TRACKS) -> Path:
    """Download open VitalDB case ``caseid`` to ``cache_dir/<caseid>.vital`` (once; needs internet).

    Never used by the tests. Raises NotAvailableError when the download fails (offline).
    """
    import vitaldb

    target = Path(cache_dir) / f"{int(caseid)}.vital"
    if target.exists():
        return target
    try:
        vf = vitaldb.VitalFile(int(caseid), list(tracks))
    except Exception as exc:  # network errors surface as many different types
        raise NotAvailableError(f"cannot download VitalDB case {caseid} (offline?): {exc}") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    vf.to_vital(str(target))
    return target
